// Issues and checks authd's two kinds of JWT (RFC 8725 practice):
// - access tokens: RS256, header { alg, kid, typ: "at+jwt" } (RFC 9068), verified by anyone
//   through the JWKS; claims { iss, aud, sub, sid, jti, iat, exp, roles }.
// - refresh tokens: HS256 with a secret only authd holds, header typ "refresh+jwt" and a
//   distinct audience, so neither kind is ever accepted as the other (different key,
//   algorithm, typ and aud must all line up).
// Access tokens are signed with jose through WebCrypto, whose RSA work runs on the thread
// pool instead of the event loop; the HMAC of a refresh token costs microseconds.
import { randomUUID } from 'node:crypto'
import { createSigner, createVerifier, TokenError } from 'fast-jwt'
import { SignJWT, importPKCS8 } from 'jose'
import { AppError } from '../errors.js'
import type { KeyMaterial } from './keys.js'

export interface AccessClaims {
  iss: string
  aud: string
  sub: string
  sid: string
  jti: string
  iat: number
  exp: number
  roles: string[]
}

export interface RefreshClaims {
  sub: string
  sid: string
  jti: string
  exp: number
}

export interface IssuedRefresh {
  token: string
  jti: string
  expiresAt: Date
  expiresIn: number
}

export interface TokenServiceOptions {
  keys: KeyMaterial
  issuer: string
  audience: string
  accessTtl: number
  refreshTtl: number
  /** Verifies an access token's signature and registered claims (from @fastify/jwt). */
  verifyAccessJwt: (token: string) => unknown
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
export const isUuid = (value: unknown): value is string => typeof value === 'string' && UUID.test(value)

export type TokenService = ReturnType<typeof createTokenService>

const REFRESH_TYP = 'refresh+jwt'
export const ACCESS_TYP = 'at+jwt'

/** Maps a library verification failure onto authd's two token codes, without its message. */
function toAppError (error: unknown): AppError {
  if (error instanceof AppError) return error
  const code = (error as { code?: string }).code
  if (code === TokenError.codes.expired) return new AppError('token_expired')
  return new AppError('token_invalid')
}

export function createTokenService (options: TokenServiceOptions) {
  const { keys, issuer, audience, accessTtl, refreshTtl } = options
  const refreshAudience = `${audience}:refresh`
  const accessKey = importPKCS8(keys.access.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 'RS256')

  const signRefresh = createSigner({
    algorithm: 'HS256',
    key: keys.refreshSecret,
    header: { alg: 'HS256', typ: REFRESH_TYP },
    iss: issuer,
    aud: refreshAudience,
    expiresIn: refreshTtl * 1000
  })
  const verifyRefreshJwt = createVerifier({
    algorithms: ['HS256'],
    key: keys.refreshSecret,
    allowedIss: issuer,
    allowedAud: refreshAudience,
    checkTyp: REFRESH_TYP,
    requiredClaims: ['sub', 'sid', 'jti', 'exp', 'iat']
  })

  return {
    accessTtl,
    refreshTtl,
    publicJwks: () => ({ keys: [keys.access.publicJwk] }),

    async signAccess (user: { id: string, roles: string[] }, sessionId: string): Promise<string> {
      return await new SignJWT({ sid: sessionId, roles: user.roles })
        .setProtectedHeader({ alg: 'RS256', kid: keys.access.kid, typ: ACCESS_TYP })
        .setIssuer(issuer)
        .setAudience(audience)
        .setSubject(user.id)
        .setJti(randomUUID())
        .setIssuedAt()
        .setExpirationTime(`${accessTtl}s`)
        .sign(await accessKey)
    },

    /** A new refresh token; the caller records `jti`/`expiresAt` as an outstanding token. */
    issueRefresh (userId: string, sessionId: string): IssuedRefresh {
      const jti = randomUUID()
      const token = signRefresh({ sub: userId, sid: sessionId, jti })
      const exp = Math.floor(Date.now() / 1000) + refreshTtl
      return { token, jti, expiresAt: new Date(exp * 1000), expiresIn: refreshTtl }
    },

    verifyAccess (token: string): AccessClaims {
      let claims: AccessClaims
      try {
        claims = options.verifyAccessJwt(token) as AccessClaims
      } catch (error) {
        throw toAppError(error)
      }
      // fast-jwt does not reject tokens issued in the future; a signed one means a broken clock or forgery.
      if (typeof claims.iat !== 'number' || claims.iat > Math.floor(Date.now() / 1000) + 60) throw new AppError('token_invalid')
      if (!isUuid(claims.sub) || !isUuid(claims.sid) || !Array.isArray(claims.roles)) throw new AppError('token_invalid')
      return claims
    },

    verifyRefresh (token: string): RefreshClaims {
      try {
        const claims = verifyRefreshJwt(token) as RefreshClaims
        if (!isUuid(claims.sub) || !isUuid(claims.sid) || !isUuid(claims.jti)) throw new AppError('token_invalid')
        return claims
      } catch (error) {
        throw toAppError(error)
      }
    }
  }
}
