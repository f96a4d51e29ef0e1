// Identities at other providers linked to users, by (provider, subject). The rules that must
// hold under concurrency are each one statement: an identity is linked to one user (the unique
// pair; a second link is refused, not overwritten), and an unlink touches only the caller's own.
import { Prisma } from '../generated/prisma/client.js'
import type { Db } from './users.js'

export interface StoredIdentity {
  id: string
  userId: string
  provider: string
  subject: string
  email: string
  createdAt: Date
}

interface Row { id: string, user_id: string, provider: string, subject: string, email: string, created_at: Date }

const COLUMNS = Prisma.sql`id::text, user_id::text, provider, subject, email, created_at`

const toIdentity = (row: Row): StoredIdentity => ({
  id: row.id,
  userId: row.user_id,
  provider: row.provider,
  subject: row.subject,
  email: row.email,
  createdAt: row.created_at
})

export function createIdentityRepository (db: Db) {
  return {
    async find (provider: string, subject: string): Promise<StoredIdentity | null> {
      const rows = await db.$queryRaw<Row[]>(Prisma.sql`SELECT ${COLUMNS} FROM identities WHERE provider = ${provider} AND subject = ${subject}`)
      return rows[0] === undefined ? null : toIdentity(rows[0])
    },

    async listByUser (userId: string): Promise<StoredIdentity[]> {
      const rows = await db.$queryRaw<Row[]>(Prisma.sql`SELECT ${COLUMNS} FROM identities WHERE user_id = ${userId}::uuid ORDER BY created_at, id`)
      return rows.map(toIdentity)
    },

    /** Links an identity; null when (provider, subject) is linked already (to anyone). */
    async create (identity: { id: string, userId: string, provider: string, subject: string, email: string }): Promise<StoredIdentity | null> {
      const rows = await db.$queryRaw<Row[]>(Prisma.sql`
        INSERT INTO identities (id, user_id, provider, subject, email, created_at)
        VALUES (${identity.id}::uuid, ${identity.userId}::uuid, ${identity.provider}, ${identity.subject}, ${identity.email}, now())
        ON CONFLICT (provider, subject) DO NOTHING
        RETURNING ${COLUMNS}`)
      return rows[0] === undefined ? null : toIdentity(rows[0])
    },

    /**
     * Unlinks the user's own identity and says what ways in the account has left besides it
     * (other identities, passkeys); null when none of theirs has this id. Run it after locking
     * the user's row (users.lockForUpdate), so two unlinks cannot each count the other's as left.
     */
    async delete (userId: string, id: string): Promise<{ identity: StoredIdentity, identitiesLeft: number, passkeys: number } | null> {
      const rows = await db.$queryRaw<Array<Row & { identities_left: number, passkeys: number }>>(Prisma.sql`
        WITH gone AS (DELETE FROM identities WHERE id = ${id}::uuid AND user_id = ${userId}::uuid RETURNING ${COLUMNS})
        SELECT gone.*,
          (SELECT count(*) FROM identities WHERE user_id = ${userId}::uuid AND id <> ${id}::uuid)::int AS identities_left,
          (SELECT count(*) FROM passkeys WHERE user_id = ${userId}::uuid)::int AS passkeys
        FROM gone`)
      const row = rows[0]
      return row === undefined ? null : { identity: toIdentity(row), identitiesLeft: row.identities_left, passkeys: row.passkeys }
    }
  }
}

export type IdentityRepository = ReturnType<typeof createIdentityRepository>
