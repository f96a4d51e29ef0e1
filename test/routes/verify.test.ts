// POST /v1/auth/verify (simplejwt's verify view) and the access-token format other services
// rely on: RS256 with a kid from the JWKS, typ at+jwt, and verifiable with any JOSE library
// without calling authd. Every forged, expired or misdirected token is a 401, never a 5xx.
import { createHmac, generateKeyPairSync, randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { SignJWT, createLocalJWKSet, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose'
import { assertProblem, build, login, register, TEST_ISSUER, testKeys } from '../helper.js'

const app = await build(t)
const keys = await testKeys()
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
const decode = (token: string, index: 0 | 1) => JSON.parse(Buffer.from(token.split('.')[index] as string, 'base64url').toString()) as Record<string, unknown>

async function verify (token: unknown): Promise<LightMyRequestResponse> {
  return await app.inject({ method: 'POST', url: '/v1/auth/verify', payload: { token } })
}

/** An RS256 access token signed with authd's own test key, so only the named defect is wrong. */
async function signAccess (claims: JWTPayload, header: Record<string, unknown> = {}, key: Parameters<SignJWT['sign']>[0] = keys.access.privateKey): Promise<string> {
  return await new SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid: keys.access.kid, typ: 'at+jwt', ...header })
    .sign(key)
}

/** Good claims for a live session of a fresh user, as authd would issue them. */
async function liveClaims () {
  const s = await register(app)
  const claims = decode(s.tokens.access, 1) as JWTPayload & { sid: string, roles: string[] }
  return { s, claims }
}

function assertRejected (t: Test, res: LightMyRequestResponse, code = 'token_invalid'): void {
  t.ok(res.statusCode < 500, `never a 5xx (${res.statusCode})`)
  assertProblem(t, res, 401, code)
  t.equal(res.headers['www-authenticate'], 'Bearer realm="authd", error="invalid_token"')
  t.notOk('valid' in res.json(), 'no verdict in the problem body')
}

t.test('a valid access token: 200 { valid: true, claims } with every documented claim', async (t) => {
  const before = Math.floor(Date.now() / 1000)
  const s = await register(app)
  const res = await verify(s.tokens.access)
  t.equal(res.statusCode, 200, res.body)
  t.match(res.headers['cache-control'], /no-store/)
  const body = res.json()
  t.equal(body.valid, true)
  // API.md v1 additions: access tokens gained amr (RFC 8176) and auth_time.
  t.same(Object.keys(body.claims).sort(), ['amr', 'aud', 'auth_time', 'exp', 'iat', 'iss', 'jti', 'roles', 'sid', 'sub'])
  t.same(body.claims.amr, ['pwd'], 'a password login')
  t.ok(body.claims.auth_time >= before && body.claims.auth_time <= body.claims.iat, 'authenticated when the session began (the registration)')
  t.equal(body.claims.iss, TEST_ISSUER)
  t.equal(body.claims.aud, 'authd')
  t.equal(body.claims.sub, s.user.id)
  t.match(body.claims.sid, UUID)
  t.match(body.claims.jti, UUID)
  t.ok(Number.isInteger(body.claims.iat) && Number.isInteger(body.claims.exp), 'iat/exp are integer seconds')
  t.equal(body.claims.exp - body.claims.iat, 300, 'lives ACCESS_TOKEN_TTL (300 s)')
  t.equal(body.claims.exp - body.claims.iat, s.tokens.accessExpiresIn, 'as announced in accessExpiresIn')
  t.same(body.claims.roles, [])
  t.same(body.claims, decode(s.tokens.access, 1), 'exactly the claims inside the token')

  // A second login is another session: another sid and jti.
  const again = (await login(app, s.email, s.password)).json().tokens.access as string
  const other = (await verify(again)).json().claims
  t.equal(other.sub, s.user.id)
  t.not(other.sid, body.claims.sid, 'new session id')
  t.not(other.jti, body.claims.jti, 'new token id')
})

t.test('the roles claim carries the user\'s roles', async (t) => {
  const s = await register(app)
  await app.db.prisma.user.update({ where: { id: s.user.id }, data: { roles: ['admin', 'support'] } })
  const access = (await login(app, s.email, s.password)).json().tokens.access as string
  const res = await verify(access)
  t.equal(res.statusCode, 200)
  t.same(res.json().claims.roles, ['admin', 'support'])
})

