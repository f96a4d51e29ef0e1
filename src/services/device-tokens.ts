// "Known device" tokens: OWASP's device-cookie pattern against lockout used as a weapon.
// Anyone can keep an account locked by sending wrong passwords for its email; the owner's own
// browser or app, though, holds a token from its last successful login. A login that presents
// a valid one for the very account it logs in to is not blocked by that account's lock; it
// counts its failures under the device's own key instead (same threshold and cool-off), so a
// stolen device token buys an attacker no more guesses than the lockout allows anyway.
//
// The token is a JWT (HS256, typ "device+jwt", its own audience) under a key derived from the
// refresh secret with its own HKDF label, so it never doubles as a refresh token or a CSRF
// token. Nothing is stored: the failures of a device are keyed by the token's jti, hashed like
// every lockout key. Signing and checking go through fast-jwt (the project's JWT library),
// which compares signatures in constant time.
import { createHash, hkdfSync, randomUUID } from 'node:crypto'
import { createSigner, createVerifier } from 'fast-jwt'
import { isUuid } from '../schemas/common.js'

export interface KnownDevice {
  /** The account whose successful login issued the token. */
  userId: string
  /** The lockout key of this device (a hash of the token's jti). */
  lockoutKey: string
}

export interface IssuedDeviceToken {
  token: string
  expiresIn: number
}

export interface DeviceTokens {
  /** Whether device tokens are issued and honoured at all (DEVICE_TOKEN_TTL > 0). */
  enabled: boolean
  /** A new token for a device that just logged in to `userId`. */
  issue (userId: string): IssuedDeviceToken
  /** The device a presented token names, or null for anything but a valid, unexpired token. */
  check (token: string | undefined): KnownDevice | null
}

const TYP = 'device+jwt'
/** authd's device tokens are ~300 characters; a long value is not worth a signature check. */
const MAX_LENGTH = 1024

/** The lockout key of a device: the jti hashed, as login_failures keys always are. */
export const deviceLockoutKey = (jti: string): string => createHash('sha256').update(`device:${jti}`).digest('hex')

export function createDeviceTokens (options: { refreshSecret: Buffer, issuer: string, acceptedIssuers: string[], audience: string, ttlSeconds: number }): DeviceTokens {
  const key = Buffer.from(hkdfSync('sha256', options.refreshSecret, Buffer.alloc(0), 'authd device token v1', 32))
  const aud = `${options.audience}:device`
  const enabled = options.ttlSeconds > 0
  const sign = createSigner({ algorithm: 'HS256', key, iss: options.issuer, aud, expiresIn: Math.max(1, options.ttlSeconds) * 1000, header: { alg: 'HS256', typ: TYP } })
  const verify = createVerifier({ algorithms: ['HS256'], key, allowedIss: options.acceptedIssuers, allowedAud: aud, checkTyp: TYP, requiredClaims: ['sub', 'jti', 'exp'] })

  return {
    enabled,
    issue (userId) {
      return { token: sign({ sub: userId, jti: randomUUID() }), expiresIn: options.ttlSeconds }
    },
    check (token) {
      if (!enabled || token === undefined || token === '' || token.length > MAX_LENGTH) return null
      try {
        const claims = verify(token) as { sub?: unknown, jti?: unknown }
        if (!isUuid(claims.sub) || !isUuid(claims.jti)) return null
        return { userId: claims.sub, lockoutKey: deviceLockoutKey(claims.jti) }
      } catch {
        return null
      }
    }
  }
}
