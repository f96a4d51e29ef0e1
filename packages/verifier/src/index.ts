// Verifies authd access tokens inside another service, from authd's JWKS and without calling
// authd for each request. Built on `jose` alone so that it can be copied or imported anywhere.
//
//   const verifier = createVerifier({ issuer: 'https://auth.example.com', audience: 'orders' })   // jwks_uri from discovery
//   const verifier = createVerifier({ jwksUrl: 'http://authd:3000/.well-known/jwks.json', issuer: 'https://auth.example.com', audience: 'orders' })
//   const claims = await verifier.verify(token)   // AuthdTokenError { code: 'token_expired' | 'token_invalid' }
//   await verifier.verify(token, { requireAmr: ['mfa'], maxAuthAge: 300 })   // … | 'insufficient_user_authentication'
//
// The JWKS is fetched once and cached; a token with a `kid` the cache does not know makes jose
// fetch the set again (at most once per `cooldownDuration`). authd publishes a new key before it
// signs with it, so a key rotation costs no failed verification.
// This module is standalone on purpose: it imports nothing else from authd.
import { createRemoteJWKSet, jwtVerify, errors, type JWTVerifyGetKey } from 'jose'

/** The claims of an authd access token (API.md, "For other services"). */
export interface AuthdClaims {
  iss: string
  aud: string | string[]
  /** The user id. */
  sub: string
  /** The session id: one login, one refresh-token family. */
  sid: string
  jti: string
  iat: number
  exp: number
  roles: string[]
  /**
   * RFC 8176 authentication methods of the session's login: 'pwd', 'otp', 'hwk', 'swk', and 'mfa'
   * whenever two factors were used. Absent in tokens from before authd's MFA work.
   */
  amr?: string[]
  /** Seconds since the epoch when the user last actively authenticated in this session (OIDC `auth_time`). */
  auth_time?: number
  [claim: string]: unknown
}

/**
 * How a token may be refused. `insufficient_user_authentication` (RFC 9470) is apart from
 * `token_invalid` because the token is genuine: the client should make the user authenticate
 * again (a second factor, or recently) and retry, not throw the session away.
 */
export type AuthdTokenErrorCode = 'token_expired' | 'token_invalid' | 'insufficient_user_authentication'

/**
 * What a route asks of the user's authentication, beyond a valid token (RFC 9470 step-up).
 * Both are checked after the token itself is found valid.
 */
export interface AuthRequirements {
  /** Every value must be in the token's `amr`, e.g. ['mfa'] for a second factor; a token without `amr` fails. */
  requireAmr?: string[]
  /** Seconds: `auth_time` must be present and at most this long ago (plus `clockTolerance`). */
  maxAuthAge?: number
}

/**
 * The token is not one this service may accept. Answer 401; never retry with the same token (after
 * `insufficient_user_authentication`, retry with one issued after the user authenticated again).
 */
export class AuthdTokenError extends Error {
  readonly code: AuthdTokenErrorCode
  /**
   * For `insufficient_user_authentication`: the requirements the token was checked against, so that
   * the answer can tell the client what to obtain (e.g. RFC 9470's `max_age`).
   */
  readonly requirements?: AuthRequirements
  constructor (code: AuthdTokenErrorCode, message: string, options?: { cause?: unknown, requirements?: AuthRequirements }) {
    super(message, options)
    this.name = 'AuthdTokenError'
    this.code = code
    if (options?.requirements !== undefined) this.requirements = options.requirements
  }
}

/**
 * authd's JWKS could not be fetched (network, timeout, not 200, not a key set). This says nothing
 * about the token: answer 503 so that the client retries, rather than 401, which would make it
 * throw away a good token.
 */
export class AuthdJwksUnavailableError extends Error {
  readonly code = 'jwks_unavailable'
  constructor (message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'AuthdJwksUnavailableError'
  }
}

export interface VerifierOptions extends AuthRequirements {
  /**
   * authd's `/.well-known/jwks.json`, e.g. `https://auth.example.com/.well-known/jwks.json`. Absent: the
   * `jwks_uri` of `<issuer>/.well-known/openid-configuration` (the first issuer of a list), fetched at the
   * first verification; its `issuer` must be exactly that issuer.
   */
  jwksUrl?: string | URL
  /**
   * authd's issuer: its PUBLIC_URL (the `issuer` of its discovery document), or its JWT_ISSUER when
   * that is set. A list accepts each (during a migration: the new URL and the old `'authd'`).
   */
  issuer: string | string[]
  /**
   * The audience this service answers to: one of authd's JWT_AUDIENCE (default there: 'authd'), or a
   * service client's audience. A token is accepted only if its `aud` (a string or a list) holds it.
   */
  audience: string
  /** Accepted signature algorithms; never include HS* (that would let the public key act as a secret). */
  algorithms?: string[]
  /** Seconds of clock skew tolerated for `exp` (default 0); `iat` may be up to 60 s plus this in the future. */
  clockTolerance?: number
  /** Milliseconds a fetched JWKS is kept before it is fetched again (jose default: 10 minutes). */
  cacheMaxAge?: number
  /** Milliseconds after a fetch during which an unknown `kid` does not cause another fetch (jose default: 30 s). */
  cooldownDuration?: number
  /** Milliseconds a JWKS fetch may take (jose default: 5 s). */
  timeoutDuration?: number
}

