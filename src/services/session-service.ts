// The `sessions` service: the check behind every route that acts for the holder of an access
// token (is the user still active, the session still alive?), and the caller's own sessions
// (one per login): list them, end one, end all. Only ever the caller's: another user's
// session id is answered exactly like an unknown one (404).
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { AppError } from '../errors.js'
import type { LiveSession } from '../repositories/sessions.js'
import type { UnitOfWork } from '../repositories/unit-of-work.js'
import type { User } from '../repositories/users.js'
import type { ClientMeta } from './client-meta.js'

/** The caller, as its access token names it: user id and session id. */
export interface Caller { sub: string, sid: string }

export interface SessionServiceOptions {
  db: UnitOfWork
  /** SESSION_MAX_LIFETIME: a session older than this is dead for the live check too. */
  maxLifetimeSeconds: number
  /** REAUTHENTICATION_WINDOW: how recent an authentication sensitive actions need. */
  reauthenticationWindowSeconds: number
}

export function createSessionService ({ db, maxLifetimeSeconds, reauthenticationWindowSeconds }: SessionServiceOptions) {
  return {
    /**
     * Step-up: 403 reauthentication_required unless the caller's session authenticated (login,
     * second factor, POST /users/me/reauthenticate) within REAUTHENTICATION_WINDOW. Read from
     * the session, not the token's auth_time, so a re-authentication counts at once.
     */
    async requireRecentAuthentication (caller: Caller): Promise<void> {
      if (!await db.repos.sessions.authenticatedWithin(caller.sid, reauthenticationWindowSeconds)) {
        throw new AppError('reauthentication_required', 'This needs a recent authentication: re-authenticate (POST /v1/users/me/reauthenticate) and try again')
      }
    },

    /**
     * The token's user, read once (one prepared statement): 401 token_invalid when the user is
     * inactive or gone or the session ended. The token proves who signed in and when, not that
     * the user is still active or the session still alive: a logout, a revocation or a
     * deactivation happens after the token was signed.
     */
    async liveUser (caller: Caller): Promise<User> {
      const user = await db.repos.users.findLive(caller.sub, caller.sid, maxLifetimeSeconds)
      if (user === null) throw new AppError('token_invalid', 'The session of this token has ended')
      return user
    },

    /** The caller's sessions that can still be refreshed, newest first. */
    async list (caller: Caller): Promise<LiveSession[]> {
      return await db.repos.sessions.listLive(caller.sub)
    },

    /**
     * Ends one of the caller's sessions (`id` a UUID, in either case). 404 when the caller has
     * no session with this id; ending an ended one is a no-op and records nothing.
     */
    async revoke (caller: Caller, rawId: string, meta: ClientMeta): Promise<void> {
      // Lower case, as stored, so that `current` and the audit event name the session's own id.
      const id = rawId.toLowerCase()
      // The revocation and its audit event land together.
      const { found } = await db.transaction(async (repos) => {
        const result = await repos.sessions.revokeOwned(id, caller.sub, 'revoked')
        if (result.revoked) {
          await repos.audit.record({ type: 'session_revoked', userId: caller.sub, ...meta, detail: { sessionId: id, current: id === caller.sid } })
        }
        return result
      })
      if (!found) throw new AppError('not_found', 'You have no session with this id')
    },

    /**
     * "Log out everywhere", this session included: its refresh token stops at once and its
     * access token gets 401 on authd's routes (services that verify locally accept it until it
     * expires, at most ACCESS_TOKEN_TTL). Returns how many sessions ended.
     */
    async revokeAll (caller: Caller, meta: ClientMeta): Promise<number> {
      return await db.transaction(async (repos) => {
        const revoked = await repos.sessions.revokeAllForUser(caller.sub, 'revoked')
        await repos.audit.record({ type: 'sessions_revoked_all', userId: caller.sub, ...meta, detail: { sessionsRevoked: revoked } })
        return revoked
      })
    }
  }
}

export type SessionService = ReturnType<typeof createSessionService>

declare module 'fastify' {
  interface FastifyInstance {
    /** The live-session check and the caller's own sessions. */
    sessions: SessionService
  }
}

async function sessionServicePlugin (app: FastifyInstance): Promise<void> {
  app.decorate('sessions', createSessionService({ db: app.db, maxLifetimeSeconds: app.config.SESSION_MAX_LIFETIME, reauthenticationWindowSeconds: app.config.REAUTHENTICATION_WINDOW }))
}

export default fp(sessionServicePlugin, { name: 'session-service', dependencies: ['config', 'database'] })
