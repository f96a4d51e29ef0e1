// One access-token signing key: what it is (kid, alg, times), how it is made, and how it is
// read from and written to a private JWK. The kid of an asymmetric key is the RFC 7638
// thumbprint of its public key, so one key has the same kid wherever it is configured; the
// HS256 secret's kid is random (see hs256AccessKey).
import { createPrivateKey, createPublicKey, createSecretKey, generateKeyPair, randomBytes, type JsonWebKey, type KeyObject } from 'node:crypto'
import { promisify } from 'node:util'
import { calculateJwkThumbprint, exportJWK, type JWK } from 'jose'

export const ACCESS_ALGS = ['RS256', 'ES256', 'EdDSA', 'HS256'] as const
export type AccessAlg = typeof ACCESS_ALGS[number]
export type AsymmetricAlg = Exclude<AccessAlg, 'HS256'>

export type PublicJwk = JWK & { kty: string, kid: string, alg: string, use: 'sig' }

/** A private JWK as authd stores it: the key, its kid and alg, and when it was made and may sign. */
export type StoredJwk = JWK & { kid: string, alg: AccessAlg, createdAt: string, activatesAt: string }

export interface AccessKey {
  kid: string
  alg: AccessAlg
  createdAt: Date
  /** The key signs from this moment on, unless a newer key has activated too. */
  activatesAt: Date
  /** Signs tokens: the private key, or the HS256 secret. */
  privateKey: KeyObject
  /** Checks signatures: the public key PEM, or the HS256 secret. */
  verifyKey: string | Buffer
  /** The public key PEM; empty for HS256. */
  publicKeyPem: string
  /** What the JWKS publishes; undefined for HS256, whose key is never published. */
  publicJwk: PublicJwk | undefined
}

export interface KeyTimes { createdAt: Date, activatesAt: Date }

const EPOCH: KeyTimes = { createdAt: new Date(0), activatesAt: new Date(0) }

/** The one algorithm authd uses with a key of this type (RSA → RS256, P-256 → ES256, Ed25519 → EdDSA). */
export function algorithmOf (key: KeyObject): AsymmetricAlg {
  const type = key.asymmetricKeyType
  if (type === 'rsa') {
    if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw new Error('an RSA key must have at least 2048 bits')
    return 'RS256'
  }
  if (type === 'ec') {
    if (key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw new Error('an EC key must be on curve P-256 (ES256)')
    return 'ES256'
  }
  if (type === 'ed25519') return 'EdDSA'
  throw new Error(`unsupported key type ${String(type)} (use RSA, EC P-256 or Ed25519)`)
}

/** An access key from a private KeyObject; `alg`, when given, must be the key type's algorithm. */
export async function accessKeyFromPrivateKey (privateKey: KeyObject, times: KeyTimes = EPOCH, alg?: string): Promise<AccessKey> {
  if (privateKey.type !== 'private') throw new Error('not a private key')
  const keyAlg = algorithmOf(privateKey)
  if (alg !== undefined && alg !== keyAlg) throw new Error(`alg ${alg} does not match the key type (${keyAlg})`)
  const publicKey = createPublicKey(privateKey)
  const jwk = await exportJWK(publicKey)
  const kid = await calculateJwkThumbprint(jwk)
  return {
    kid,
    alg: keyAlg,
    ...times,
    privateKey,
    verifyKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    publicJwk: { ...jwk, kty: jwk.kty as string, kid, alg: keyAlg, use: 'sig' }
  }
}

export async function accessKeyFromPem (pem: string, times: KeyTimes = EPOCH): Promise<AccessKey> {
  return await accessKeyFromPrivateKey(createPrivateKey(pem), times)
}

/** A new key pair for `alg`. */
export async function generateAccessKey (alg: AsymmetricAlg, times: KeyTimes): Promise<AccessKey> {
  const generate = promisify(generateKeyPair)
  const { privateKey } = alg === 'RS256'
    ? await generate('rsa', { modulusLength: 2048 })
    : alg === 'ES256'
      ? await generate('ec', { namedCurve: 'P-256' })
      : await generate('ed25519')
  return await accessKeyFromPrivateKey(privateKey, times)
}

/**
 * The single-service HS256 key: the secret, under a kid drawn at random when it is loaded. A
 * thumbprint of an oct JWK is an unsalted SHA-256 of the secret itself, and every token header
 * would publish it (a free offline check of guesses, the same value across deployments sharing a
 * secret). The kid names nothing anyway: the key store finds the one secret for any kid.
 */
export async function hs256AccessKey (secret: string): Promise<AccessKey> {
  const bytes = Buffer.from(secret)
  // 32 bytes, base64url: the same shape as a thumbprint kid.
  const kid = randomBytes(32).toString('base64url')
  return { kid, alg: 'HS256', ...EPOCH, privateKey: createSecretKey(bytes), verifyKey: bytes, publicKeyPem: '', publicJwk: undefined }
}

function parseTime (value: unknown, member: string): Date {
  if (value === undefined) return new Date(0)
  const date = typeof value === 'string' ? new Date(value) : new Date(NaN)
  if (Number.isNaN(date.getTime())) throw new Error(`${member} must be an ISO-8601 time`)
  return date
}

/**
 * An access key from a private JWK (RSA, EC P-256 or Ed25519). `createdAt`/`activatesAt` are
 * authd's own members (absent: the key is old and active); `kid`, when present, must be the thumbprint.
 */
export async function accessKeyFromJwk (jwk: Record<string, unknown>): Promise<AccessKey> {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) throw new Error('not a JWK object')
  if (jwk.kty === 'oct') throw new Error('symmetric (oct) keys are not accepted: use ACCESS_TOKEN_ALG=HS256 with ACCESS_TOKEN_SECRET')
  if (jwk.d === undefined) throw new Error('not a private key (no "d")')
  if (jwk.use !== undefined && jwk.use !== 'sig') throw new Error('use must be "sig"')
  const times = { createdAt: parseTime(jwk.createdAt, 'createdAt'), activatesAt: parseTime(jwk.activatesAt, 'activatesAt') }
  const { createdAt: _c, activatesAt: _a, kid: _k, alg: _alg, use: _u, key_ops: _o, ...material } = jwk
  let privateKey: KeyObject
  try {
    privateKey = createPrivateKey({ key: material as JsonWebKey, format: 'jwk' })
  } catch {
    throw new Error(`not a usable private key (kty ${String(jwk.kty)})`)
  }
  const key = await accessKeyFromPrivateKey(privateKey, times, typeof jwk.alg === 'string' ? jwk.alg : undefined)
  if (jwk.kid !== undefined && jwk.kid !== key.kid) throw new Error(`kid must be absent or the RFC 7638 thumbprint of the key (${key.kid})`)
  return key
}

/** The key as authd stores it: a private JWK with kid, alg, use and its two times. */
export function toStoredJwk (key: AccessKey): StoredJwk {
  if (key.alg === 'HS256') throw new Error('the HS256 key lives in ACCESS_TOKEN_SECRET and is never stored')
  const jwk = key.privateKey.export({ format: 'jwk' }) as JWK
  return { ...jwk, kid: key.kid, alg: key.alg, use: 'sig', createdAt: key.createdAt.toISOString(), activatesAt: key.activatesAt.toISOString() }
}
