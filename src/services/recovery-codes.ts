// Recovery codes: the way back in when the phone with the authenticator app is lost. Each is
// single-use and shown once, so the user writes it down or prints it, and later types it from
// paper: hence Crockford's base32 (no i, l, o or u, so nothing reads as another character), in
// lower case, in two groups of five.
//
// The database keeps only a keyed hash (HMAC-SHA-256), looked up by equality. A slow password
// hash is not needed: a code carries 50 random bits, not a human choice, so there is no
// dictionary to try, and online guessing is capped by the lockout (the MFA step must count its
// failures as login does) long before 2^50; each code also dies at its first use. The
// key matters for the offline case: with it, a database dump alone cannot be checked against
// candidates at all; without it, 2^50 fast hashes would be within reach.
import { keyedHash, normalizeCrockford, randomCrockford } from './crockford-codes.js'

/** How many codes a user gets at a time (regenerating replaces the whole set). */
export const RECOVERY_CODE_COUNT = 10

/** 10 symbols × 5 bits = 50 bits per code. */
const CODE_LENGTH = 10
const GROUP = 5
const NORMALIZED = /^[0-9a-hjkmnp-tv-z]{10}$/

function randomCode (): string {
  const code = randomCrockford(CODE_LENGTH)
  return `${code.slice(0, GROUP)}-${code.slice(GROUP)}`
}

/** A fresh set of `count` distinct codes, formatted for display (`xxxxx-xxxxx`). */
export function newRecoveryCodes (count: number = RECOVERY_CODE_COUNT): string[] {
  if (!Number.isInteger(count) || count < 1 || count > 100) throw new Error('the number of recovery codes must be an integer from 1 to 100')
  // A repeat has odds of about count² / 2^51; it is still refused, because two equal codes
  // would share one hash and using one would silently spend the other.
  const codes = new Set<string>()
  while (codes.size < count) codes.add(randomCode())
  return [...codes]
}

/** The canonical form of what a user typed (10 characters, no dash), or null (crockford-codes.ts). */
export function normalizeRecoveryCode (input: string): string | null {
  return normalizeCrockford(input, CODE_LENGTH)
}

/**
 * The stored (and looked-up) form of a normalized code: HMAC-SHA-256, base64url, under a key
 * derived by HKDF with its own label, so the key passed in (the MFA key) is never used directly
 * for two purposes. Refuses input that is not normalized: hashing a code as typed would yield
 * a hash that never matches, a bug better found at once.
 */
export function hashRecoveryCode (key: Buffer, normalized: string): string {
  if (!NORMALIZED.test(normalized)) throw new Error('hashRecoveryCode expects a code from normalizeRecoveryCode')
  return keyedHash(key, 'authd recovery code v1', normalized)
}
