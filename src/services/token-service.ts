// Issues and checks authd's two kinds of JWT (RFC 8725 practice):
// - access tokens: signed by the active key of the access-key set (ES256 by default, RS256,
//   EdDSA, or HS256 in single-service mode), header { alg, kid, typ: "at+jwt" } (RFC 9068),
//   verified by anyone through the JWKS; claims { iss, aud, sub, sid, jti, iat, exp, roles }.
// - refresh tokens: HS256 with a secret only authd holds, header typ "refresh+jwt" and a
//   distinct audience, so neither kind is ever accepted as the other (different key,
//   algorithm, typ and aud must all line up).
// Access tokens are signed by keys/jws-sign.ts with node:crypto, whose signature work runs on
// the thread pool instead of the event loop; the HMAC of a refresh token costs microseconds.
//
// Access tokens are verified with one fast-jwt verifier per key, picked by the token's kid
// among authd's own keys (jku, x5u and embedded jwk headers are never looked at), each pinned
// to its key's algorithm and keeping its own verified-token cache. @fastify/jwt (which handles
// the single-key refresh tokens, see refreshJwtOptions) does not fit a key set: its `secret` callback only serves the async request.jwtVerify() (not
// the synchronous verify the authenticate hook and /v1/auth/verify use), pins one algorithm
// list for all keys, and caches a verifier per key string out of sight — a per-kid map is
// shorter and says plainly what is checked.
import { randomUUID } from 'node:crypto'
import { createVerifier, TokenError, type VerifierOptions } from 'fast-jwt'
import type { FastifyJWTOptions } from '@fastify/jwt'
import { AppError } from '../errors.js'
import { isUuid } from '../schemas/common.js'
import type { AccessKey } from '../keys/access-key.js'
import type { AccessKeyStore } from '../keys/key-store.js'
import { signJws } from '../keys/jws-sign.js'
import type { AuthdClaims } from '@authd/verifier'

/**
 * The claims of an access token as authd signs them: the published contract of the verifier
 * (@authd/verifier in packages/verifier: what other services read), with the one audience authd
 * itself issues.
 */
export type AccessClaims = AuthdClaims

/**
 * The claims of a service's access token (client credentials grant): `sub` and `client_id` are
 * the client id; no `sid` (no session) and no `roles`. The `client_id` claim is what tells it
 * apart from a user's token: verifyAccess refuses any token that carries one.
 */
export interface ClientAccessClaims {
  iss: string
  aud: string | string[]
  sub: string
  client_id: string
  scope: string
  jti: string
  iat: number
  exp: number
}

export interface RefreshClaims {
  sub: string
  sid: string
  jti: string
  exp: number
}

/** What an outstanding-token row records of a refresh token: enough to sign it again, identically. */
export interface RefreshRecord {
  sub: string
  sid: string
  jti: string
  /** Seconds since the epoch, as in the JWT. */
  iat: number
  exp: number
}

export interface IssuedRefresh extends RefreshRecord {
  token: string
  issuedAt: Date
  expiresAt: Date
}

/** Signs and verifies refresh tokens (the @fastify/jwt decorator, configured by refreshJwtOptions). */
export interface RefreshJwt {
  sign (payload: Record<string, unknown>): string
  verify (token: string): unknown
}

export interface TokenServiceOptions {
  accessKeys: AccessKeyStore
  refreshJwt: RefreshJwt
  /** The `iss` of new tokens. */
  issuer: string
  /** Every `iss` accepted on authd's own tokens: `issuer` and the previous ones (JWT_PREVIOUS_ISSUERS). */
  acceptedIssuers: string[]
  /** JWT_AUDIENCE: the first is authd's own (required on its routes), all go into users' tokens. */
  audiences: string[]
  accessTtl: number
  refreshTtl: number
}

export type TokenService = ReturnType<typeof createTokenService>

const REFRESH_TYP = 'refresh+jwt'

/**
 * @fastify/jwt options for refresh tokens: HS256 with authd's internal secret, their own typ
 * and audience, every claim the rotation needs required. Refresh tokens have one key and one
 * algorithm, which is exactly the case @fastify/jwt's synchronous app.jwt.sign/verify serve.
 */
