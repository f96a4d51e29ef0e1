// Small JWT utilities for the token tests: reading a token's parts without verifying it, and
// minting refresh tokens with the test secret (to make expired or odd-but-signed tokens).
import { createSigner } from 'fast-jwt'
import { TEST_ISSUER, testKeys } from './helper.js'

export interface RefreshPayload { sub: string, sid: string, jti: string, iat: number, exp: number, iss: string, aud: string }

export function decodePart (token: string, index: 0 | 1): Record<string, unknown> {
  const part = token.split('.')[index]
  if (part === undefined) throw new Error('not a JWT')
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>
}

export const decodeHeader = (token: string) => decodePart(token, 0)
export const decodePayload = <T = Record<string, unknown>>(token: string): T => decodePart(token, 1) as T
export const refreshClaims = (token: string): RefreshPayload => decodePayload<RefreshPayload>(token)

/** Signs a refresh token the way authd does (HS256, typ refresh+jwt) with exactly these claims. */
export async function signRefresh (claims: Record<string, unknown>, options: { audience?: string, issuer?: string, typ?: string, key?: Buffer } = {}): Promise<string> {
  const keys = await testKeys()
  const signer = createSigner({
    algorithm: 'HS256',
    key: options.key ?? keys.refreshSecret,
    header: { alg: 'HS256', typ: options.typ ?? 'refresh+jwt' }
  })
  return signer({ ...claims, iss: options.issuer ?? TEST_ISSUER, aud: options.audience ?? 'authd:refresh' })
}

/** Replaces one character of the signature (not the last, whose low bits may be padding). */
export function flipSignatureChar (token: string): string {
  const [h, p, s] = token.split('.') as [string, string, string]
  const i = Math.floor(s.length / 2)
  const c = s[i] === 'A' ? 'B' : 'A'
  return `${h}.${p}.${s.slice(0, i)}${c}${s.slice(i + 1)}`
}

/** The same header and signature with a modified payload. */
export function withPayload (token: string, change: (payload: Record<string, unknown>) => Record<string, unknown>): string {
  const [h, p, s] = token.split('.') as [string, string, string]
  const payload = change(JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>)
  return `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`
}
