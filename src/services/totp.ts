// TOTP (RFC 6238) as authenticator apps implement it: SHA-1, 6 digits, 30-second steps. otplib
// does the HOTP arithmetic; this module decides what counts as a match. We do not use otplib's
// own verify: it stops at the first matching step (earliest first), so its timing tells which
// step matched and it reports the oldest step when a code is valid for several. Instead each of
// the three candidate steps is computed and compared in constant time, and the matched step is
// returned so the caller can refuse it, or any earlier step, next time (replay protection: a
// code seen once, by a shoulder-surfer or a phishing proxy, must not log in again).
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { generateSync, ScureBase32Plugin } from 'otplib'

/** Seconds per time step (RFC 6238's X); every common authenticator app assumes 30. */
export const TOTP_PERIOD = 30
/** Code length; apps assume 6 unless told otherwise, and some ignore being told. */
export const TOTP_DIGITS = 6
/** 160 bits, the length RFC 4226 recommends (that of an HMAC-SHA-1 output). */
const SECRET_BYTES = 20
/**
 * Steps either side of now that still match: one step absorbs a phone clock that is a little
 * off and a code typed just as it rolled over, while keeping a code's life to 90 seconds.
 */
const WINDOW = 1
/** Longer input is not a code however many spaces it holds; not worth normalising. */
const MAX_INPUT_LENGTH = 32

const base32 = new ScureBase32Plugin()

/** A new shared secret: 20 bytes from the CSPRNG, base32 (32 characters, no padding). */
export function newTotpSecret (): string {
  return base32.encode(randomBytes(SECRET_BYTES))
}

/** The time step (RFC 6238's counter T) that `nowMs` falls in. */
export function totpStepAt (nowMs: number): number {
  return Math.floor(nowMs / 1000 / TOTP_PERIOD)
}

/**
 * The otpauth:// URI an authenticator app scans (Google's Key URI format). Built here rather
 * than with otplib's generateURI because that one leaves a colon inside the issuer or account
 * unescaped (it would split the label in the wrong place) and omits the algorithm, digits and
 * period when they are the defaults; spelling them out costs nothing and some apps want them.
 */
export function totpUri (options: { secret: string, accountName: string, issuer: string }): string {
  const { secret, accountName, issuer } = options
  // Apps split the label at the first colon, literal or %3A, so no escaping makes a colon
  // inside either part safe. The issuer is configuration and email addresses hold no colon:
  // refusing loudly beats a QR code that files the account under the wrong name.
  if (issuer === '' || issuer.includes(':')) throw new Error('the TOTP issuer must be non-empty and hold no colon')
  if (accountName === '' || accountName.includes(':')) throw new Error('the TOTP account name must be non-empty and hold no colon')
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(accountName)}`
  const query = [
    `secret=${encodeURIComponent(secret)}`,
    `issuer=${encodeURIComponent(issuer)}`,
    'algorithm=SHA1',
    `digits=${TOTP_DIGITS}`,
    `period=${TOTP_PERIOD}`
  ].join('&')
  return `otpauth://totp/${label}?${query}`
}

function codeForStep (secret: string, step: number): string {
  return generateSync({ secret, epoch: step * TOTP_PERIOD, period: TOTP_PERIOD, digits: TOTP_DIGITS, algorithm: 'sha1' })
}

/** The code an app shows at `nowMs` (for tests, examples and the CLI). */
export function totpCodeAt (secret: string, nowMs: number): string {
  return codeForStep(secret, totpStepAt(nowMs))
}

/**
 * The time step `code` belongs to, if it is the code of the step of `nowMs` or of the step just
 * before or after; null otherwise. Input is checked before any HMAC is computed: apps show
 * "287 082", so whitespace is dropped, and then exactly six ASCII digits are required. If
 * several steps match (a 1-in-a-million coincidence), the latest wins, so the caller's
 * last-accepted step moves as far forward as the code justifies. A secret that is not base32
 * of at least 16 bytes throws (otplib's guard): that is bad stored data, not a wrong code.
 */
export function verifyTotp (secret: string, code: string, nowMs: number = Date.now()): number | null {
  if (typeof code !== 'string' || code.length > MAX_INPUT_LENGTH || !Number.isFinite(nowMs)) return null
  const digits = code.replace(/\s+/g, '')
  if (!/^[0-9]{6}$/.test(digits)) return null
  const given = Buffer.from(digits, 'ascii')
  const now = totpStepAt(nowMs)
  let matched: number | null = null
  // Every candidate is computed and compared, with no early exit, so the time taken does not
  // say whether (or which) step matched.
  for (let step = now - WINDOW; step <= now + WINDOW; step++) {
    if (step < 0) continue
    const expected = Buffer.from(codeForStep(secret, step), 'ascii')
    if (timingSafeEqual(expected, given)) matched = step
  }
  return matched
}
