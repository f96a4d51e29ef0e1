// The JWT attack suite (RFC 8725 and the usual CVE classes): every forged, misused, expired or
// revoked token is answered 401 problem JSON with the right code and
// `WWW-Authenticate: Bearer realm="authd", error="invalid_token"`, never a 5xx — whether it
// arrives as a bearer token (GET /v1/users/me), as `{ token }` to POST /v1/auth/verify, or as
// `{ refresh }` to POST /v1/app/auth/refresh.
//
// Only public behaviour is used: the kid and public key come from the JWKS endpoint, attacker
// keys are made here with jose / node:crypto. The one exception is authd's own test signing
// key (from test/helper.ts), needed to sign tokens whose only defect is a claim; a control
// token signed the same way must be accepted, which proves that helper signs like authd does.
import { createPublicKey, randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { SignJWT, UnsecuredJWT, exportJWK, generateKeyPair, type JWK, type JWTPayload } from 'jose'
import { assertProblem, buildWithDatabase, register, testKeys, type Session } from '../../helper.js'
import { decodeHeader, decodePayload, flipSignatureChar, signRefresh, withPayload } from '../../jwt-helper.js'

type Code = 'token_invalid' | 'token_expired'

const { app, database } = await buildWithDatabase(t)
const keys = await testKeys()
const now = () => Math.floor(Date.now() / 1000)
const b64json = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
const b64text = (text: string) => Buffer.from(text).toString('base64url')

// --- the three doors a token can be pushed through ---------------------------------------------
const viaBearer = async (token: string) => await app.inject({ method: 'GET', url: '/v1/users/me', headers: { authorization: `Bearer ${token}` } })
const viaVerify = async (token: string) => await app.inject({ method: 'POST', url: '/v1/auth/verify', payload: { token } })
const viaRefresh = async (token: string) => await app.inject({ method: 'POST', url: '/v1/app/auth/refresh', payload: { refresh: token } })

function assertRejected (t: Test, res: LightMyRequestResponse, code: Code): void {
  t.ok(res.statusCode < 500, `never a 5xx (${res.statusCode})`)
  assertProblem(t, res, 401, code)
  t.match(res.headers['www-authenticate'], /^Bearer realm="authd", error="invalid_token"$/, 'WWW-Authenticate names invalid_token')
}

// --- what an attacker can see: a real user's tokens and the JWKS ------------------------------
const victim = await register(app)
const accessHeader = decodeHeader(victim.tokens.access) as { alg: string, kid: string, typ: string }
const claims = decodePayload<JWTPayload & { sid: string, roles: string[] }>(victim.tokens.access)
const refreshPayload = decodePayload<Record<string, unknown>>(victim.tokens.refresh)
const jwks = (await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json() as { keys: Array<JWK & { kid: string, alg: string }> }
const publicJwk = jwks.keys.find((k) => k.kid === accessHeader.kid)
if (publicJwk === undefined) throw new Error('the access token\'s kid is not in the JWKS')
const { kid, alg } = publicJwk
const publicPem = createPublicKey({ key: publicJwk as import('node:crypto').JsonWebKey, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString()

// --- what an attacker can make -------------------------------------------------------------------
const attacker = await generateKeyPair('RS256', { extractable: true })
const attackerJwk = { ...await exportJWK(attacker.publicKey), kid: 'attacker-key', alg: 'RS256', use: 'sig' }

/** Fresh good claims (a new jti each time), with `change` applied; undefined values are removed. */
function forgedClaims (change: Record<string, unknown> = {}): JWTPayload {
  const out: Record<string, unknown> = { ...claims, jti: randomUUID(), iat: now(), exp: now() + 300, ...change }
  for (const key of Object.keys(out)) if (out[key] === undefined) delete out[key]
  return out
}

/** A token signed like authd signs access tokens (its own key), with these header/claims changes. */
async function signed (change: Record<string, unknown> = {}, header: Record<string, unknown> = {}, key: Parameters<SignJWT['sign']>[0] = keys.access.privateKey, algorithm = alg): Promise<string> {
  const protectedHeader: Record<string, unknown> = { alg: algorithm, kid, typ: 'at+jwt', ...header }
  for (const name of Object.keys(protectedHeader)) if (protectedHeader[name] === undefined) delete protectedHeader[name]
  return await new SignJWT(forgedClaims(change)).setProtectedHeader(protectedHeader as { alg: string }).sign(key)
}

const [h, p, sig] = victim.tokens.access.split('.') as [string, string, string]

// --- sessions whose tokens die by what happens to them ---------------------------------------------
async function loggedOut (): Promise<Session> {
  const s = await register(app)
  const res = await app.inject({ method: 'POST', url: '/v1/app/auth/logout', payload: { refresh: s.tokens.refresh } })
  if (res.statusCode !== 204) throw new Error(`logout failed: ${res.statusCode} ${res.body}`)
  return s
}
async function deletedUser (): Promise<Session> {
  const s = await register(app)
  const res = await app.inject({ method: 'DELETE', url: '/v1/users/me', headers: { authorization: `Bearer ${s.tokens.access}` }, payload: { password: s.password } })
  if (res.statusCode !== 204) throw new Error(`account deletion failed: ${res.statusCode} ${res.body}`)
  return s
}
async function deactivatedUser (): Promise<Session> {
  const s = await register(app)
  // No admin API yet: an operator switching the account off in the database.
  await database.prisma.user.update({ where: { id: s.user.id }, data: { isActive: false } })
  return s
}
const afterLogout = await loggedOut()
const deleted = await deletedUser()
const deactivated = await deactivatedUser()

interface Case {
  token: string
  /** Expected code at /v1/users/me and /v1/auth/verify; null: not sent there (it is no access token). */
  access?: Code | null
  /** Expected code at /v1/app/auth/refresh; null: not sent there (it is no refresh token). */
  refresh?: Code | null
}

const cases: Record<string, Case> = {
  // alg none (CVE-2015-9235 and friends), in every spelling
  'alg none, with trailing dot': { token: `${b64json({ alg: 'none', typ: 'at+jwt', kid })}.${b64json(forgedClaims())}.` },
  'alg none, without trailing dot': { token: `${b64json({ alg: 'none', typ: 'at+jwt', kid })}.${b64json(forgedClaims())}` },
  'alg none, made by jose UnsecuredJWT': { token: new UnsecuredJWT(forgedClaims()).encode() },
  'alg NONE with the genuine signature': { token: `${b64json({ alg: 'NONE', typ: 'at+jwt', kid })}.${p}.${sig}` },
  'alg none refresh token': { token: `${b64json({ alg: 'none', typ: 'refresh+jwt' })}.${b64json({ ...refreshPayload, jti: randomUUID() })}.` },

  // algorithm confusion: the public key used as an HMAC secret
  'HS256 keyed with the JWKS public key PEM': { token: await signed({}, { alg: 'HS256' }, new TextEncoder().encode(publicPem), 'HS256') },
  'HS256 keyed with the public key PEM, trimmed': { token: await signed({}, { alg: 'HS256' }, new TextEncoder().encode(publicPem.trim()), 'HS256') },
  'HS256 keyed with the public key PEM, no kid': { token: await signed({}, { alg: 'HS256', kid: undefined }, new TextEncoder().encode(publicPem), 'HS256') },
  'HS256 keyed with the public JWK\'s modulus': { token: await signed({}, { alg: 'HS256' }, Buffer.from(publicJwk.n ?? '', 'base64url'), 'HS256') },

  // keys authd does not hold
  'RS256 signed by another RSA key with authd\'s kid': { token: await signed({}, {}, attacker.privateKey, 'RS256') },
  'unknown kid, signed by another key': { token: await signed({}, { kid: 'attacker-key' }, attacker.privateKey, 'RS256') },
  'unknown kid, signed by authd\'s own key': { token: await signed({}, { kid: 'no-such-kid' }) },
  'jku pointing elsewhere': { token: await signed({}, { kid: 'attacker-key', jku: 'https://attacker.example/jwks.json' }, attacker.privateKey, 'RS256') },
  'jku pointing elsewhere, authd\'s kid': { token: await signed({}, { jku: 'https://attacker.example/jwks.json' }, attacker.privateKey, 'RS256') },
  'x5u pointing elsewhere': { token: await signed({}, { kid: 'attacker-key', x5u: 'https://attacker.example/cert.pem' }, attacker.privateKey, 'RS256') },
  'embedded jwk carrying the attacker\'s key': { token: await signed({}, { kid: 'attacker-key', jwk: attackerJwk }, attacker.privateKey, 'RS256') },
  'embedded jwk carrying the attacker\'s key, authd\'s kid': { token: await signed({}, { jwk: { ...attackerJwk, kid } }, attacker.privateKey, 'RS256') },

  // time
  expired: { token: await signed({ iat: now() - 3600, exp: now() - 1800 }), access: 'token_expired' },
  'not yet valid (nbf an hour ahead)': { token: await signed({ nbf: now() + 3600 }) },
  'issued in the future (iat an hour ahead)': { token: await signed({ iat: now() + 3600, exp: now() + 3900 }) },
  'issued in the future (iat two minutes ahead)': { token: await signed({ iat: now() + 120 }) },

  // whom it is for, and what it says
  'wrong iss': { token: await signed({ iss: 'https://attacker.example' }) },
  'wrong aud': { token: await signed({ aud: 'another-service' }) },
  'aud of refresh tokens': { token: await signed({ aud: `${String(claims.aud)}:refresh` }) },
  'missing sub': { token: await signed({ sub: undefined }) },
  'missing sid': { token: await signed({ sid: undefined }) },
  'missing jti': { token: await signed({ jti: undefined }) },
  'missing exp': { token: await signed({ exp: undefined }) },
  'typ missing': { token: await signed({}, { typ: undefined }) },
  'typ JWT instead of at+jwt': { token: await signed({}, { typ: 'JWT' }) },
  'typ refresh+jwt': { token: await signed({}, { typ: 'refresh+jwt' }) },

  // one kind of token for the other
  'refresh token used as access token': { token: victim.tokens.refresh, refresh: null },
  'access token used as refresh token': { token: victim.tokens.access, access: null },
  'refresh-shaped token signed with authd\'s access key': { token: await signed({ aud: `${String(claims.aud)}:refresh` }, { typ: 'refresh+jwt' }), access: 'token_invalid' },
  'refresh token with the access audience': { token: await signRefresh({ ...refreshPayload, jti: randomUUID(), iat: now(), exp: now() + 300 }, { audience: String(claims.aud) }) },
  'refresh token with typ JWT': { token: await signRefresh({ ...refreshPayload, jti: randomUUID(), iat: now(), exp: now() + 300 }, { typ: 'JWT' }) },
  'refresh token signed with another secret': { token: await signRefresh({ ...refreshPayload, jti: randomUUID() }, { key: Buffer.alloc(32, 7) }) },
  'expired refresh token': { token: await signRefresh({ ...refreshPayload, jti: randomUUID(), iat: now() - 7200, exp: now() - 3600 }), refresh: 'token_expired' },

  // signatures
  'signature stripped': { token: `${h}.${p}.` },
  'signature stripped, no dot': { token: `${h}.${p}` },
  'signature truncated': { token: `${h}.${p}.${sig.slice(0, sig.length - 8)}` },
  'signature altered by one character': { token: flipSignatureChar(victim.tokens.access) },
  'payload altered (roles: admin), original signature': { token: withPayload(victim.tokens.access, (c) => ({ ...c, roles: ['admin'] })) },
  'payload altered (another sub), original signature': { token: withPayload(victim.tokens.access, (c) => ({ ...c, sub: randomUUID() })) },
  'refresh signature altered by one character': { token: flipSignatureChar(victim.tokens.refresh) },
  'refresh payload altered (another sid), original signature': { token: withPayload(victim.tokens.refresh, (c) => ({ ...c, sid: randomUUID() })) },

  // not a JWT at all
  'header not base64url': { token: `!!!.${p}.${sig}` },
  'payload not base64url': { token: `${h}.@@@.${sig}` },
  'header not JSON': { token: `${b64text('{"alg":"RS256",')}.${p}.${sig}` },
  'payload not JSON': { token: `${h}.${b64text('not json')}.${sig}` },
  'header JSON but not an object': { token: `${b64text('"RS256"')}.${p}.${sig}` },
  'payload JSON but not an object': { token: `${h}.${b64text('[1,2,3]')}.${sig}` },
  'payload null': { token: `${h}.${b64text('null')}.${sig}` },
  'four segments': { token: `${h}.${p}.${sig}.${sig}` },
  'JWE-shaped (five segments)': { token: `${b64json({ alg: 'RSA-OAEP', enc: 'A256GCM', kid })}.${sig}.${sig}.${sig}.${sig}` },
  'empty segments': { token: '..' },

  // tokens of sessions and users that are gone
  'access token of a deleted user': { token: deleted.tokens.access },
  'refresh token of a deleted user': { token: deleted.tokens.refresh },
  'access token of a deactivated user': { token: deactivated.tokens.access },
  'refresh token of a deactivated user': { token: deactivated.tokens.refresh },
  'access token after logout': { token: afterLogout.tokens.access },
  'refresh token after logout (reuse after logout)': { token: afterLogout.tokens.refresh }
}

t.test('control: a token signed the way the suite signs, with nothing wrong, is accepted', async (t) => {
  const token = await signed()
  t.equal((await viaBearer(token)).statusCode, 200, 'GET /v1/users/me')
  t.equal((await viaVerify(token)).statusCode, 200, 'POST /v1/auth/verify')
  t.equal((await viaBearer(victim.tokens.access)).statusCode, 200, 'the victim\'s own access token works')
})

for (const [name, { token, access = 'token_invalid', refresh = 'token_invalid' }] of Object.entries(cases)) {
  t.test(name, async (t) => {
    if (access !== null) {
      assertRejected(t, await viaBearer(token), access)
      assertRejected(t, await viaVerify(token), access)
    }
    if (refresh !== null) assertRejected(t, await viaRefresh(token), refresh)
  })
}

t.test('an oversized token (100 KB header) is refused without a crash', async (t) => {
  const token = `${b64json({ alg, kid, typ: 'at+jwt', pad: 'x'.repeat(100_000) })}.${p}.${sig}`
  assertRejected(t, await viaBearer(token), 'token_invalid')
  // As a JSON body it is over BODY_LIMIT (413) or over the token field's length (400).
  for (const [door, res] of [['verify', await viaVerify(token)], ['refresh', await viaRefresh(token)]] as const) {
    t.ok([400, 401, 413].includes(res.statusCode), `${door}: 400, 401 or 413 (${res.statusCode})`)
    t.match(res.headers['content-type'], /^application\/problem\+json/, `${door}: problem JSON`)
    t.equal(res.json().status, res.statusCode, `${door}: status in the body`)
  }
  t.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'the service is still up')
})

t.test('after all that, the victim\'s genuine tokens still work', async (t) => {
  t.equal((await viaBearer(victim.tokens.access)).statusCode, 200, 'access token')
  t.equal((await viaRefresh(victim.tokens.refresh)).statusCode, 200, 'refresh token')
})
