// The lockout's answer, shared by login and by the routes that re-check a signed-in user's
// password (password change, account deletion): both count failures under the same keys
// (repositories/login-failures.ts), so both refuse the same way while a key is locked.
import type { Config } from '../config.js'
import { AppError } from '../errors.js'
import type { AuditEventInput } from '../repositories/audit-events.js'
import type { FailureCount, LockoutPolicy } from '../repositories/login-failures.js'
import type { Repositories } from '../repositories/unit-of-work.js'

/** The answer while a key is locked; the same whether or not an account has it. */
export function lockedError (seconds: number): AppError {
  return new AppError('account_locked', `Too many failed logins: try again in ${seconds} seconds`, { headers: { 'retry-after': String(seconds) } })
}

/** The lockout as configured (threshold 0: off); login and the password re-checks share it. */
export function lockoutPolicy (config: Pick<Config, 'LOCKOUT_THRESHOLD' | 'LOCKOUT_COOLOFF' | 'LOCKOUT_WINDOW'>): LockoutPolicy {
  return { threshold: config.LOCKOUT_THRESHOLD, cooloffSeconds: config.LOCKOUT_COOLOFF, windowSeconds: config.LOCKOUT_WINDOW }
}

/**
 * One failure of any secret checked under the lockout (a login's password, a second-factor
 * code, a signed-in user's password re-check), in the caller's transaction: counted under
 * `key` (null: lockout off), recorded as `event` with the count, and — when this failure is
 * the one that locked the key — followed by `account_locked` (with `lockedDetail`).
 */
export async function countFailure (repos: Repositories, args: { key: string | null, lockout: LockoutPolicy, event: AuditEventInput, lockedDetail?: Record<string, boolean> }): Promise<FailureCount | null> {
  const count = args.key === null ? null : await repos.loginFailures.recordFailure(args.key, args.lockout)
  const { event } = args
  await repos.audit.record({ ...event, detail: { ...event.detail, ...(count === null ? {} : { failures: count.failures }) } })
  if (count?.justLocked === true) {
    await repos.audit.record({ type: 'account_locked', userId: event.userId ?? null, ip: event.ip, userAgent: event.userAgent, detail: { failures: count.failures, lockedForSeconds: count.lockedFor, ...args.lockedDetail } })
  }
  return count
}
