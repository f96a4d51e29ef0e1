// The password policy, after Django's default AUTH_PASSWORD_VALIDATORS: length (minimum and
// maximum), not too similar to the user's own attributes, not one of the most common
// passwords, not entirely numeric. Every failure is reported (as Django reports every
// validator's error), each as a field error with its own code.
import { dictionary } from '@zxcvbn-ts/language-common'
import type { Config } from '../config.js'
import type { FieldError } from '../errors.js'

export interface PasswordPolicy {
  minLength: number
  maxLength: number
  /** password_too_common (default on). */
  checkCommon?: boolean
  /** password_too_similar (default on). */
  checkSimilarity?: boolean
  /** password_entirely_numeric (default on). */
  checkNumeric?: boolean
}

/** The policy as configured: built once, by the passwords service and by `authd createsuperuser`. */
export function passwordPolicyFrom (config: Pick<Config, 'PASSWORD_MIN_LENGTH' | 'PASSWORD_MAX_LENGTH' | 'PASSWORD_CHECK_COMMON' | 'PASSWORD_CHECK_SIMILARITY' | 'PASSWORD_CHECK_NUMERIC'>): PasswordPolicy {
  return {
    minLength: config.PASSWORD_MIN_LENGTH,
    maxLength: config.PASSWORD_MAX_LENGTH,
    checkCommon: config.PASSWORD_CHECK_COMMON,
    checkSimilarity: config.PASSWORD_CHECK_SIMILARITY,
    checkNumeric: config.PASSWORD_CHECK_NUMERIC
  }
}

/** What a password is compared with: the account's own email, username and full name. */
export interface UserAttributes {
  email?: string | null
  username?: string | null
  fullName?: string | null
}

/** Django's UserAttributeSimilarityValidator default. */
export const MAX_SIMILARITY = 0.7

/** As many as Django's CommonPasswordValidator list holds. */
export const COMMON_PASSWORD_COUNT = 20_000

// The password list of zxcvbn (MIT; the xato.net leak corpus), ordered by frequency and all
// lower-case; its first 20,000 entries play the part of Django's common-passwords.txt.gz.
// Built once, when this module is first imported (at start-up), and kept for the process.
const COMMON_PASSWORDS: ReadonlySet<string> = new Set(
  dictionary['passwords-common'].slice(0, COMMON_PASSWORD_COUNT).map((p) => p.toLowerCase())
)

/** In the order Django's validator compares them (username, names, email). */
const ATTRIBUTE_NAMES: Record<keyof UserAttributes, string> = { username: 'username', fullName: 'full name', email: 'email address' }

/** Code points, as a person counts characters (not UTF-16 units). */
const chars = (s: string): string[] => [...s]

/**
 * Python's difflib.SequenceMatcher(a, b).quick_ratio(): 2·M / (|a| + |b|), M being the size of
 * the multiset intersection of the two strings' characters — an upper bound of the
 * Ratcliff/Obershelp ratio(). Django's validator uses exactly this bound. Hand-written because
 * it is a dozen lines, while the npm ports of difflib (difflib, difflib-ts) have not been
 * maintained for years and bring the whole diff machinery for one function.
 */
export function quickRatio (a: string, b: string): number {
  const left = chars(a)
  const right = chars(b)
  if (left.length + right.length === 0) return 1
  const available = new Map<string, number>()
  for (const c of right) available.set(c, (available.get(c) ?? 0) + 1)
  let matches = 0
  for (const c of left) {
    const n = available.get(c) ?? 0
    if (n > 0) {
      matches += 1
      available.set(c, n - 1)
    }
  }
  return (2 * matches) / (left.length + right.length)
}

/**
 * Django's exceeds_maximum_length_ratio: a value at most a tenth of the password's length
 * cannot reach the similarity bound, so it is not compared at all (which also keeps a long
 * password from costing much).
 */
function tooShortToCompare (password: string[], value: string[]): boolean {
  return password.length >= 10 * value.length && value.length < (MAX_SIMILARITY / 2) * password.length
}

/** The attribute a password is too similar to, as Django's UserAttributeSimilarityValidator decides. */
export function similarAttribute (password: string, attributes: UserAttributes): keyof UserAttributes | null {
  const lower = password.toLowerCase()
  const passwordChars = chars(lower)
  for (const name of Object.keys(ATTRIBUTE_NAMES) as Array<keyof UserAttributes>) {
    const value = attributes[name]
    if (typeof value !== 'string' || value === '') continue
    const valueLower = value.toLowerCase()
    // The whole value and each part of it between non-word characters (Python's \W+):
    // "ada.lovelace@example.com" gives "ada", "lovelace", "example", "com" and the address.
    const parts = [...valueLower.split(/[^\p{L}\p{N}_]+/u), valueLower].filter((part) => part !== '')
    for (const part of parts) {
      if (tooShortToCompare(passwordChars, chars(part))) continue
      if (quickRatio(lower, part) >= MAX_SIMILARITY) return name
    }
  }
  return null
}

/** In the list of common passwords, compared case-insensitively and without outer spaces (as Django does). */
export const isCommonPassword = (password: string): boolean => COMMON_PASSWORDS.has(password.trim().toLowerCase())

/** Only decimal digits (any script's, as Python's str.isdigit for these). */
export const isEntirelyNumeric = (password: string): boolean => /^\p{Nd}+$/u.test(password)

/**
 * Field errors for a password that breaks the policy (empty when it is acceptable): every
 * failure, in Django's order. `user` holds the account's attributes the password must not
 * resemble (on registration: those being registered).
 */
export function checkPassword (password: string, policy: PasswordPolicy, field = 'password', user: UserAttributes = {}): FieldError[] {
  const errors: FieldError[] = []
  const length = chars(password).length
  if (length < policy.minLength) {
    errors.push({ field, code: 'password_too_short', message: `must be at least ${policy.minLength} characters` })
  }
  if (length > policy.maxLength) {
    errors.push({ field, code: 'password_too_long', message: `must be at most ${policy.maxLength} characters` })
  }
  if (policy.checkSimilarity !== false) {
    const similar = similarAttribute(password, user)
    if (similar !== null) errors.push({ field, code: 'password_too_similar', message: `is too similar to the ${ATTRIBUTE_NAMES[similar]}` })
  }
  if (policy.checkCommon !== false && isCommonPassword(password)) {
    errors.push({ field, code: 'password_too_common', message: 'is too common' })
  }
  if (policy.checkNumeric !== false && isEntirelyNumeric(password)) {
    errors.push({ field, code: 'password_entirely_numeric', message: 'must not be entirely numeric' })
  }
  return errors
}
