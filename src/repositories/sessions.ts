// Sessions and their refresh-token family: outstanding tokens (every refresh token issued)
// and blacklisted tokens (every one that may no longer be used), as simplejwt's
// token_blacklist app keeps them. Rotation, the hot path, is in token-rotation.ts.
import { Prisma } from '../generated/prisma/client.js'
import type { Db } from './users.js'

/**
 * How the session's user last proved who they are (RFC 8176 `amr` values) and when: what its
 * access tokens say (`amr`, `auth_time`) and what step-up checks.
 */
export interface SessionAuth {
  amr: string[]
  authTime: Date
}

export interface NewSession {
  id: string
  userId: string
  userAgent: string | null
  ip: string | null
  refresh: { jti: string, issuedAt: Date, expiresAt: Date }
  /** SESSION_MAX_LIFETIME: the session's expiry never passes its login plus this. */
  maxLifetimeSeconds: number
  /** How the user authenticated for this login; auth_time is the database's now(). */
  amr: string[]
}

/**
 * Why a session ended. `expired`: past SESSION_MAX_LIFETIME; `password_check_failed`: too many
 * wrong passwords given to a route that re-checks it (a stolen access token guessing).
 */
export type RevokeReason = 'logout' | 'reuse_detected' | 'revoked' | 'password_changed' | 'password_reset' | 'deactivated' | 'expired' | 'password_check_failed' | 'email_changed'

export interface LiveSession {
  id: string
  createdAt: Date
  lastUsedAt: Date
  userAgent: string | null
  ip: string | null
}