export function refreshJwtOptions (options: { secret: Buffer, issuer: string, acceptedIssuers: string[], audience: string }): FastifyJWTOptions {
  const aud = `${options.audience}:refresh`
  return {
    secret: options.secret,
    // No expiresIn: iat and exp come in the payload (see signRefresh), so that a recorded
    // token can be signed again byte for byte.
    sign: { algorithm: 'HS256', iss: options.issuer, aud, header: { typ: REFRESH_TYP } } as FastifyJWTOptions['sign'],
    verify: {
      algorithms: ['HS256'],
      allowedIss: options.acceptedIssuers,
      allowedAud: aud,
      checkTyp: REFRESH_TYP,
      requiredClaims: ['sub', 'sid', 'jti', 'exp', 'iat']
    } as FastifyJWTOptions['verify']
  }
}
export const ACCESS_TYP = 'at+jwt'

/** Maps a library verification failure onto authd's two token codes, without its message. */
function toAppError (error: unknown): AppError {
  if (error instanceof AppError) return error
  const code = (error as { code?: string }).code
  if (code === TokenError.codes.expired) return new AppError('token_expired')
  return new AppError('token_invalid')
}

/** The kid of a token's header, read without trusting anything else in it. */
function headerKid (token: string): string | undefined {
  const dot = token.indexOf('.')
  // authd's headers are ~100 characters; a huge one is not worth parsing.
  if (dot < 1 || dot > 1024) return undefined
  try {
    const header = JSON.parse(Buffer.from(token.slice(0, dot), 'base64url').toString('utf8')) as { kid?: unknown } | null
    return typeof header?.kid === 'string' ? header.kid : undefined
  } catch {
    return undefined
  }
}

