// Accounts brought in from another system (`authd import django`). An imported account is
// known by its external id ("django:<pk>"), so a re-run finds it even after its address changed
// there; its address alone never makes a match (see services/django-import.ts for why).
// The importer runs each batch through one transaction (unit-of-work): the reads that decide
// what to do and the writes that do it see the same rows.
import { normalizeUsername, type Db } from './users.js'

/** An account as the import writes it: the address already normalised, the hash as the source wrote it. */
export interface ImportedUser {
  id: string
  externalId: string
  email: string
  username: string | null
  fullName: string
  passwordHash: string
  roles: string[]
  emailVerified: boolean
  isActive: boolean
}

/**
 * What the import compares with: an existing row matched by external id, email or username — the
 * fields an import writes, plus the normalised username, and an external id authd's own accounts lack.
 */
export type ExistingUser = Omit<ImportedUser, 'externalId'> & { externalId: string | null, usernameNormalized: string | null }

export type ImportedUserPatch = Partial<Omit<ImportedUser, 'id' | 'externalId'>>

export function createImportedUserRepository (db: Db) {
  return {
    /** Every user holding one of these external ids, addresses (normalised) or usernames (any case): one query. */
    async findMatches (args: { externalIds: string[], emails: string[], usernames: string[] }): Promise<ExistingUser[]> {
      return await db.user.findMany({
        where: {
          OR: [
            { externalId: { in: args.externalIds } },
            { email: { in: args.emails } },
            { usernameNormalized: { in: args.usernames.map(normalizeUsername) } }
          ]
        },
        select: { id: true, externalId: true, email: true, usernameNormalized: true, username: true, fullName: true, passwordHash: true, roles: true, emailVerified: true, isActive: true }
      })
    },

    /** The new accounts of a batch, in one INSERT. */
    async createMany (users: ImportedUser[]): Promise<number> {
      if (users.length === 0) return 0
      const { count } = await db.user.createMany({
        data: users.map((u) => ({ ...u, usernameNormalized: u.username === null ? null : normalizeUsername(u.username) }))
      })
      return count
    },

    /** The fields of an imported account that changed at the source. */
    async update (id: string, patch: ImportedUserPatch): Promise<void> {
      await db.user.update({
        where: { id },
        data: { ...patch, ...(patch.username === undefined ? {} : { usernameNormalized: patch.username === null ? null : normalizeUsername(patch.username) }) }
      })
    }
  }
}

export type ImportedUserRepository = ReturnType<typeof createImportedUserRepository>