export function createSessionRepository (db: Db) {
  /**
   * The one way sessions end: marks the sessions `targets` selects (a SELECT of ids) revoked
   * and blacklists every outstanding token of their families (tokens already blacklisted keep
   * their first reason). One statement, so no token can slip between the two.
   */
  async function revokeSessions (targets: Prisma.Sql, reason: RevokeReason): Promise<{ matched: number, revoked: number }> {
    const rows = await db.$queryRaw<Array<{ matched: number, revoked: number }>>(Prisma.sql`
      WITH target AS (${targets}),
      revoked AS (
        UPDATE sessions SET revoked_at = now(), revoke_reason = ${reason}
        WHERE id IN (SELECT id FROM target) AND revoked_at IS NULL
        RETURNING id
      ), blacklisted AS (
        INSERT INTO blacklisted_tokens (jti, reason)
        SELECT o.jti, ${reason} FROM outstanding_tokens o
        WHERE o.session_id IN (SELECT id FROM target)
        ON CONFLICT (jti) DO NOTHING
        RETURNING jti
      )
      SELECT (SELECT count(*) FROM target)::int AS matched, (SELECT count(*) FROM revoked)::int AS revoked`)
    return rows[0] ?? { matched: 0, revoked: 0 }
  }

  return {
    /** A new login: the session and its first outstanding refresh token, in one statement. */
    async create (session: NewSession): Promise<void> {
      // One statement for both rows. Prisma's nested create took three round trips (two
      // INSERTs and a read-back of the session nobody uses); a login makes it in a transaction
      // that holds a connection, so each round trip counts.
      await db.$executeRaw`
        WITH created AS (
          INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, user_agent, ip, auth_time, amr)
          VALUES (${session.id}::uuid, ${session.userId}::uuid, now(), now(),
            LEAST(${session.refresh.expiresAt}::timestamptz, now() + make_interval(secs => ${session.maxLifetimeSeconds}::float8)),
            ${session.userAgent}, ${session.ip}, now(), ${session.amr}::text[])
          RETURNING id, user_id
        )
        INSERT INTO outstanding_tokens (jti, user_id, session_id, issued_at, expires_at)
        SELECT ${session.refresh.jti}::uuid, user_id, id, ${session.refresh.issuedAt}::timestamptz, ${session.refresh.expiresAt}::timestamptz FROM created`
    },

    /**
     * Ends a session: marks it revoked and blacklists every outstanding token of its family
     * (tokens already blacklisted keep their first reason). One statement. True when this
     * call ended it (false: it had already ended, or does not exist).
     */
    async revoke (sessionId: string, reason: RevokeReason): Promise<boolean> {
      const { revoked } = await revokeSessions(Prisma.sql`SELECT id FROM sessions WHERE id = ${sessionId}::uuid`, reason)
      return revoked > 0
    },

    /**
     * The session a refresh token belongs to, when that token was issued by authd, with why
     * the token was blacklisted (null: it was not).
     */
    async findTokenSession (jti: string, sessionId: string): Promise<{ userId: string, revoked: boolean, blacklistReason: string | null } | null> {
      // One statement: Prisma's findFirst with both relations took two round trips (logout's path).
      const rows = await db.$queryRaw<Array<{ user_id: string, revoked: boolean, reason: string | null }>>`
        SELECT o.user_id::text AS user_id, s.revoked_at IS NOT NULL AS revoked, b.reason
        FROM outstanding_tokens o
        JOIN sessions s ON s.id = o.session_id
        LEFT JOIN blacklisted_tokens b ON b.jti = o.jti
        WHERE o.jti = ${jti}::uuid AND o.session_id = ${sessionId}::uuid`
      const row = rows[0]
      return row === undefined ? null : { userId: row.user_id, revoked: row.revoked, blacklistReason: row.reason }
    },

    /** How and when the session's user last authenticated (null: no such session). */
    async authOf (sessionId: string): Promise<SessionAuth | null> {
      const row = await db.session.findUnique({ where: { id: sessionId }, select: { authTime: true, amr: true } })
      return row === null ? null : { authTime: row.authTime, amr: row.amr }
    },

    /**
     * Whether the session's user authenticated within the last `windowSeconds` (the step-up
     * rule), by the database's clock, which also stamped auth_time.
     */
    async authenticatedWithin (sessionId: string, windowSeconds: number): Promise<boolean> {
      const rows = await db.$queryRaw<Array<{ recent: boolean }>>(Prisma.sql`
        SELECT auth_time > now() - make_interval(secs => ${windowSeconds}::float8) AS recent
        FROM sessions WHERE id = ${sessionId}::uuid AND revoked_at IS NULL`)
      return rows[0]?.recent ?? false
    },

    /** A re-authentication: auth_time is now, amr the given methods. False: the session is gone or ended. */
    async reauthenticated (sessionId: string, amr: string[]): Promise<boolean> {
      const count = await db.$executeRaw(Prisma.sql`
        UPDATE sessions SET auth_time = now(), amr = ${amr}::text[] WHERE id = ${sessionId}::uuid AND revoked_at IS NULL`)
      return count === 1
    },

    /** A user's sessions that can still be refreshed (not revoked, not expired), newest first. */
    async listLive (userId: string): Promise<LiveSession[]> {
      return await db.session.findMany({
        where: { userId, revokedAt: null, expiresAt: { gt: new Date() } },
        select: { id: true, createdAt: true, lastUsedAt: true, userAgent: true, ip: true },
        // id breaks ties between logins in the same millisecond, so the order is stable.
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }]
      })
    },

    /**
     * `revoke`, but only when the session belongs to `userId`; one statement, so ownership
     * is checked where the write happens. `found` is false when the user has no such session
     * (the caller answers 404 either way: other users' session ids are not revealed).
     * A session of the user that already ended counts as found (`revoked` false): revoking it
     * again is a no-op.
     */
    async revokeOwned (sessionId: string, userId: string, reason: RevokeReason): Promise<{ found: boolean, revoked: boolean }> {
      const { matched, revoked } = await revokeSessions(Prisma.sql`SELECT id FROM sessions WHERE id = ${sessionId}::uuid AND user_id = ${userId}::uuid`, reason)
      return { found: matched > 0, revoked: revoked > 0 }
    },

    /**
     * Ends every session of a user that is not yet revoked, except `exceptSessionId` (the
     * caller's own, after a password change), and blacklists every outstanding token of
     * those sessions. One statement, so no session can slip between the update and the
     * blacklist. Returns how many sessions were revoked.
     */
    async revokeAllForUser (userId: string, reason: RevokeReason, exceptSessionId?: string | null): Promise<number> {
      const except = exceptSessionId ?? null
      const { revoked } = await revokeSessions(Prisma.sql`
        SELECT id FROM sessions WHERE user_id = ${userId}::uuid AND revoked_at IS NULL
          AND (${except}::uuid IS NULL OR id <> ${except}::uuid)`, reason)
      return revoked
    }
  }
}

export type SessionRepository = ReturnType<typeof createSessionRepository>
