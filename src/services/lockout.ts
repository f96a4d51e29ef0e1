// The lockout's answer, shared by login and by the routes that re-check a signed-in user's
// password (password change, account deletion): both count failures under the same keys
// (repositories/login-failures.ts), so both refuse the same way while a key is locked.
import type { Config } from '../config.js'
import { AppError } from '../errors.js'
import type { LockoutPolicy } from '../repositories/login-failures.js'

/** The answer while a key is locked; the same whether or not an account has it. */
export function lockedError (seconds: number): AppError {
  return new AppError('account_locked', `Too many failed logins: try again in ${seconds} seconds`, { headers: { 'retry-after': String(seconds) } })
}

/** The lockout as configured (threshold 0: off); login and the password re-checks share it. */
export function lockoutPolicy (config: Pick<Config, 'LOCKOUT_THRESHOLD' | 'LOCKOUT_COOLOFF' | 'LOCKOUT_WINDOW'>): LockoutPolicy {
  return { threshold: config.LOCKOUT_THRESHOLD, cooloffSeconds: config.LOCKOUT_COOLOFF, windowSeconds: config.LOCKOUT_WINDOW }
}
