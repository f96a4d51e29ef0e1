// Housekeeping (simplejwt's `flushexpiredtokens`): deletes what can never be used again, so
// the token tables do not grow without bound.
// - outstanding tokens past their expiry (a refresh token is refused after `exp` anyway); their
//   blacklist rows go with them, so the blacklist never needs to remember an expired token;
// - dead sessions — expired, or revoked more than REFRESH_TOKEN_TTL ago — that have no
//   outstanding token left (a session keeps its family while any member could still be shown);
// - stale login-failure counts: no lock in force, and either a lock that ended or no failure
//   for LOCKOUT_WINDOW — the next failure would start counting from one anyway;
// - expired second-factor challenges (mfaTokens), used or not.
// Every batch is its own short statement (src/repositories/housekeeping.ts), so this runs
// safely while the service serves.
import type { HousekeepingRepository } from '../repositories/housekeeping.js'

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
  mfaChallenges: number
}

export const DEFAULT_BATCH_SIZE = 1000

/**
 * Tokens are deleted a minute after their expiry, not at it: a refresh that verified the JWT
 * an instant before `exp` must still find its row (else the blacklist insert would fail on
 * the foreign key), and the clocks of several instances may differ a little.
 */
export const EXPIRY_MARGIN_SECONDS = 60

/** Runs `batch` until it deletes fewer than `batchSize` rows; returns every batch's counts. */
async function drain<T> (batchSize: number, batch: () => Promise<T>, count: (r: T) => number): Promise<T[]> {
  const results: T[] = []
  for (;;) {
    const result = await batch()
    results.push(result)
    // Fewer than a full batch: nothing is left, or the rest is locked by a concurrent flush.
    if (count(result) < batchSize) return results
  }
}

export async function flushExpired (repo: HousekeepingRepository, options: FlushOptions): Promise<FlushResult> {
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError('batchSize must be a positive integer')
  const now = options.now ?? new Date()
  const revokedBefore = new Date(now.getTime() - options.revokedRetention * 1000)
  const tokensExpiredBefore = new Date(now.getTime() - EXPIRY_MARGIN_SECONDS * 1000)
  const quietSince = new Date(now.getTime() - (options.lockoutWindow ?? 900) * 1000)

  const tokenBatches = await drain(batchSize, async () => await repo.deleteExpiredTokens(tokensExpiredBefore, batchSize), (r) => r.outstanding)
  const sessionBatches = await drain(batchSize, async () => await repo.deleteDeadSessions(now, revokedBefore, batchSize), (r) => r)
  const failureBatches = await drain(batchSize, async () => await repo.deleteStaleLoginFailures(now, quietSince, batchSize), (r) => r)
  const challengeBatches = await drain(batchSize, async () => await repo.deleteExpiredMfaChallenges(tokensExpiredBefore, batchSize), (r) => r)

  const sum = <T>(items: T[], pick: (item: T) => number) => items.reduce((total, item) => total + pick(item), 0)
  return {
    outstandingTokens: sum(tokenBatches, (b) => b.outstanding),
    blacklistedTokens: sum(tokenBatches, (b) => b.blacklisted),
    sessions: sum(sessionBatches, (b) => b),
    loginFailures: sum(failureBatches, (b) => b),
    mfaChallenges: sum(challengeBatches, (b) => b)
  }
}
