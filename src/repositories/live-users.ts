// The read behind every request that acts for the holder of an access token (/users/me, the
// session and account routes, admin routes, POST /v1/auth/verify): the token's user, only
// while active and while the token's session has not been revoked. It runs on every such
// request, so it is plain SQL through the driver (src/db/sql.ts says why), one round trip.
import type { SqlClient, Statement } from '../db/sql.js'
import type { User } from './users.js'
import { withinLifetime } from './session-lifetime.js'

/**
 * Every column of the users table under its Prisma field name, so a row is exactly the `User`
 * Prisma returns. test/repositories/live-users.test.ts compares the two for a user with every
 * field set, and fails when a column is added to the schema and not here.
 * `birth_date` is a SQL date: returned as midnight UTC, as Prisma returns a @db.Date.
 */
const USER_COLUMNS = [
  'u.id::text AS "id"',
  'u.email AS "email"',
  'u.username AS "username"',
  'u.username_normalized AS "usernameNormalized"',
  'u.full_name AS "fullName"',
  'u.bio AS "bio"',
  '(u.birth_date::timestamp AT TIME ZONE \'UTC\') AS "birthDate"',
  'u.password_hash AS "passwordHash"',
  'u.roles AS "roles"',
  'u.email_verified AS "emailVerified"',
  'u.is_active AS "isActive"',
  'u.created_at AS "createdAt"',
  'u.updated_at AS "updatedAt"',
  'u.last_login_at AS "lastLoginAt"'
].join(', ')

/** A live session: not revoked, and younger than SESSION_MAX_LIFETIME ($3 seconds). */
const FIND_LIVE: Statement = {
  name: 'authd_find_live_user',
  text: `SELECT ${USER_COLUMNS} FROM users u
    WHERE u.id = $1::uuid AND u.is_active
      AND EXISTS (SELECT 1 FROM sessions s WHERE s.id = $2::uuid AND s.user_id = u.id AND s.revoked_at IS NULL
        AND ${withinLifetime('s', '$3')})`
}

export function createLiveUserRepository (sql: SqlClient, options: { maxLifetimeSeconds: number }) {
  return {
    /**
     * The user, while active and while session `sessionId` (of that user) is alive: not
     * revoked and within SESSION_MAX_LIFETIME; else null. Both ids must be UUIDs.
     */
    async findLive (userId: string, sessionId: string): Promise<User | null> {
      const rows = await sql.query<User>(FIND_LIVE, [userId, sessionId, options.maxLifetimeSeconds])
      return rows[0] ?? null
    }
  }
}

export type LiveUserRepository = ReturnType<typeof createLiveUserRepository>
