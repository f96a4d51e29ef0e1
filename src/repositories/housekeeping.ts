// The statements of housekeeping (src/services/housekeeping.ts says what is deleted and when).
// Each deletes at most `batchSize` rows in one short statement and skips rows another
// transaction holds (`FOR UPDATE SKIP LOCKED`), so it runs safely while the service serves,
// and two instances flushing at once share the work instead of waiting on each other.
import { Prisma } from '../generated/prisma/client.js'
import type { Db } from './users.js'

export function createHousekeepingRepository (db: Db) {
  /** Deletes at most `batchSize` rows of `table` matching `where` that no one holds; how many. */
  async function deleteBatch (table: 'mfa_challenges' | 'login_failures', key: 'token_hash' | 'key', where: Prisma.Sql, batchSize: number): Promise<number> {
    // Table and column names come from the two literals above, never from input.
    const rows = await db.$queryRaw<Array<{ deleted: number }>>(Prisma.sql`
      WITH doomed AS (
        SELECT ${Prisma.raw(key)} FROM ${Prisma.raw(table)} WHERE ${where}
        LIMIT ${batchSize}
        FOR UPDATE SKIP LOCKED
      ), deleted AS (
        DELETE FROM ${Prisma.raw(table)} WHERE ${Prisma.raw(key)} IN (SELECT ${Prisma.raw(key)} FROM doomed) RETURNING 1
      )
      SELECT count(*)::int AS deleted FROM deleted`)
    return rows[0]?.deleted ?? 0
  }

  return {
    /**
     * Outstanding tokens that expired before `before`, with their blacklist rows. The
     * blacklist rows are deleted explicitly (rather than left to ON DELETE CASCADE) only so
     * that they can be counted; the cascade then finds nothing left to do.
     */
    async deleteExpiredTokens (before: Date, batchSize: number): Promise<{ outstanding: number, blacklisted: number }> {
      const rows = await db.$queryRaw<Array<{ outstanding: number, blacklisted: number }>>(Prisma.sql`
        WITH doomed AS (
          SELECT jti FROM outstanding_tokens
          WHERE expires_at < ${before}::timestamptz
          LIMIT ${batchSize}
          FOR UPDATE SKIP LOCKED
        ), blacklisted AS (
          DELETE FROM blacklisted_tokens WHERE jti IN (SELECT jti FROM doomed) RETURNING jti
        ), outstanding AS (
          DELETE FROM outstanding_tokens WHERE jti IN (SELECT jti FROM doomed) RETURNING jti
        )
        SELECT (SELECT count(*) FROM outstanding)::int AS outstanding,
               (SELECT count(*) FROM blacklisted)::int AS blacklisted`)
      return rows[0] ?? { outstanding: 0, blacklisted: 0 }
    },

    /**
     * Sessions expired by `now` or revoked before `revokedBefore` that have no outstanding
     * token left. A session is only ever extended by rotating one of its tokens, so once it
     * has none left nothing can bring it back: deleting it cannot race with a refresh.
     */
    async deleteDeadSessions (now: Date, revokedBefore: Date, batchSize: number): Promise<number> {
      const rows = await db.$queryRaw<Array<{ sessions: number }>>(Prisma.sql`
        WITH doomed AS (
          SELECT s.id FROM sessions s
          WHERE (s.expires_at < ${now}::timestamptz OR s.revoked_at < ${revokedBefore}::timestamptz)
            AND NOT EXISTS (SELECT 1 FROM outstanding_tokens o WHERE o.session_id = s.id)
          LIMIT ${batchSize}
          FOR UPDATE OF s SKIP LOCKED
        ), deleted AS (
          DELETE FROM sessions WHERE id IN (SELECT id FROM doomed) RETURNING id
        )
        SELECT count(*)::int AS sessions FROM deleted`)
      return rows[0]?.sessions ?? 0
    },

    /** Second-factor challenges (mfaTokens) that expired before `before`, used or not. */
    async deleteExpiredMfaChallenges (before: Date, batchSize: number): Promise<number> {
      return await deleteBatch('mfa_challenges', 'token_hash', Prisma.sql`expires_at < ${before}::timestamptz`, batchSize)
    },

    /** Login-failure counts with no lock in force: a lock that ended by `now`, or no failure since `quietSince`. */
    async deleteStaleLoginFailures (now: Date, quietSince: Date, batchSize: number): Promise<number> {
      return await deleteBatch('login_failures', 'key', Prisma.sql`(locked_until IS NOT NULL AND locked_until <= ${now}::timestamptz)
        OR (locked_until IS NULL AND last_failed_at <= ${quietSince}::timestamptz)`, batchSize)
    }
  }
}

export type HousekeepingRepository = ReturnType<typeof createHousekeepingRepository>