export function createTokenService (options: TokenServiceOptions) {
  const { accessKeys, refreshJwt, issuer, acceptedIssuers, audiences, accessTtl, refreshTtl } = options
  const ownAudience = audiences[0]
  if (ownAudience === undefined || !acceptedIssuers.includes(issuer)) throw new TypeError('createTokenService: an audience and the issuer among the accepted ones are required')
  // RFC 7519 §4.1.3: a single audience is a string; several, an array (RFC 8725 §3.9).
  const userAudience: string | string[] = audiences.length === 1 ? ownAudience : audiences

  // Keyed by the key object: a key dropped from the set takes its verifier and cache with it.
  const signRefresh = (record: RefreshRecord): string =>
    refreshJwt.sign({ sub: record.sub, sid: record.sid, jti: record.jti, iat: record.iat, exp: record.exp })

  type Verify = (token: string) => unknown
  /** One fast-jwt verifier per key and kind, made on first use; keyed by the key object. */
  function cachedVerifiers (options: (key: AccessKey) => Partial<VerifierOptions> & { key: string | Buffer }): (key: AccessKey) => Verify {
    const made = new WeakMap<AccessKey, Verify>()
    return (key) => {
      let verifier = made.get(key)
      if (verifier === undefined) {
        verifier = createVerifier(options(key)) as Verify
        made.set(key, verifier)
      }
      return verifier
    }
  }

  const verifierFor = cachedVerifiers((key) => ({
    key: key.verifyKey,
    // Only this key's algorithm: an HS256 token "signed" with an RSA public key fails here.
    algorithms: [key.alg],
    allowedIss: acceptedIssuers,
    // Any token whose aud holds authd's own audience; one for other services only is refused.
    allowedAud: ownAudience,
    checkTyp: ACCESS_TYP,
    requiredClaims: ['iss', 'aud', 'sub', 'sid', 'jti', 'iat', 'exp'],
    // Verified tokens are remembered (until they expire), so /users/me skips the signature check.
    cache: 10_000
  }))

  // Services' tokens carry the audience their client was given (any list), so their verifier
  // checks signature, algorithm, issuer, typ and expiry but not `aud`: only introspection uses it,
  // and it reports the `aud` for the caller to judge.
  const clientVerifierFor = cachedVerifiers((key) => ({
    key: key.verifyKey,
    algorithms: [key.alg],
    allowedIss: acceptedIssuers,
    checkTyp: ACCESS_TYP,
    requiredClaims: ['iss', 'aud', 'sub', 'client_id', 'scope', 'jti', 'iat', 'exp']
  }))

  /** Signs access-token claims with the active key of the set: users' and services' tokens alike. */
  async function signAccessClaims (claims: Record<string, unknown>): Promise<string> {
    const key = accessKeys.signingKey()
    return await signJws(key, { alg: key.alg, kid: key.kid, typ: ACCESS_TYP }, claims)
  }

  /** The key a token's kid names among authd's own, or token_invalid. */
  function keyOf (token: string): AccessKey {
    const kid = headerKid(token)
    const key = kid === undefined ? undefined : accessKeys.find(kid)
    if (key === undefined) throw new AppError('token_invalid')
    return key
  }

  /** The token's claims as the verifier of its key (found by kid) checks them, or the AppError. */
  function verifiedBy (verifiers: (key: AccessKey) => Verify, token: string): unknown {
    const key = keyOf(token)
    try {
      return verifiers(key)(token)
    } catch (error) {
      throw toAppError(error)
    }
  }

  /** fast-jwt does not reject tokens issued in the future; a signed one means a broken clock or forgery. */
  const issuedInFuture = (iat: unknown): boolean => typeof iat !== 'number' || iat > Math.floor(Date.now() / 1000) + 60

  return {
    accessTtl,
    refreshTtl,
    /** The access-key set: the JWKS, `authd keys`, and reload() for tests. */
    accessKeys,
    publicJwks: () => accessKeys.publicJwks(),
    /** The `iss` of new tokens (the discovery `issuer`). */
    issuer,
    /** The algorithms that sign access tokens now or may have signed live ones: every key of the set. */
    signingAlgorithms: (): string[] => [...new Set([accessKeys.signingKey().alg, ...accessKeys.publicJwks().keys.map((k) => k.alg)])],

    /**
     * `auth`: how and when the session's user last authenticated, as `amr` (RFC 8176) and
     * `auth_time` (OIDC); without it (a caller that has no session row at hand) `pwd` now.
     */
    async signAccess (user: { id: string, roles: string[] }, sessionId: string, auth?: { amr: string[], authTime: Date }): Promise<string> {
      const iat = Math.floor(Date.now() / 1000)
      return await signAccessClaims({
        sid: sessionId,
        roles: user.roles,
        amr: auth?.amr ?? ['pwd'],
        auth_time: auth === undefined ? iat : Math.floor(auth.authTime.getTime() / 1000),
        iss: issuer,
        aud: userAudience,
        sub: user.id,
        jti: randomUUID(),
        iat,
        exp: iat + accessTtl
      })
    },

    /**
     * A new refresh token; the caller records `jti`, `issuedAt` and `expiresAt` as an
     * outstanding token, which is all `signRefresh` needs to give the same token again.
     */
    issueRefresh (userId: string, sessionId: string): IssuedRefresh {
      const iat = Math.floor(Date.now() / 1000)
      const record: RefreshRecord = { sub: userId, sid: sessionId, jti: randomUUID(), iat, exp: iat + refreshTtl }
      return { ...record, token: signRefresh(record), issuedAt: new Date(iat * 1000), expiresAt: new Date(record.exp * 1000) }
    },

    /**
     * The refresh token of a recorded outstanding token. HS256 is deterministic and the
     * claims are written in a fixed order, so the same record always gives the same string:
     * the grace window hands back the child a rotation issued instead of minting another.
     */
    signRefresh,

    /**
     * A service's access token (POST /oauth/token): same key, algorithm, typ and issuer as a
     * user's; `aud` the client's audience (empty: JWT_AUDIENCE, as users' tokens); no refresh token, no session.
     */
    async signClientAccess (client: { clientId: string, audience: string[] }, scope: string[]): Promise<string> {
      const iat = Math.floor(Date.now() / 1000)
      return await signAccessClaims({
        client_id: client.clientId,
        scope: scope.join(' '),
        iss: issuer,
        aud: client.audience.length === 0 ? userAudience : client.audience.length === 1 ? client.audience[0] : client.audience,
        sub: client.clientId,
        jti: randomUUID(),
        iat,
        exp: iat + accessTtl
      })
    },

    verifyAccess (token: string): AccessClaims {
      const claims = verifiedBy(verifierFor, token) as AccessClaims
      if (issuedInFuture(claims.iat)) throw new AppError('token_invalid')
      if (!isUuid(claims.sub) || !isUuid(claims.sid) || !Array.isArray(claims.roles)) throw new AppError('token_invalid')
      // A service's token is never a user's, even if one were signed with a session's claims:
      // authd's user routes refuse anything that names a client.
      if (claims.client_id !== undefined) throw new AppError('token_invalid')
      return claims
    },

    /** A service's access token, as introspection checks it (signature, issuer, typ, expiry). */
    verifyClientAccess (token: string): ClientAccessClaims {
      const claims = verifiedBy(clientVerifierFor, token) as ClientAccessClaims
      if (issuedInFuture(claims.iat) || claims.client_id !== claims.sub || typeof claims.scope !== 'string') throw new AppError('token_invalid')
      return claims
    },

    verifyRefresh (token: string): RefreshClaims {
      try {
        const claims = refreshJwt.verify(token) as RefreshClaims
        if (!isUuid(claims.sub) || !isUuid(claims.sid) || !isUuid(claims.jti)) throw new AppError('token_invalid')
        return claims
      } catch (error) {
        throw toAppError(error)
      }
    }
  }
}
