// Housekeeping (simplejwt's `flushexpiredtokens`): deletes what can never be used again, so
// the token tables do not grow without bound.
// - outstanding tokens past their expiry (a refresh token is refused after `exp` anyway); their
//   blacklist rows go with them, so the blacklist never needs to remember an expired token;
// - dead sessions — expired, or revoked more than REFRESH_TOKEN_TTL ago — that have no
//   outstanding token left (a session keeps its family while any member could still be shown);
// - stale login-failure counts: no lock in force, and either a lock that ended or no failure
//   for LOCKOUT_WINDOW — the next failure would start counting from one anyway.
// Every batch is its own short statement that deletes at most `batchSize` rows and skips rows
// another transaction holds (`FOR UPDATE SKIP LOCKED`), so it runs safely while the service
// serves, and two instances flushing at once share the work instead of waiting on each other.
import { Prisma, type PrismaClient } from '../generated/prisma/client.js'

export interface FlushOptions {
  /** Rows deleted per statement (default 1000). */
  batchSize?: number
  /** What counts as "now" (default: the current time). */
  now?: Date
  /** Seconds a revoked session is kept (REFRESH_TOKEN_TTL): long enough to outlive its tokens. */
  revokedRetention: number
  /** LOCKOUT_WINDOW: seconds after the last failure when an unlocked count is forgotten (default 900). */
  lockoutWindow?: number
}

export interface FlushResult {
  outstandingTokens: number
  blacklistedTokens: number
  sessions: number
  loginFailures: number
}

export const DEFAULT_BATCH_SIZE = 1000

/**
 * Tokens are deleted a minute after their expiry, not at it: a refresh that verified the JWT
 * an instant before `exp` must still find its row (else the blacklist insert would fail on
 * the foreign key), and the clocks of several instances may differ a little.
 */
export const EXPIRY_MARGIN_SECONDS = 60

/** Runs `batch` until it deletes fewer than `batchSize` rows; returns every batch's counts. */
async function drain<T extends Record<string, number>> (batchSize: number, batch: () => Promise<T>, count: (r: T) => number): Promise<T[]> {
  const results: T[] = []
  for (;;) {
    const result = await batch()
    results.push(result)
    // Fewer than a full batch: nothing is left, or the rest is locked by a concurrent flush.
    if (count(result) < batchSize) return results
  }
}

export async function flushExpired (prisma: PrismaClient, options: FlushOptions): Promise<FlushResult> {
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError('batchSize must be a positive integer')
  const now = options.now ?? new Date()
  const revokedBefore = new Date(now.getTime() - options.revokedRetention * 1000)
  const tokensExpiredBefore = new Date(now.getTime() - EXPIRY_MARGIN_SECONDS * 1000)

  // The blacklist rows are deleted explicitly (rather than left to ON DELETE CASCADE) only so
  // that they can be counted; the cascade then finds nothing left to do.
  const tokenBatches = await drain(batchSize, async () => {
    const rows = await prisma.$queryRaw<Array<{ outstanding: number, blacklisted: number }>>(Prisma.sql`
      WITH doomed AS (
        SELECT jti FROM outstanding_tokens
        WHERE expires_at < ${tokensExpiredBefore}::timestamptz
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
  }, (r) => r.outstanding)

  // A session is only ever extended by rotating one of its tokens, so once it has none left
  // nothing can bring it back: deleting it cannot race with a refresh.
  const sessionBatches = await drain(batchSize, async () => {
    const rows = await prisma.$queryRaw<Array<{ sessions: number }>>(Prisma.sql`
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
    return rows[0] ?? { sessions: 0 }
  }, (r) => r.sessions)

  const quietSince = new Date(now.getTime() - (options.lockoutWindow ?? 900) * 1000)
  const failureBatches = await drain(batchSize, async () => {
    const rows = await prisma.$queryRaw<Array<{ deleted: number }>>(Prisma.sql`
      WITH doomed AS (
        SELECT key FROM login_failures
        WHERE (locked_until IS NOT NULL AND locked_until <= ${now}::timestamptz)
           OR (locked_until IS NULL AND last_failed_at <= ${quietSince}::timestamptz)
        LIMIT ${batchSize}
        FOR UPDATE SKIP LOCKED
      ), deleted AS (
        DELETE FROM login_failures WHERE key IN (SELECT key FROM doomed) RETURNING key
      )
      SELECT count(*)::int AS deleted FROM deleted`)
    return rows[0] ?? { deleted: 0 }
  }, (r) => r.deleted)

  const sum = <T>(items: T[], pick: (item: T) => number) => items.reduce((total, item) => total + pick(item), 0)
  return {
    outstandingTokens: sum(tokenBatches, (b) => b.outstanding),
    blacklistedTokens: sum(tokenBatches, (b) => b.blacklisted),
    sessions: sum(sessionBatches, (b) => b.sessions),
    loginFailures: sum(failureBatches, (b) => b.deleted)
  }
}