export interface Verifier {
  /**
   * Resolves with the token's claims, or rejects with AuthdTokenError / AuthdJwksUnavailableError.
   * `requirements` replace the verifier's defaults key by key (`requireAmr: []` drops a default one),
   * so that one verifier serves routes that need MFA and routes that do not.
   */
  verify (token: string, requirements?: AuthRequirements): Promise<AuthdClaims>
}

export const DEFAULT_ALGORITHMS = ['RS256', 'ES256', 'EdDSA']
export const ACCESS_TOKEN_TYP = 'at+jwt'
/** Far above any real access token; refusing longer input bounds the work a forged one costs. */
export const MAX_TOKEN_LENGTH = 8192
const FUTURE_IAT_ALLOWANCE = 60
const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/

/** Errors of the key lookup that come from the token (its header), not from fetching the JWKS. */
const TOKEN_KEY_ERRORS = new Set(['ERR_JWKS_NO_MATCHING_KEY', 'ERR_JWKS_MULTIPLE_MATCHING_KEYS', 'ERR_JOSE_NOT_SUPPORTED', 'ERR_JWS_INVALID', 'ERR_JOSE_ALG_NOT_ALLOWED'])

const isNonEmptyString = (value: unknown): value is string => typeof value === 'string' && value !== ''
const isStringArray = (value: unknown): value is string[] => Array.isArray(value) && value.every((item) => typeof item === 'string')

/**
 * Throws a TypeError unless the requirements are well-formed. A mistyped one (e.g. requireAmr: 'mfa')
 * would otherwise check something other than what the service meant, so it is a programming error
 * rather than a silently weaker check.
 */
export function checkRequirements (requirements: AuthRequirements, where: string): void {
  const { requireAmr, maxAuthAge } = requirements
  if (requireAmr !== undefined && !(Array.isArray(requireAmr) && requireAmr.every(isNonEmptyString))) {
    throw new TypeError(`${where}: "requireAmr" must be an array of non-empty strings`)
  }
  if (maxAuthAge !== undefined && !(typeof maxAuthAge === 'number' && Number.isFinite(maxAuthAge) && maxAuthAge >= 0)) {
    throw new TypeError(`${where}: "maxAuthAge" must be a number of seconds >= 0`)
  }
}

/**
 * The `jwks_uri` of the issuer's OpenID discovery document (`<issuer>/.well-known/openid-configuration`),
 * whose `issuer` must be exactly `issuer` (OpenID Connect Discovery §4.3), or AuthdJwksUnavailableError.
 */
export async function discoverJwksUrl (issuer: string, timeoutMs: number): Promise<URL> {
  const where = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`
  let document: { issuer?: unknown, jwks_uri?: unknown }
  try {
    const response = await fetch(where, { headers: { accept: 'application/json' }, redirect: 'error', signal: AbortSignal.timeout(timeoutMs) })
    if (response.status !== 200) throw new Error(`HTTP ${response.status}`)
    document = await response.json() as typeof document
  } catch (error) {
    throw new AuthdJwksUnavailableError(`Cannot fetch authd's discovery document from ${where}`, { cause: error })
  }
  if (document?.issuer !== issuer) throw new AuthdJwksUnavailableError(`The discovery document at ${where} is for another issuer`)
  let jwksUrl: URL | undefined
  try { jwksUrl = new URL(String(document.jwks_uri)) } catch {}
  if (typeof document.jwks_uri !== 'string' || jwksUrl === undefined || !['http:', 'https:'].includes(jwksUrl.protocol)) {
    throw new AuthdJwksUnavailableError(`The discovery document at ${where} has no usable jwks_uri`)
  }
  return jwksUrl
}

