// Short random codes that people read and type: recovery codes (recovery-codes.ts) and the
// passwordless login codes mailed to them (email-codes.ts). Crockford's base32 (no i, l, o or
// u, so nothing reads as another character): 32 symbols, exactly 5 random bits each.
//
// Stored only as a keyed hash (HMAC-SHA-256 under a key of its own, derived by HKDF from the
// MFA key): a code carries few bits (40 to 50), so an unkeyed hash of a database dump could be
// searched; with the key it cannot be checked against candidates at all.
import { createHmac, hkdfSync, randomBytes } from 'node:crypto'

/** Crockford's base32 alphabet, lower-case. */
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'
/** Generous room for spaces and dashes, without regex work on arbitrary-length input. */
const MAX_INPUT_LENGTH = 64

/** `length` random symbols, lower-case, undecorated. */
export function randomCrockford (length: number): string {
  // 256 is a multiple of 32, so the low five bits of a random byte are uniform: no modulo bias.
  let code = ''
  for (const byte of randomBytes(length)) code += ALPHABET[byte & 31]
  return code
}

/**
 * The canonical form of what a user typed (`length` symbols, lower-case, no dash), or null if
 * it cannot be such a code. Case, spaces and dashes are ignored, and the characters Crockford's
 * base32 leaves out are read as what a user most likely meant (o as 0, i and l as 1), so a code
 * copied by eye still works; u, and anything else outside the alphabet, is refused.
 */
export function normalizeCrockford (input: string, length: number): string | null {
  if (typeof input !== 'string' || input.length > MAX_INPUT_LENGTH) return null
  const code = input.toLowerCase().replace(/[\s-]+/g, '').replace(/o/g, '0').replace(/[il]/g, '1')
  return code.length === length && /^[0-9a-hjkmnp-tv-z]+$/.test(code) ? code : null
}

/** HMAC-SHA-256 (base64url) of `value` under the key HKDF derives from `key` for `label`. */
export function keyedHash (key: Buffer, label: string, value: string): string {
  const hmacKey = Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), label, 32))
  return createHmac('sha256', hmacKey).update(value).digest('base64url')
}
