// Failed logins per login identifier, for the temporary lockout (django-axes style). The rows
// live in the database, so every instance sees the same counts and locks. Every time
// comparison uses the database's clock (now()), never an instance's, for the same reason.
import { createHash } from 'node:crypto'
import { Prisma } from '../generated/prisma/client.js'
import { normalizeEmail, normalizeUsername, type Db } from './users.js'

export interface LockoutPolicy {
  /** Failures that lock the identifier; 0 turns the lockout off. */
  threshold: number
  /** Seconds a lock lasts. */
  cooloffSeconds: number
  /** Seconds without a failure after which the count starts again. */
  windowSeconds: number
}

export interface FailureCount {
  /** Failures counted so far in this round (this one included). */
  failures: number
  /** Seconds until the identifier unlocks (at least 1), or null when it is not locked. */
  lockedFor: number | null
  /** This failure is the one that locked the identifier. */
  justLocked: boolean
}

/**
 * The row key of a login identifier: the SHA-256 of the email or username normalised as
 * findByLogin normalises it, whether or not an account has it (so unknown names are counted
 * like real ones). Hashed because people type passwords into the login field now and then:
 * such a slip is then never stored in clear.
 */
export function loginFailureKey (login: string): string {
  const normalized = login.includes('@') ? `email:${normalizeEmail(login)}` : `username:${normalizeUsername(login)}`
  return createHash('sha256').update(normalized).digest('hex')
}

/**
 * Seconds until `locked_until` as the database sees it, rounded up (a Retry-After of 0 would
 * invite a retry that fails) — after rounding the difference to milliseconds, the precision
 * locked_until is stored with, so that a cool-off of 600 s reads 600, not 601.
 */
const LOCKED_FOR = Prisma.sql`CASE WHEN locked_until > now() THEN GREATEST(1, CEIL(ROUND(EXTRACT(EPOCH FROM (locked_until - now()))::numeric, 3)))::int END`

export function createLoginFailureRepository (db: Db) {
  return {
    /** Seconds the identifier stays locked, or null when it is not locked. */
    async lockedFor (key: string): Promise<number | null> {
      const rows = await db.$queryRaw<Array<{ locked_for: number | null }>>(Prisma.sql`
        SELECT ${LOCKED_FOR} AS locked_for FROM login_failures WHERE key = ${key} AND locked_until > now()`)
      return rows[0]?.locked_for ?? null
    },

    /**
     * Counts one failure, in one statement (concurrent failures serialise on the row):
     * - while locked, the count goes up but the lock is not extended (an attacker cannot
     *   stretch it beyond LOCKOUT_COOLOFF after the failure that set it);
     * - after a lock ended, or after LOCKOUT_WINDOW without a failure, counting starts again;
     * - the failure that reaches the threshold locks the identifier for the cool-off.
     */
    async recordFailure (key: string, policy: LockoutPolicy): Promise<FailureCount> {
      const cooloff = Prisma.sql`make_interval(secs => ${policy.cooloffSeconds})`
      const fresh = Prisma.sql`(f.locked_until <= now() OR (f.locked_until IS NULL AND f.last_failed_at <= now() - make_interval(secs => ${policy.windowSeconds})))`
      const next = Prisma.sql`(CASE WHEN ${fresh} THEN 1 ELSE f.failures + 1 END)`
      const rows = await db.$queryRaw<Array<{ failures: number, locked_for: number | null }>>(Prisma.sql`
        INSERT INTO login_failures AS f (key, failures, first_failed_at, last_failed_at, locked_until)
        VALUES (${key}, 1, now(), now(), CASE WHEN ${policy.threshold}::int <= 1 THEN now() + ${cooloff} END)
        ON CONFLICT (key) DO UPDATE SET
          failures = ${next},
          first_failed_at = CASE WHEN ${fresh} THEN now() ELSE f.first_failed_at END,
          last_failed_at = now(),
          locked_until = CASE
            WHEN f.locked_until > now() THEN f.locked_until
            WHEN ${next} >= ${policy.threshold}::int THEN now() + ${cooloff}
          END
        RETURNING failures, ${LOCKED_FOR} AS locked_for`)
      const row = rows[0]
      if (row === undefined) throw new Error('login_failures upsert returned no row')
      return { failures: row.failures, lockedFor: row.locked_for, justLocked: row.locked_for !== null && row.failures === policy.threshold }
    },

    /**
     * A successful login forgets the identifier's failures — unless failures of concurrent
     * requests locked it after this one was let in: then the seconds left are returned and the
     * caller refuses the login (run it in the login's transaction, so the refusal rolls the
     * deletion back). Without this check, many guesses sent at once would all be tried before
     * the first lock landed.
     */
    async clearOnSuccess (key: string): Promise<number | null> {
      const rows = await db.$queryRaw<Array<{ locked_for: number | null }>>(Prisma.sql`
        DELETE FROM login_failures WHERE key = ${key} RETURNING ${LOCKED_FOR} AS locked_for`)
      return rows[0]?.locked_for ?? null
    },

    /**
     * Forgets the failures and any lock of an account's identifiers (its email and, if it has
     * one, its username): for a completed password reset, which proves the owner is back.
     */
    async clearForAccount (account: { email: string, username?: string | null }): Promise<number> {
      const keys = [loginFailureKey(account.email)]
      if (account.username != null && account.username !== '') keys.push(loginFailureKey(account.username))
      const { count } = await db.loginFailure.deleteMany({ where: { key: { in: keys } } })
      return count
    }
  }
}

export type LoginFailureRepository = ReturnType<typeof createLoginFailureRepository>
