// Users table access. Routes and services never touch Prisma directly; they get these
// functions, bound either to the client or to a transaction (src/repositories/unit-of-work.ts).
// Besides Prisma's model calls, the live-session read behind every authenticated request is
// here as a prepared statement (FIND_LIVE; src/db/sql.ts says why).
import { Prisma, type PrismaClient, type User } from '../generated/prisma/client.js'
import { uniqueViolationDetail } from '../db/database.js'
import { sqlOverPrisma, type SqlClient, type Statement } from '../db/sql.js'
import { AppError } from '../errors.js'
import { withinLifetime } from './session-lifetime.js'

export type { User }
export type Db = PrismaClient | Prisma.TransactionClient

/**
 * Every column of the users table under its Prisma field name, so a row FIND_LIVE returns is
 * exactly the `User` Prisma returns. test/repositories/users.test.ts compares the two for a
 * user with every field set, and fails when a column is added to the schema and not here.
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
  'u.last_login_at AS "lastLoginAt"',
  'u.external_id AS "externalId"'
].join(', ')

/**
 * The user $1 while active and while their session $2 is alive: not revoked, and younger than
 * $3 seconds (SESSION_MAX_LIFETIME). The read behind every request that acts for the holder
 * of an access token, so a prepared statement, one round trip.
 */
const FIND_LIVE: Statement = {
  name: 'authd_find_live_user',
  text: `SELECT ${USER_COLUMNS} FROM users u
    WHERE u.id = $1::uuid AND u.is_active
      AND EXISTS (SELECT 1 FROM sessions s WHERE s.id = $2::uuid AND s.user_id = u.id AND s.revoked_at IS NULL
        AND ${withinLifetime('s', '$3')})`
}

/**
 * The one place a unique-constraint violation on users becomes the client's error: 409
 * `email_taken` or `username_taken` with its field error (registration, profile updates,
 * createsuperuser all write through here). Other errors pass through unchanged.
 */
export function takenError (error: unknown): unknown {
  const detail = uniqueViolationDetail(error)
  if (detail === null) return error
  if (detail.includes('email')) return emailTaken()
  if (detail.includes('username')) return new AppError('username_taken', 'This username is taken', { errors: [{ field: 'username', code: 'username_taken', message: 'is already taken' }] })
  return error
}

/** 409 email_taken, the field named `field` (`newEmail` for an email change). */
export function emailTaken (field = 'email'): AppError {
  return new AppError('email_taken', 'An account with this email address already exists', { errors: [{ field, code: 'email_taken', message: 'is already registered' }] })
}

async function unlessTaken<T> (write: Promise<T>): Promise<T> {
  try {
    return await write
  } catch (error) {
    throw takenError(error)
  }
}

export interface NewUser {
  id: string
  email: string
  username?: string | null
  fullName?: string
  bio?: string
  passwordHash: string
  /** Only `authd createsuperuser` sets roles; registration never does. */
  roles?: string[]
  /** createsuperuser, and a provider sign-in whose provider says the address is verified. */
  emailVerified?: boolean
}

export interface UserPatch {
  username?: string | null
  fullName?: string
  bio?: string
  birthDate?: Date | null
}

/** Emails are compared case-insensitively: the whole address is stored lower-cased. */
export const normalizeEmail = (email: string): string => email.trim().toLowerCase()
export const normalizeUsername = (username: string): string => username.toLowerCase()

/** The user as the caller just checked them: same password hash, active, session alive. */
const unchangedSince = (args: { userId: string, sessionId: string, expectedHash: string }): Prisma.UserWhereInput => ({
  id: args.userId,
  isActive: true,
  passwordHash: args.expectedHash,
  sessions: { some: { id: args.sessionId, revokedAt: null } }
})

