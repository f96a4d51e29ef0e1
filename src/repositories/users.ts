// Users table access. Routes and services never touch Prisma directly; they get these
// functions, bound either to the client or to a transaction client.
import { Prisma, type PrismaClient, type User } from '../generated/prisma/client.js'

export type { User }
export type Db = PrismaClient | Prisma.TransactionClient

export interface NewUser {
  id: string
  email: string
  username?: string | null
  fullName?: string
  bio?: string
  passwordHash: string
  /** Only `authd createsuperuser` sets these; registration never does. */
  roles?: string[]
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

export function createUserRepository (db: Db) {
  return {
    async create (user: NewUser): Promise<User> {
      return await db.user.create({
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
      })
    },

    /** `login` is an email address when it holds '@' (usernames cannot), else a username. */
    async findByLogin (login: string): Promise<User | null> {
      return login.includes('@')
        ? await db.user.findUnique({ where: { email: normalizeEmail(login) } })
        : await db.user.findUnique({ where: { usernameNormalized: normalizeUsername(login) } })
    },

    async update (id: string, patch: UserPatch): Promise<User> {
      const data: Prisma.UserUpdateInput = { ...patch }
      if (patch.username !== undefined) {
        data.usernameNormalized = patch.username === null ? null : normalizeUsername(patch.username)
      }
      return await db.user.update({ where: { id }, data })
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
