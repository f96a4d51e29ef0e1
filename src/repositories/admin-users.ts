// The users table as admins see it: search with keyset pagination, and the two fields only an
// admin may change (isActive, roles). Like every repository it takes the client or a
// transaction client, so a change lands together with its session revocation and audit event.
import { Prisma } from '../generated/prisma/client.js'
import { createUserRepository, type Db, type NewUser, type User } from './users.js'

/** Where a page ends: users are listed newest first, ties broken by id. */
export interface UserKey { createdAt: Date, id: string }

export interface AdminFields { isActive?: boolean, roles?: string[] }

/** Makes `%`, `_` and `\` match themselves in a LIKE pattern (Prisma's `contains` passes them through). */
export const escapeLike = (text: string): string => text.replace(/[\\%_]/g, (c) => `\\${c}`)

export function createAdminUserRepository (db: Db) {
  return {
    /**
     * Up to `limit` users whose email, username or full name contains `q` (any case), newest
     * first, strictly after `after`. Keyset pagination: paging on never repeats or skips a
     * user, even while others register meanwhile (an offset would shift).
     */
    async search (args: { q?: string, after?: UserKey, limit: number }): Promise<User[]> {
      const and: Prisma.UserWhereInput[] = []
      if (args.q !== undefined && args.q !== '') {
        const contains = escapeLike(args.q)
        and.push({
          OR: [
            { email: { contains, mode: 'insensitive' } },
            { username: { contains, mode: 'insensitive' } },
            { fullName: { contains, mode: 'insensitive' } }
          ]
        })
      }
      if (args.after !== undefined) {
        const { createdAt, id } = args.after
        and.push({ OR: [{ createdAt: { lt: createdAt } }, { createdAt, id: { lt: id } }] })
      }
      return await db.user.findMany({
        where: { AND: and },
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        take: args.limit
      })
    },

    async findById (id: string): Promise<User | null> {
      return await db.user.findUnique({ where: { id } })
    },

    /**
     * The row, locked until the transaction ends (SELECT … FOR UPDATE): two admins changing
     * one user serialise, so each audit event records the values its change really replaced.
     */
    async findForUpdate (id: string): Promise<User | null> {
      const rows = await db.$queryRaw<Array<{ id: string }>>(Prisma.sql`SELECT id::text FROM users WHERE id = ${id}::uuid FOR UPDATE`)
      return rows.length === 0 ? null : await db.user.findUnique({ where: { id } })
    },

    async setAdminFields (id: string, fields: AdminFields): Promise<User> {
      return await db.user.update({ where: { id }, data: fields })
    },

    /** A new user with roles and a verified address: `authd createsuperuser`. */
    async createPrivileged (user: NewUser & { roles: string[] }): Promise<User> {
      return await createUserRepository(db).create({ ...user, emailVerified: true })
    },

    /** An existing user made admin again (`createsuperuser --update-existing`): active, verified, with a new password. */
    async restoreAsPrivileged (id: string, args: { roles: string[], passwordHash: string }): Promise<User> {
      return await db.user.update({ where: { id }, data: { roles: args.roles, passwordHash: args.passwordHash, isActive: true, emailVerified: true } })
    }
  }
}

export type AdminUserRepository = ReturnType<typeof createAdminUserRepository>
