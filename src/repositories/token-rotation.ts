// Refresh-token rotation: the statements behind POST …/auth/refresh, the hottest write path.
// Each is one SQL statement (one round trip, atomic on its own), run as plain SQL through the
// driver (src/db/sql.ts says why). The tables are the ones sessions.ts describes: outstanding
// tokens (every refresh token issued) and blacklisted tokens (every one no longer usable).
//
// The rule both statements keep: a session has exactly one live refresh token at any moment.
// Rotation blacklists the presented token and records its only child; the grace window never
// records another child, it hands back the one the rotation recorded (ROTATED_CHILD).
import type { SqlClient, Statement } from '../db/sql.js'
import { lifetimeEnd, withinLifetime } from './session-lifetime.js'
import type { SessionAuth } from './sessions.js'

/** The recorded child of a rotation: what token-service.signRefresh needs to sign it again. */
export interface RecordedChild {
  jti: string
  /** Seconds since the epoch (the JWT's iat and exp). */
  iat: number
  exp: number
}

/** The user and session a rotation (or its grace-window replay) acted for. */
export interface Rotated {
  userId: string
  roles: string[]
  /** When the session's absolute lifetime ends (SESSION_MAX_LIFETIME after its login). */
  sessionEndsAt: Date
  /** How and when the session's user last authenticated: the new access token's amr and auth_time. */
  auth: SessionAuth
}

export type RotationResult =
  /** The presented token was live: it is now blacklisted and the child recorded. */
  | ({ outcome: 'rotated' } & Rotated)
  /** No such token (never issued, or its user/session was deleted). */
  | { outcome: 'unknown' }
  /** The token's session is revoked or its user deactivated. */
  | { outcome: 'dead' }
  /** The session is older than SESSION_MAX_LIFETIME: nothing was rotated. */
  | { outcome: 'session_expired' }
  /** Already blacklisted (by a rotation, a logout, a revocation…). */
  | { outcome: 'blacklisted' }

interface RotationRow {
  user_id: string
  roles: string[] | null
  amr: string[] | null
  auth_time: Date
  alive: boolean
  within_lifetime: boolean
  ends_at: Date
  rotated: boolean
}

/**
 * Blacklist the presented token ($1, of session $2) unless it already is, record the child
 * ($3, issued at $4, expiring at $5) and touch the session — only while the session is alive
 * and younger than $6 seconds (SESSION_MAX_LIFETIME). The session's own expiry never passes
 * that limit. Concurrent rotations of one token serialise on the blacklist primary key:
 * exactly one inserts, the others see the conflict and report `blacklisted`.
 */
const ROTATE: Statement = {
  name: 'authd_rotate_refresh',
  text: `
    WITH presented AS (
      SELECT o.jti, o.user_id, o.session_id, u.roles, s.amr, s.auth_time,
             (u.is_active AND s.revoked_at IS NULL) AS alive,
             ${withinLifetime('s', '$6')} AS within_lifetime,
             ${lifetimeEnd('s', '$6')} AS ends_at
      FROM outstanding_tokens o
      JOIN sessions s ON s.id = o.session_id
      JOIN users u ON u.id = o.user_id
      WHERE o.jti = $1::uuid AND o.session_id = $2::uuid
    ), claimed AS (
      INSERT INTO blacklisted_tokens (jti, reason)
      SELECT jti, 'rotated' FROM presented WHERE alive AND within_lifetime
      ON CONFLICT (jti) DO NOTHING
      RETURNING jti
    ), child AS (
      INSERT INTO outstanding_tokens (jti, user_id, session_id, parent_jti, issued_at, expires_at)
      SELECT $3::uuid, p.user_id, p.session_id, p.jti, $4::timestamptz, $5::timestamptz
      FROM presented p JOIN claimed c ON c.jti = p.jti
      RETURNING session_id
    ), touched AS (
      UPDATE sessions SET last_used_at = now(), expires_at = LEAST($5::timestamptz, (SELECT ends_at FROM presented))
      WHERE id IN (SELECT session_id FROM child)
      RETURNING id
    )
    SELECT p.user_id::text AS user_id, p.roles, p.amr, p.auth_time, p.alive, p.within_lifetime, p.ends_at,
           EXISTS (SELECT 1 FROM touched) AS rotated
    FROM presented p`
}

