// `app.authenticate`: the onRequest hook of every route that needs a bearer access token.
// It checks the token only (no database); routes that need the user load it themselves,
// which also confirms the session is still alive.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { AppError } from '../errors.js'
import type { AccessClaims } from '../services/token-service.js'

declare module 'fastify' {
  interface FastifyInstance {
    authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
  }
  interface FastifyRequest {
    /** Claims of the verified access token; set by app.authenticate. */
    auth: AccessClaims
  }
}

const BEARER = /^Bearer +([A-Za-z0-9\-_.]+=*) *$/i

async function authenticatePlugin (app: FastifyInstance): Promise<void> {
  app.decorateRequest('auth', null as unknown as AccessClaims)
  app.decorate('authenticate', async (request: FastifyRequest) => {
    const header = request.headers.authorization
    if (header === undefined || header === '') throw new AppError('authentication_required', 'Send an access token as "Authorization: Bearer <token>"')
    const match = BEARER.exec(header)
    if (match === null) throw new AppError('token_invalid', 'The Authorization header must be "Bearer <token>"')
    request.auth = app.tokens.verifyAccess(match[1] as string)
  })
}

export default fp(authenticatePlugin, { name: 'authenticate', dependencies: ['tokens'] })
