// Refresh-token rotation: the statements behind POST …/auth/refresh, the hottest write path.
// Each is one SQL statement (one round trip, atomic on its own), run as plain SQL through the
// driver (src/db/sql.ts says why). The tables are the ones sessions.ts describes: outstanding
// tokens (every refresh token issued) and blacklisted tokens (every one no longer usable).
import type { SqlClient, Statement } from '../db/sql.js'

export type RotationResult =
  /** The presented token was live: it is now blacklisted and the child recorded. */
  | { outcome: 'rotated', userId: string, roles: string[] }
  /** No such token (never issued, or its user/session was deleted). */
  | { outcome: 'unknown' }
  /** The token's session is revoked or its user deactivated. */
  | { outcome: 'dead' }
  /** Already blacklisted; `rotatedSecondsAgo` is set when it was blacklisted by a rotation. */
  | { outcome: 'blacklisted', reason: string | null, rotatedSecondsAgo: number | null }

export interface ChildToken { jti: string, expiresAt: Date }

interface RotationRow {
  user_id: string
  roles: string[] | null
  alive: boolean
  rotated: boolean
  reason: string | null
  seconds_ago: number | null
}

/**
 * Blacklist the presented token ($1, of session $2) unless it already is, record the child
 * ($3, expiring at $4) and touch the session. Concurrent rotations of one token serialise on
 * the blacklist primary key: exactly one inserts, the others see the conflict and report
 * `blacklisted` (or, if the winner committed after their snapshot, `blacklisted` with no
 * reason yet, which the caller treats as just rotated).
 */
const ROTATE: Statement = {
  name: 'authd_rotate_refresh',
  text: `
    WITH presented AS (
      SELECT o.jti, o.user_id, o.session_id, u.roles,
             (u.is_active AND s.revoked_at IS NULL) AS alive
      FROM outstanding_tokens o
      JOIN sessions s ON s.id = o.session_id
      JOIN users u ON u.id = o.user_id
      WHERE o.jti = $1::uuid AND o.session_id = $2::uuid
    ), claimed AS (
      INSERT INTO blacklisted_tokens (jti, reason)
      SELECT jti, 'rotated' FROM presented WHERE alive
      ON CONFLICT (jti) DO NOTHING
      RETURNING jti
    ), child AS (
      INSERT INTO outstanding_tokens (jti, user_id, session_id, parent_jti, issued_at, expires_at)
      SELECT $3::uuid, p.user_id, p.session_id, p.jti, now(), $4::timestamptz
      FROM presented p JOIN claimed c ON c.jti = p.jti
      RETURNING session_id
    ), touched AS (
      UPDATE sessions SET last_used_at = now(), expires_at = $4::timestamptz
      WHERE id IN (SELECT session_id FROM child)
      RETURNING id
    )
    SELECT p.user_id::text AS user_id, p.roles, p.alive,
           EXISTS (SELECT 1 FROM touched) AS rotated,
           b.reason,
           CASE WHEN b.reason = 'rotated' THEN EXTRACT(EPOCH FROM (now() - b.blacklisted_at))::float8 END AS seconds_ago
    FROM presented p
    LEFT JOIN blacklisted_tokens b ON b.jti = p.jti`
}

/**
 * A sibling of token $1 (session $2) when it was rotated no more than $3 seconds ago and the
 * session and user are still alive: child $4, expiring at $5, in the same session.
 */
const ISSUE_SIBLING: Statement = {
  name: 'authd_issue_refresh_sibling',
  text: `
    WITH presented AS (
      SELECT o.jti, o.user_id, o.session_id, u.roles
      FROM outstanding_tokens o
      JOIN blacklisted_tokens b ON b.jti = o.jti
      JOIN sessions s ON s.id = o.session_id
      JOIN users u ON u.id = o.user_id
      WHERE o.jti = $1::uuid AND o.session_id = $2::uuid
        AND b.reason = 'rotated'
        AND b.blacklisted_at > now() - make_interval(secs => $3::float8)
        AND s.revoked_at IS NULL AND u.is_active
    ), child AS (
      INSERT INTO outstanding_tokens (jti, user_id, session_id, parent_jti, issued_at, expires_at)
      SELECT $4::uuid, user_id, session_id, jti, now(), $5::timestamptz
      FROM presented
      RETURNING jti
    )
    SELECT p.user_id::text AS user_id, p.roles FROM presented p WHERE EXISTS (SELECT 1 FROM child)`
}

export function createTokenRotationRepository (sql: SqlClient) {
  return {
    /** Rotation in one statement (one round trip, atomic); see ROTATE. Ids must be UUIDs. */
    async rotate (args: { jti: string, sessionId: string, child: ChildToken }): Promise<RotationResult> {
      const rows = await sql.query<RotationRow>(ROTATE, [args.jti, args.sessionId, args.child.jti, args.child.expiresAt.toISOString()])
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
    async issueSibling (args: { jti: string, sessionId: string, graceSeconds: number, child: ChildToken }): Promise<{ userId: string, roles: string[] } | null> {
      const rows = await sql.query<{ user_id: string, roles: string[] | null }>(ISSUE_SIBLING,
        [args.jti, args.sessionId, args.graceSeconds, args.child.jti, args.child.expiresAt.toISOString()])
      const row = rows[0]
      return row === undefined ? null : { userId: row.user_id, roles: row.roles ?? [] }
    }
  }
}

export type TokenRotationRepository = ReturnType<typeof createTokenRotationRepository>
