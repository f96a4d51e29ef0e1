// The lockout's answer, shared by login and by the routes that re-check a signed-in user's
// password (password change, account deletion): both count failures under the same keys
// (repositories/login-failures.ts), so both refuse the same way while a key is locked.
import { AppError } from '../errors.js'

/** The answer while a key is locked; the same whether or not an account has it. */
export function lockedError (seconds: number): AppError {
  return new AppError('account_locked', `Too many failed logins: try again in ${seconds} seconds`, { headers: { 'retry-after': String(seconds) } })
}
