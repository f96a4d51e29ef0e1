// CSRF tokens of browser clients, bound to the session without storing anything: a token is
// the HMAC of the session id under a key derived from the refresh secret. Every instance that
// can verify a refresh cookie can therefore check its CSRF token, a token stolen for one
// session is useless for another, and rotation (same session) keeps the token valid.
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto'

export interface Csrf {
  /** The CSRF token of a session. */
  tokenFor (sessionId: string): string
  /** Whether `presented` is the session's token (constant-time comparison). */
  matches (sessionId: string, presented: unknown): boolean
}

export function createCsrf (refreshSecret: Buffer): Csrf {
  // A separate key (HKDF with its own label), so a CSRF token never doubles as a MAC that the
  // refresh-token signature would accept.
  const key = Buffer.from(hkdfSync('sha256', refreshSecret, Buffer.alloc(0), 'authd csrf token v1', 32))
  const tokenFor = (sessionId: string): string => createHmac('sha256', key).update(sessionId).digest('base64url')
  return {
    tokenFor,
    matches (sessionId, presented) {
      if (typeof presented !== 'string') return false
      const expected = Buffer.from(tokenFor(sessionId))
      const given = Buffer.from(presented)
      return given.length === expected.length && timingSafeEqual(given, expected)
    }
  }
}