/** `sql`: the hot-path statements' client (the pool's, or the transaction's); by default through `db`. */
export function createUserRepository (db: Db, sql: SqlClient = sqlOverPrisma(db)) {
  return {
    /** 409 email_taken / username_taken when either is registered already. */
    async create (user: NewUser): Promise<User> {
      return await unlessTaken(db.user.create({
        data: {
          id: user.id,
          email: normalizeEmail(user.email),
          username: user.username ?? null,
          usernameNormalized: user.username == null ? null : normalizeUsername(user.username),
          fullName: user.fullName ?? '',
          bio: user.bio ?? '',
          passwordHash: user.passwordHash,
          roles: user.roles ?? [],
          emailVerified: user.emailVerified ?? false
        }
      }))
    },

    /**
     * The user, while active and while session `sessionId` (of that user) is alive: not
     * revoked and within `maxLifetimeSeconds` of its login; else null. Both ids must be UUIDs.
     */
    async findLive (userId: string, sessionId: string, maxLifetimeSeconds: number): Promise<User | null> {
      const rows = await sql.query<User>(FIND_LIVE, [userId, sessionId, maxLifetimeSeconds])
      return rows[0] ?? null
    },

    async findById (id: string): Promise<User | null> {
      return await db.user.findUnique({ where: { id } })
    },

    /** `login` is an email address when it holds '@' (usernames cannot), else a username. */
    async findByLogin (login: string): Promise<User | null> {
      return login.includes('@')
        ? await db.user.findUnique({ where: { email: normalizeEmail(login) } })
        : await db.user.findUnique({ where: { usernameNormalized: normalizeUsername(login) } })
    },

    /** 409 username_taken when the new username is someone else's. */
    async update (id: string, patch: UserPatch): Promise<User> {
      const data: Prisma.UserUpdateInput = { ...patch }
      if (patch.username !== undefined) {
        data.usernameNormalized = patch.username === null ? null : normalizeUsername(patch.username)
      }
      return await unlessTaken(db.user.update({ where: { id }, data }))
    },

    // The two writes below are conditional on the password hash the caller has just verified
    // (compare-and-swap): if another request changed the password between the bcrypt check
    // and the write, the write does nothing rather than act on a password no longer right.

    /**
     * Stores a new password hash while the user still has `expectedHash` and the session
     * `sessionId` is alive (a concurrent "log out everywhere" wins). True when stored.
     */
    async replacePasswordHash (args: { userId: string, sessionId: string, expectedHash: string, newHash: string }): Promise<boolean> {
      const { count } = await db.user.updateMany({
        where: unchangedSince(args),
        data: { passwordHash: args.newHash }
      })
      return count === 1
    },

    /**
     * Deletes the user (under the same conditions); the foreign keys cascade to sessions,
     * outstanding and blacklisted tokens, so nothing that could be refreshed or listed is
     * left. True when deleted.
     */
    async deleteUser (args: { userId: string, sessionId: string, expectedHash: string }): Promise<boolean> {
      const { count } = await db.user.deleteMany({
        where: unchangedSince(args)
      })
      return count === 1
    },

    /**
     * An email change: the new address (normalised), marked verified (the user confirmed it
     * from its mailbox). 409 email_taken when another account has it.
     */
    async changeEmail (id: string, email: string): Promise<void> {
      await unlessTaken(db.user.update({ where: { id }, data: { email: normalizeEmail(email), emailVerified: true } }))
    },

    /** Marks the address verified while the user still has `email`. True when marked. */
    async markEmailVerified (id: string, email: string): Promise<boolean> {
      const { count } = await db.user.updateMany({ where: { id, email }, data: { emailVerified: true } })
      return count === 1
    },

    /**
     * A password reset: the new hash, and the address marked verified (following the mailed
     * link proved the user reads it).
     */
    async resetPassword (id: string, passwordHash: string): Promise<void> {
      await db.user.update({ where: { id }, data: { passwordHash, emailVerified: true } })
    },

    /** The user's password hash, locking their row until the caller's transaction ends (null: no such user). */
    async lockForUpdate (id: string): Promise<{ passwordHash: string } | null> {
      const rows = await db.$queryRaw<Array<{ password_hash: string }>>(Prisma.sql`SELECT password_hash FROM users WHERE id = ${id}::uuid FOR UPDATE`)
      return rows[0] === undefined ? null : { passwordHash: rows[0].password_hash }
    },

    /**
     * Records a successful login (and stores `newHash`, a rehash of the same password), only
     * while the user is active and still has `expectedHash`, the hash the login verified; null
     * otherwise. One UPDATE, so it also locks the row for the rest of the caller's transaction.
     */
    async recordLogin (args: { id: string, expectedHash: string, newHash?: string }): Promise<User | null> {
      try {
        return await db.user.update({
          where: { id: args.id, passwordHash: args.expectedHash, isActive: true },
          data: { lastLoginAt: new Date(), ...(args.newHash === undefined ? {} : { passwordHash: args.newHash }) }
        })
      } catch (error) {
        // P2025: no row matched the conditions (Prisma's "record to update not found").
        if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2025') return null
        throw error
      }
    }
  }
}

export type UserRepository = ReturnType<typeof createUserRepository>
