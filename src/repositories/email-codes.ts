// Passwordless login codes (login by code): at most one row per user, the newest code. Every
// rule that must hold under concurrency is one statement: issuing replaces the previous code
// unless one went out within the throttle window; each try is counted before its comparison
// and no try is let in at EMAIL_CODE_MAX_ATTEMPTS; a code is used once.
import { Prisma } from '../generated/prisma/client.js'
import type { Db } from './users.js'

export interface NewEmailCode {
  id: string
  userId: string
  codeHash: string
  email: string
  ttlSeconds: number
}

/** A try let in: the stored hash to compare with, and the code's id to use it up. */
export interface CodeTry {
  id: string
  codeHash: string
}

export function createEmailCodeRepository (db: Db) {
  return {
    /**
     * Stores a new code for the user, replacing the previous one (its tries, expiry and use
     * start again), unless the previous one was issued less than `throttleSeconds` ago. True
     * when stored (a mail may be sent), false when throttled. One statement: of two concurrent
     * requests inside the window, one stores and the other finds its row.
     */
    async issueUnlessRecent (code: NewEmailCode, throttleSeconds: number): Promise<boolean> {
      const rows = await db.$queryRaw<Array<{ id: string }>>(Prisma.sql`
        INSERT INTO email_codes (user_id, id, code_hash, email, attempts, expires_at, used_at, created_at)
        VALUES (${code.userId}::uuid, ${code.id}::uuid, ${code.codeHash}, ${code.email}, 0,
                now() + make_interval(secs => ${code.ttlSeconds}::float8), NULL, now())
        ON CONFLICT (user_id) DO UPDATE SET id = EXCLUDED.id, code_hash = EXCLUDED.code_hash, email = EXCLUDED.email,
          attempts = 0, expires_at = EXCLUDED.expires_at, used_at = NULL, created_at = EXCLUDED.created_at
          WHERE email_codes.created_at <= now() - make_interval(secs => ${throttleSeconds}::float8)
        RETURNING id::text AS id`)
      return rows.length === 1
    },

    /**
     * Counts one try at the user's live code, if it went to `email` (the address the user has
     * now), and returns what to compare, or null when there is no such code: none, used,
     * expired, sent to another address, or out of tries. One UPDATE: concurrent tries queue
     * on the row, and each sees the count the one before it left, so never more than
     * `maxAttempts` tries are let in, however many arrive at once.
     */
    async countTry (userId: string, email: string, maxAttempts: number): Promise<CodeTry | null> {
      const rows = await db.$queryRaw<Array<{ id: string, code_hash: string }>>(Prisma.sql`
        UPDATE email_codes SET attempts = attempts + 1
        WHERE user_id = ${userId}::uuid AND email = ${email}
          AND used_at IS NULL AND expires_at > now() AND attempts < ${maxAttempts}
        RETURNING id::text AS id, code_hash`)
      const row = rows[0]
      return row === undefined ? null : { id: row.id, codeHash: row.code_hash }
    },

    /** Uses the code `id` up; false when another request used it first (or a newer code replaced it). */
    async use (id: string): Promise<boolean> {
      const count = await db.$executeRaw(Prisma.sql`
        UPDATE email_codes SET used_at = now() WHERE id = ${id}::uuid AND used_at IS NULL AND expires_at > now()`)
      return count === 1
    }
  }
}

export type EmailCodeRepository = ReturnType<typeof createEmailCodeRepository>
