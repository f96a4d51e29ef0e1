// Sessions and their refresh-token family: outstanding tokens (every refresh token issued)
// and blacklisted tokens (every one that may no longer be used), as simplejwt's
// token_blacklist app keeps them. The hot path (rotation) is a single SQL statement.
import { Prisma } from '../generated/prisma/client.js'
import type { Db } from './users.js'

export interface NewSession {
  id: string
  userId: string
  userAgent: string | null
  ip: string | null
  refresh: { jti: string, expiresAt: Date }
}

export type RevokeReason = 'logout' | 'reuse_detected' | 'revoked' | 'password_changed' | 'password_reset' | 'deactivated'

export type RotationResult =
  /** The presented token was live: it is now blacklisted and the child recorded. */
  | { outcome: 'rotated', userId: string, roles: string[] }
  /** No such token (never issued, or its user/session was deleted). */
  | { outcome: 'unknown' }
  /** The token's session is revoked or its user deactivated. */
  | { outcome: 'dead' }
  /** Already blacklisted; `rotatedSecondsAgo` is set when it was blacklisted by a rotation. */
  | { outcome: 'blacklisted', reason: string | null, rotatedSecondsAgo: number | null }

export interface LiveSession {
  id: string
  createdAt: Date
  lastUsedAt: Date
  userAgent: string | null
  ip: string | null
}

interface RotationRow {
  user_id: string
  roles: string[] | null
  alive: boolean
  rotated: boolean
  reason: string | null
  seconds_ago: number | null
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
    /** A new login: the session and its first outstanding refresh token, in one transaction. */
    async create (session: NewSession): Promise<void> {
      await db.session.create({
        data: {
          id: session.id,
          user: { connect: { id: session.userId } },
          userAgent: session.userAgent,
          ip: session.ip,
          expiresAt: session.refresh.expiresAt,
          outstandingTokens: {
            create: {
              jti: session.refresh.jti,
              user: { connect: { id: session.userId } },
              issuedAt: new Date(),
              expiresAt: session.refresh.expiresAt
            }
          }
        }
      })
    },

    /**
     * Rotation in one statement (one round trip, atomic): blacklist the presented token
     * unless it already is, record the child, and touch the session. Concurrent rotations of
     * one token serialise on the blacklist primary key: exactly one inserts, the others see
     * the conflict and report `blacklisted` (or, if the winner committed after their
     * snapshot, `blacklisted` with no reason yet, which the caller treats as just rotated).
     */
    async rotate (args: { jti: string, sessionId: string, child: { jti: string, expiresAt: Date } }): Promise<RotationResult> {
      const rows = await db.$queryRaw<RotationRow[]>(Prisma.sql`
        WITH presented AS (
          SELECT o.jti, o.user_id, o.session_id, u.roles,
                 (u.is_active AND s.revoked_at IS NULL) AS alive
          FROM outstanding_tokens o
          JOIN sessions s ON s.id = o.session_id
          JOIN users u ON u.id = o.user_id
          WHERE o.jti = ${args.jti}::uuid AND o.session_id = ${args.sessionId}::uuid
        ), claimed AS (
          INSERT INTO blacklisted_tokens (jti, reason)
          SELECT jti, 'rotated' FROM presented WHERE alive
          ON CONFLICT (jti) DO NOTHING
          RETURNING jti
        ), child AS (
          INSERT INTO outstanding_tokens (jti, user_id, session_id, parent_jti, issued_at, expires_at)
          SELECT ${args.child.jti}::uuid, p.user_id, p.session_id, p.jti, now(), ${args.child.expiresAt}::timestamptz
          FROM presented p JOIN claimed c ON c.jti = p.jti
          RETURNING session_id
        ), touched AS (
          UPDATE sessions SET last_used_at = now(), expires_at = ${args.child.expiresAt}::timestamptz
          WHERE id IN (SELECT session_id FROM child)
          RETURNING id
        )
        SELECT p.user_id::text AS user_id, p.roles, p.alive,
               EXISTS (SELECT 1 FROM touched) AS rotated,
               b.reason,
               CASE WHEN b.reason = 'rotated' THEN EXTRACT(EPOCH FROM (now() - b.blacklisted_at))::float8 END AS seconds_ago
        FROM presented p
        LEFT JOIN blacklisted_tokens b ON b.jti = p.jti`)
      const row = rows[0]
      if (row === undefined) return { outcome: 'unknown' }
      if (row.rotated) return { outcome: 'rotated', userId: row.user_id, roles: row.roles ?? [] }
      if (!row.alive) return { outcome: 'dead' }
      return { outcome: 'blacklisted', reason: row.reason, rotatedSecondsAgo: row.seconds_ago }
    },

    /**
     * Within the grace window a rotated token may be presented again (two tabs refreshing at
     * once): issue a sibling in the same session, if the token was rotated no longer than
     * `graceSeconds` ago and the session is still alive. Returns the user, or null.
     */
    async issueSibling (args: { jti: string, sessionId: string, graceSeconds: number, child: { jti: string, expiresAt: Date } }): Promise<{ userId: string, roles: string[] } | null> {
      const rows = await db.$queryRaw<Array<{ user_id: string, roles: string[] | null }>>(Prisma.sql`
        WITH presented AS (
          SELECT o.jti, o.user_id, o.session_id, u.roles
          FROM outstanding_tokens o
          JOIN blacklisted_tokens b ON b.jti = o.jti
          JOIN sessions s ON s.id = o.session_id
          JOIN users u ON u.id = o.user_id
          WHERE o.jti = ${args.jti}::uuid AND o.session_id = ${args.sessionId}::uuid
            AND b.reason = 'rotated'
            AND b.blacklisted_at > now() - make_interval(secs => ${args.graceSeconds})
            AND s.revoked_at IS NULL AND u.is_active
        ), child AS (
          INSERT INTO outstanding_tokens (jti, user_id, session_id, parent_jti, issued_at, expires_at)
          SELECT ${args.child.jti}::uuid, user_id, session_id, jti, now(), ${args.child.expiresAt}::timestamptz
          FROM presented
          RETURNING jti
        )
        SELECT p.user_id::text AS user_id, p.roles FROM presented p WHERE EXISTS (SELECT 1 FROM child)`)
      const row = rows[0]
      return row === undefined ? null : { userId: row.user_id, roles: row.roles ?? [] }
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

    /** The session a refresh token belongs to, when that token was issued by authd. */
    async findTokenSession (jti: string, sessionId: string): Promise<{ userId: string, revoked: boolean } | null> {
      const token = await db.outstandingToken.findFirst({
        where: { jti, sessionId },
        select: { userId: true, session: { select: { revokedAt: true } } }
      })
      return token === null ? null : { userId: token.userId, revoked: token.session.revokedAt !== null }
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
    async revokeAllForUser (userId: string, reason: RevokeReason, exceptSessionId?: string): Promise<number> {
      const except = exceptSessionId ?? null
      const { revoked } = await revokeSessions(Prisma.sql`
        SELECT id FROM sessions WHERE user_id = ${userId}::uuid AND revoked_at IS NULL
          AND (${except}::uuid IS NULL OR id <> ${except}::uuid)`, reason)
      return revoked
    }
  }
}

export type SessionRepository = ReturnType<typeof createSessionRepository>
