import type { FieldError } from '../errors.js'

export interface PasswordPolicy { minLength: number, maxLength: number }

/** Field errors for a password that breaks the policy (empty when it is acceptable). */
export function checkPassword (password: string, policy: PasswordPolicy, field = 'password'): FieldError[] {
  // Length in code points, as a person counts characters (not UTF-16 units).
  const length = [...password].length
  if (length < policy.minLength) {
    return [{ field, code: 'password_too_short', message: `must be at least ${policy.minLength} characters` }]
  }
  if (length > policy.maxLength) {
    return [{ field, code: 'password_too_long', message: `must be at most ${policy.maxLength} characters` }]
  }
  return []
}
