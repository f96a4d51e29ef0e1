// `app.requireLiveSession` and `app.requireRole(role)`: onRequest hooks that follow
// app.authenticate on routes that act for the caller. app.authenticate checks the token
// without the database, so until it expires a token outlives a logout, a revoked session or a
// deactivated or deleted user; requireLiveSession reads the user once (the sessions service's
// live check: one query) and keeps it as `request.currentUser`, so handlers and services use
// that row instead of querying again. A dead session gets 401 before anything else happens
// (body or params validation included).
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { AppError } from '../errors.js'
import type { User } from '../repositories/users.js'

type RequestHook = (request: FastifyRequest) => Promise<void>

declare module 'fastify' {
  interface FastifyInstance {
    /** After app.authenticate: loads the caller into request.currentUser, or 401. */
    requireLiveSession: RequestHook
    /** After requireLiveSession: 403 forbidden unless the caller's current roles include `role`. */
    requireRole: (role: string) => RequestHook
  }
  interface FastifyRequest {
    /** The caller's user row as requireLiveSession read it; only set on routes that use it. */
    currentUser: User
  }
}

async function currentUserPlugin (app: FastifyInstance): Promise<void> {
  app.decorateRequest('currentUser', null as unknown as User)
  app.decorate('requireLiveSession', async (request: FastifyRequest) => {
    request.currentUser = await app.sessions.liveUser(request.auth)
  })
  app.decorate('requireRole', (role: string): RequestHook => async (request) => {
    // The roles of the row just read, not the token's `roles` claim: a role taken away
    // applies at once, not when the access token expires (up to ACCESS_TOKEN_TTL later).
    const user = request.currentUser as User | null
    if (user === null) throw new Error('requireRole runs after requireLiveSession')
    if (!user.roles.includes(role)) throw new AppError('forbidden', `This needs the ${role} role`)
  })
}

export default fp(currentUserPlugin, { name: 'current-user', dependencies: ['authenticate', 'session-service'] })