interface ChildRow {
  jti: string
  iat: string | number
  exp: string | number
  user_id: string
  roles: string[] | null
  amr: string[] | null
  auth_time: Date
  ends_at: Date
}

/**
 * The child that rotating token $1 (session $2) recorded, when that rotation happened no more
 * than $3 seconds ago and the session is alive and younger than $4 seconds. Reads only: the
 * grace window answers with this very token again (an idempotent reply, as Supabase Auth and
 * Keycloak give), so a thief who refreshed first gets no branch of their own.
 */
const ROTATED_CHILD: Statement = {
  name: 'authd_rotated_refresh_child',
  text: `
    SELECT c.jti::text AS jti,
           EXTRACT(EPOCH FROM c.issued_at)::bigint AS iat,
           EXTRACT(EPOCH FROM c.expires_at)::bigint AS exp,
           o.user_id::text AS user_id, u.roles, s.amr, s.auth_time,
           ${lifetimeEnd('s', '$4')} AS ends_at
    FROM outstanding_tokens o
    JOIN blacklisted_tokens b ON b.jti = o.jti
    JOIN sessions s ON s.id = o.session_id
    JOIN users u ON u.id = o.user_id
    JOIN outstanding_tokens c ON c.parent_jti = o.jti
    WHERE o.jti = $1::uuid AND o.session_id = $2::uuid
      AND b.reason = 'rotated'
      AND b.blacklisted_at > now() - make_interval(secs => $3::float8)
      AND s.revoked_at IS NULL AND u.is_active
      AND ${withinLifetime('s', '$4')}
    -- Tokens rotated before this rule may have several children: the first is the rotation's.
    ORDER BY c.issued_at, c.jti
    LIMIT 1`
}

const sessionAuth = (row: { amr: string[] | null, auth_time: Date }): SessionAuth => ({ amr: row.amr ?? ['pwd'], authTime: new Date(row.auth_time) })

export function createTokenRotationRepository (sql: SqlClient) {
  return {
    /** Rotation in one statement (one round trip, atomic); see ROTATE. Ids must be UUIDs. */
    async rotate (args: { jti: string, sessionId: string, child: { jti: string, issuedAt: Date, expiresAt: Date }, maxLifetimeSeconds: number }): Promise<RotationResult> {
      const rows = await sql.query<RotationRow>(ROTATE, [
        args.jti, args.sessionId, args.child.jti, args.child.issuedAt.toISOString(), args.child.expiresAt.toISOString(), args.maxLifetimeSeconds
      ])
      const row = rows[0]
      if (row === undefined) return { outcome: 'unknown' }
      if (row.rotated) return { outcome: 'rotated', userId: row.user_id, roles: row.roles ?? [], sessionEndsAt: new Date(row.ends_at), auth: sessionAuth(row) }
      if (!row.alive) return { outcome: 'dead' }
      if (!row.within_lifetime) return { outcome: 'session_expired' }
      return { outcome: 'blacklisted' }
    },

    /**
     * Within the grace window a rotated token may be presented again (two tabs refreshing at
     * once): the child its rotation recorded, if that was no longer than `graceSeconds` ago
     * and the session is alive and within its lifetime; else null.
     */
    async rotatedChild (args: { jti: string, sessionId: string, graceSeconds: number, maxLifetimeSeconds: number }): Promise<({ child: RecordedChild } & Rotated) | null> {
      const rows = await sql.query<ChildRow>(ROTATED_CHILD, [args.jti, args.sessionId, args.graceSeconds, args.maxLifetimeSeconds])
      const row = rows[0]
      if (row === undefined) return null
      return {
        child: { jti: row.jti, iat: Number(row.iat), exp: Number(row.exp) },
        userId: row.user_id,
        roles: row.roles ?? [],
        sessionEndsAt: new Date(row.ends_at),
        auth: sessionAuth(row)
      }
    }
  }
}

export type TokenRotationRepository = ReturnType<typeof createTokenRotationRepository>