t.test('the access token header is { alg: RS256, kid, typ: at+jwt } and kid is in the JWKS', async (t) => {
  const s = await register(app)
  t.same(decode(s.tokens.access, 0), { alg: 'RS256', kid: keys.access.kid, typ: 'at+jwt' })
  const jwks = (await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json() as JSONWebKeySet
  const kid = decode(s.tokens.access, 0).kid
  t.equal(jwks.keys.filter((k) => k.kid === kid).length, 1, 'exactly one JWKS key has the token\'s kid')
})

t.test('another service verifies the access token with jose and the JWKS alone', async (t) => {
  const s = await register(app)
  const jwksReply = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })
  t.equal(jwksReply.statusCode, 200)
  // From here on nothing of authd is used but the JSON of its JWKS.
  const JWKS = createLocalJWKSet(JSON.parse(jwksReply.body) as JSONWebKeySet)
  const { payload, protectedHeader } = await jwtVerify(s.tokens.access, JWKS, {
    issuer: TEST_ISSUER,
    audience: 'authd',
    algorithms: ['RS256'],
    typ: 'at+jwt',
    requiredClaims: ['sub', 'sid', 'jti', 'iat', 'exp', 'roles']
  })
  t.equal(payload.sub, s.user.id)
  t.match(payload.sid, UUID)
  t.same(payload.roles, [])
  t.equal(protectedHeader.kid, keys.access.kid)

  // The same verifier refuses a token authd did not sign.
  const foreign = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
  const forged = await signAccess(decode(s.tokens.access, 1), {}, foreign)
  await t.rejects(jwtVerify(forged, JWKS, { issuer: TEST_ISSUER, audience: 'authd' }), 'a foreign signature fails with jose too')
  // And the refresh token is not an access token for other services either.
  await t.rejects(jwtVerify(s.tokens.refresh, JWKS, { issuer: TEST_ISSUER, audience: 'authd' }), 'the refresh token does not verify against the JWKS')
})

t.test('the body must be { token: string }', async (t) => {
  const s = await register(app)
  for (const payload of [{}, { token: '' }, { token: 123 }, { token: null }, { token: [s.tokens.access] }, { token: s.tokens.access, extra: true }, { access: s.tokens.access }]) {
    const res = await app.inject({ method: 'POST', url: '/v1/auth/verify', payload })
    assertProblem(t, res, 400, 'validation_failed')
  }
})