export function createVerifier (options: VerifierOptions): Verifier {
  const { issuer, audience } = options
  if (!(isNonEmptyString(issuer) || (Array.isArray(issuer) && issuer.length > 0 && issuer.every(isNonEmptyString)))) {
    throw new TypeError('createVerifier: "issuer" is required (a string, or a non-empty list of strings)')
  }
  if (!isNonEmptyString(audience)) throw new TypeError('createVerifier: "audience" is required')
  const algorithms = options.algorithms ?? DEFAULT_ALGORITHMS
  if (algorithms.length === 0 || algorithms.some((alg) => alg === 'none' || alg.startsWith('HS'))) {
    throw new TypeError('createVerifier: "algorithms" must list asymmetric algorithms only')
  }
  const clockTolerance = options.clockTolerance ?? 0
  checkRequirements(options, 'createVerifier')
  const defaults: AuthRequirements = { requireAmr: options.requireAmr, maxAuthAge: options.maxAuthAge }

  const remoteSet = (url: URL): JWTVerifyGetKey => createRemoteJWKSet(url, {
    ...(options.cacheMaxAge !== undefined ? { cacheMaxAge: options.cacheMaxAge } : {}),
    ...(options.cooldownDuration !== undefined ? { cooldownDuration: options.cooldownDuration } : {}),
    ...(options.timeoutDuration !== undefined ? { timeoutDuration: options.timeoutDuration } : {})
  })
  // With jwksUrl the set is known now; without, discovery finds it once (a failure is retried at the next verification).
  let remote: Promise<JWTVerifyGetKey> | undefined = options.jwksUrl === undefined ? undefined : Promise.resolve(remoteSet(new URL(options.jwksUrl)))
  const discoverFrom = Array.isArray(issuer) ? issuer[0] as string : issuer
  const keySet = async (): Promise<JWTVerifyGetKey> => {
    remote ??= discoverJwksUrl(discoverFrom, options.timeoutDuration ?? 5000).then(remoteSet, (error: unknown) => {
      remote = undefined
      throw error
    })
    return await remote
  }
  // Tells "the JWKS could not be fetched" apart from "no key in it fits this token".
  const getKey: JWTVerifyGetKey = async (header, token) => {
    const keys = await keySet()
    try {
      return await keys(header, token)
    } catch (error) {
      if (error instanceof errors.JOSEError && TOKEN_KEY_ERRORS.has(error.code)) throw error
      throw new AuthdJwksUnavailableError(`Cannot fetch authd's JWKS${options.jwksUrl === undefined ? '' : ` from ${String(options.jwksUrl)}`}`, { cause: error })
    }
  }

  return {
    async verify (token: string, requirements?: AuthRequirements): Promise<AuthdClaims> {
      // Checked before the token so that a mistake in the service fails on every call, not only on good tokens.
      if (requirements !== undefined) checkRequirements(requirements, 'verify')
      const requireAmr = requirements?.requireAmr ?? defaults.requireAmr
      const maxAuthAge = requirements?.maxAuthAge ?? defaults.maxAuthAge
      if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH || !JWS_COMPACT.test(token)) {
        throw new AuthdTokenError('token_invalid', 'Not a signed JWT')
      }
      let payload: Record<string, unknown>
      try {
        ({ payload } = await jwtVerify(token, getKey, {
          issuer,
          audience,
          algorithms,
          typ: ACCESS_TOKEN_TYP,
          clockTolerance,
          requiredClaims: ['sub', 'sid', 'jti', 'exp', 'iat']
        }))
      } catch (error) {
        if (error instanceof AuthdJwksUnavailableError) throw error
        if (error instanceof errors.JWTExpired) throw new AuthdTokenError('token_expired', 'The token has expired', { cause: error })
        throw new AuthdTokenError('token_invalid', 'The token is not valid', { cause: error })
      }
      // jose checks iat's type but not that it is in the past; a signed token from the future
      // means a broken clock or a forgery (authd refuses the same).
      const now = Math.floor(Date.now() / 1000)
      if ((payload.iat as number) > now + FUTURE_IAT_ALLOWANCE + clockTolerance) {
        throw new AuthdTokenError('token_invalid', 'The token was issued in the future')
      }
      const roles = payload.roles ?? []
      if (!isNonEmptyString(payload.sub) || !isNonEmptyString(payload.sid) || !isNonEmptyString(payload.jti) ||
        !isStringArray(roles) ||
        (payload.amr !== undefined && !isStringArray(payload.amr)) ||
        (payload.auth_time !== undefined && !(typeof payload.auth_time === 'number' && Number.isFinite(payload.auth_time)))) {
        throw new AuthdTokenError('token_invalid', 'The token lacks authd claims')
      }
      // Like iat: a future auth_time would pass any maxAuthAge for as long as the token lives.
      if (typeof payload.auth_time === 'number' && payload.auth_time > now + FUTURE_IAT_ALLOWANCE + clockTolerance) {
        throw new AuthdTokenError('token_invalid', 'The token says the user authenticated in the future')
      }
      const claims = { ...payload, roles } as AuthdClaims

      // The token is genuine from here on; what follows is whether this user's login is strong or
      // recent enough, which the user can fix by authenticating again (RFC 9470).
      const applied: AuthRequirements = {
        ...(requireAmr !== undefined && requireAmr.length > 0 ? { requireAmr } : {}),
        ...(maxAuthAge !== undefined ? { maxAuthAge } : {})
      }
      if (applied.requireAmr !== undefined) {
        const amr = claims.amr ?? []
        const missing = applied.requireAmr.filter((method) => !amr.includes(method))
        if (missing.length > 0) {
          throw new AuthdTokenError('insufficient_user_authentication',
            `Stronger authentication is required: amr must include ${missing.join(', ')}`, { requirements: applied })
        }
      }
      if (applied.maxAuthAge !== undefined) {
        if (claims.auth_time === undefined) {
          throw new AuthdTokenError('insufficient_user_authentication', 'More recent authentication is required: the token has no auth_time', { requirements: applied })
        }
        if (now - claims.auth_time > applied.maxAuthAge + clockTolerance) {
          throw new AuthdTokenError('insufficient_user_authentication',
            `More recent authentication is required: within the last ${applied.maxAuthAge} s`, { requirements: applied })
        }
      }
      return claims
    }
  }
}