t.test('rejected tokens: 401, never 5xx', async (t) => {
  const { s, claims } = await liveClaims()
  const now = Math.floor(Date.now() / 1000)
  const publicPem = keys.access.publicKeyPem
  const hs256 = (header: Record<string, unknown>, payload: Record<string, unknown>, secret: string | Buffer) => {
    const input = `${b64url(header)}.${b64url(payload)}`
    return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
  }
  const [h, p, sig] = s.tokens.access.split('.') as [string, string, string]
  const i = Math.floor(sig.length / 2)
  const foreignKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey

  const cases: Record<string, { token: string, code?: string }> = {
    'the refresh token': { token: s.tokens.refresh },
    garbage: { token: 'not-a-token' },
    'three garbage segments': { token: 'aaa.bbb.ccc' },
    'tampered signature': { token: `${h}.${p}.${sig.slice(0, i)}${sig[i] === 'A' ? 'B' : 'A'}${sig.slice(i + 1)}` },
    'tampered payload (roles: admin)': { token: `${h}.${b64url({ ...claims, roles: ['admin'] })}.${sig}` },
    'signature removed': { token: `${h}.${p}.` },
    expired: { token: await signAccess({ ...claims, jti: randomUUID(), iat: now - 3600, exp: now - 1800 }), code: 'token_expired' },
    'wrong audience': { token: await signAccess({ ...claims, jti: randomUUID(), aud: 'another-service' }) },
    'wrong issuer': { token: await signAccess({ ...claims, jti: randomUUID(), iss: 'https://evil.example' }) },
    'typ JWT instead of at+jwt': { token: await signAccess({ ...claims, jti: randomUUID() }, { typ: 'JWT' }) },
    'no typ': { token: await signAccess({ ...claims, jti: randomUUID() }, { typ: undefined }) },
    'typ refresh+jwt': { token: await signAccess({ ...claims, jti: randomUUID() }, { typ: 'refresh+jwt' }) },
    'signed by another RSA key with authd\'s kid': { token: await signAccess({ ...claims, jti: randomUUID() }, {}, foreignKey) },
    'alg none': { token: `${b64url({ alg: 'none', typ: 'at+jwt', kid: keys.access.kid })}.${b64url(claims)}.` },
    'alg None, fake signature': { token: `${b64url({ alg: 'None', typ: 'at+jwt' })}.${b64url(claims)}.${sig}` },
    'HS256 keyed with the public key PEM (algorithm confusion)': { token: hs256({ alg: 'HS256', typ: 'at+jwt', kid: keys.access.kid }, claims, publicPem) },
    'HS256 keyed with the public key PEM, no kid': { token: hs256({ alg: 'HS256', typ: 'at+jwt' }, claims, publicPem) },
    'HS256 keyed with the refresh secret': { token: hs256({ alg: 'HS256', typ: 'at+jwt' }, claims, keys.refreshSecret) },
    'missing sid': { token: await signAccess({ ...claims, jti: randomUUID(), sid: undefined }) },
    'missing jti': { token: await signAccess({ ...claims, jti: undefined }) },
    'missing exp': { token: await signAccess({ ...claims, jti: randomUUID(), exp: undefined }) },
    'sub not a uuid': { token: await signAccess({ ...claims, jti: randomUUID(), sub: '1' }) },
    'roles not an array': { token: await signAccess({ ...claims, jti: randomUUID(), roles: 'admin' as unknown as string[] }) },
    'issued in the future': { token: await signAccess({ ...claims, jti: randomUUID(), iat: now + 3600, exp: now + 3900 }) },
    'unknown user': { token: await signAccess({ ...claims, jti: randomUUID(), sub: randomUUID() }) },
    'unknown session': { token: await signAccess({ ...claims, jti: randomUUID(), sid: randomUUID() }) },
    'JSON that is not an object': { token: `${h}.${Buffer.from('[1,2,3]').toString('base64url')}.${sig}` },
    'header that is not JSON': { token: `${Buffer.from('{nope').toString('base64url')}.${p}.${sig}` },
    'over-long token': { token: `${h}.${'A'.repeat(4000)}.${sig}` }
  }
  for (const [name, { token, code }] of Object.entries(cases)) {
    const res = await verify(token)
    t.test(name, async (t) => {
      if (name === 'over-long token') {
        // Longer than any token authd issues: refused, either as invalid input or as a bad token.
        t.ok([400, 401].includes(res.statusCode), `400 or 401 (${res.statusCode})`)
        return
      }
      assertRejected(t, res, code)
    })
  }

  // A well-formed token with only good properties is accepted (the forging helper is sound).
  const control = await signAccess({ ...claims, jti: randomUUID() })
  t.equal((await verify(control)).statusCode, 200, 'control: a correctly signed, live token verifies')
  t.equal((await verify(s.tokens.access)).statusCode, 200, 'the genuine token is still valid')
})

t.test('an access token after logout is no longer valid', async (t) => {
  const s = await register(app)
  t.equal((await verify(s.tokens.access)).statusCode, 200, 'valid before logout')
  const out = await app.inject({ method: 'POST', url: '/v1/app/auth/logout', payload: { refresh: s.tokens.refresh } })
  t.equal(out.statusCode, 204)
  assertRejected(t, await verify(s.tokens.access))
})

t.test('an access token of a deactivated or deleted user is no longer valid', async (t) => {
  const a = await register(app)
  const b = await register(app)
  t.equal((await verify(a.tokens.access)).statusCode, 200)
  t.equal((await verify(b.tokens.access)).statusCode, 200)
  await app.db.prisma.user.update({ where: { id: a.user.id }, data: { isActive: false } })
  await app.db.prisma.user.delete({ where: { id: b.user.id } })
  assertRejected(t, await verify(a.tokens.access))
  assertRejected(t, await verify(b.tokens.access))
})
