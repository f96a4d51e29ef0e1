// createVerifier (packages/verifier) against a JWKS served by a tiny local Fastify app: the keys and
// the number of JWKS fetches are under the test's control, so caching, the refetch on an unknown
// kid (key rotation) and an unreachable JWKS are checked by counting, never by timing.
// Step-up requirements (amr, auth_time) are checked against tokens signed with chosen claims.
import { createHmac, randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import Fastify from 'fastify'
import { SignJWT, exportJWK, exportSPKI, generateKeyPair, type CryptoKey, type JWK, type JWTPayload } from 'jose'
import { AuthdJwksUnavailableError, AuthdTokenError, createVerifier, type AuthdTokenErrorCode, type AuthRequirements, type Verifier, type VerifierOptions } from '../../../packages/verifier/src/index.js'
import { authdVerifier } from '../../../packages/verifier/src/fastify.js'
import { flipSignatureChar, withPayload } from '../../jwt-helper.js'

type Alg = 'RS256' | 'ES256' | 'EdDSA'
interface TestKey { alg: Alg, kid: string, privateKey: CryptoKey, publicKey: CryptoKey, jwk: JWK }

async function newKey (alg: Alg): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg)
  const kid = `${alg.toLowerCase()}-${randomUUID()}`
  return { alg, kid, privateKey, publicKey, jwk: { ...await exportJWK(publicKey), kid, alg, use: 'sig' } }
}

const [rsa, ec, ed, unpublished, later] = await Promise.all([newKey('RS256'), newKey('ES256'), newKey('EdDSA'), newKey('RS256'), newKey('ES256')])

// The JWKS "authd" publishes; tests change `published` and read `fetches`.
let published: TestKey[] = [rsa, ec, ed]
let fetches = 0
let jwksStatus = 200
const jwksServer = Fastify()
jwksServer.get('/.well-known/jwks.json', async (_request, reply) => {
  fetches += 1
  if (jwksStatus !== 200) return await reply.code(jwksStatus).send({ error: 'down' })
  return { keys: published.map((k) => k.jwk) }
})
// Its discovery document: `discovery` is what it answers (null: 500), `discoveries` how often it was asked.
let discovery: Record<string, unknown> | null = null
let discoveries = 0
jwksServer.get('/.well-known/openid-configuration', async (_request, reply) => {
  discoveries += 1
  return discovery === null ? await reply.code(500).send({ error: 'down' }) : discovery
})
const base = await jwksServer.listen({ host: '127.0.0.1', port: 0 })
t.teardown(() => jwksServer.close())
const jwksUrl = `${base}/.well-known/jwks.json`

const verifierFor = (options: Partial<VerifierOptions> = {}): Verifier =>
  createVerifier({ jwksUrl, issuer: 'authd', audience: 'authd', ...options })

const now = () => Math.floor(Date.now() / 1000)

function goodClaims (overrides: JWTPayload = {}): JWTPayload {
  const iat = now()
  return { iss: 'authd', aud: 'authd', sub: randomUUID(), sid: randomUUID(), jti: randomUUID(), iat, exp: iat + 300, roles: ['staff'], ...overrides }
}

async function sign (claims: JWTPayload = goodClaims(), key: TestKey = rsa, header: Record<string, unknown> = {}): Promise<string> {
  return await new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt', ...header })
    .sign(key.privateKey)
}

async function rejects (t: Test, verifier: Verifier, token: string, code: AuthdTokenErrorCode, message: string, requirements?: AuthRequirements): Promise<void> {
  await t.rejects(verifier.verify(token, requirements), { name: 'AuthdTokenError', code }, message)
}

/** The AuthdTokenError the verification rejects with (fails the test if it resolves). */
async function tokenError (t: Test, promise: Promise<unknown>): Promise<AuthdTokenError> {
  const error = await promise.then(() => null, (e: unknown) => e)
  t.ok(error instanceof AuthdTokenError, `rejected with AuthdTokenError: ${String(error)}`)
  // {} rather than null, so that the caller's assertions fail instead of throwing.
  return (error ?? {}) as AuthdTokenError
}

t.test('valid RS256, ES256 and EdDSA tokens give their claims; the JWKS is fetched once', async (t) => {
  const verifier = verifierFor()
  const before = fetches
  for (const key of [rsa, ec, ed]) {
    const claims = goodClaims()
    const verified = await verifier.verify(await sign(claims, key))
    t.same(verified, claims, `${key.alg}: exactly the signed claims`)
  }
  await verifier.verify(await sign())
  t.equal(fetches - before, 1, 'one JWKS fetch for four verifications')
})

t.test('roles default to [] when absent', async (t) => {
  const { roles: _roles, ...claims } = goodClaims()
  t.same((await verifierFor().verify(await sign(claims))).roles, [])
})

t.test('expired: token_expired; clockTolerance admits a little skew', async (t) => {
  const expired = await sign(goodClaims({ iat: now() - 310, exp: now() - 10 }))
  await rejects(t, verifierFor(), expired, 'token_expired', 'expired 10 s ago')
  t.ok(await verifierFor({ clockTolerance: 30 }).verify(expired), 'within a 30 s tolerance')
})

t.test('wrong issuer or audience, or a verifier for another audience: token_invalid', async (t) => {
  const verifier = verifierFor()
  await rejects(t, verifier, await sign(goodClaims({ aud: 'other' })), 'token_invalid', 'aud other')
  await rejects(t, verifier, await sign(goodClaims({ aud: 'authd:refresh' })), 'token_invalid', 'the refresh audience')
  await rejects(t, verifier, await sign(goodClaims({ iss: 'evil' })), 'token_invalid', 'iss evil')
  await rejects(t, verifierFor({ audience: 'billing' }), await sign(), 'token_invalid', 'a token for authd at a billing verifier')
})

t.test('audiences (RFC 8725 §3.9): the verifier\'s audience must be among the token\'s aud', async (t) => {
  const orders = verifierFor({ audience: 'orders' })
  t.ok(await orders.verify(await sign(goodClaims({ aud: ['authd', 'orders', 'billing'] }))), 'named in the list: accepted')
  t.ok(await orders.verify(await sign(goodClaims({ aud: 'orders' }))), 'the only audience: accepted')
  await rejects(t, orders, await sign(goodClaims({ aud: ['authd', 'billing'] })), 'token_invalid', 'not named: refused')
  await rejects(t, orders, await sign(goodClaims({ aud: [] })), 'token_invalid', 'no audience at all')
  // A service's token (client credentials) for billing: no sid, and not for orders either way.
  const client = { iss: 'authd', aud: 'billing', sub: 'svc_billing', client_id: 'svc_billing', scope: 'invoices:read', jti: randomUUID(), iat: now(), exp: now() + 300 }
  await rejects(t, orders, await sign(client), 'token_invalid', 'a service token for billing at the orders verifier')
  await rejects(t, verifierFor({ audience: 'billing' }), await sign(client), 'token_invalid', 'and not at billing\'s either: it is not a user\'s token (no sid)')
})

t.test('issuer: the URL, or a list during a migration', async (t) => {
  const url = 'https://auth.example.com'
  t.ok(await verifierFor({ issuer: url }).verify(await sign(goodClaims({ iss: url }))))
  await rejects(t, verifierFor({ issuer: url }), await sign(goodClaims()), 'token_invalid', 'the old iss "authd" at a URL-only verifier')
  const both = verifierFor({ issuer: [url, 'authd'] })
  t.ok(await both.verify(await sign(goodClaims())), 'old iss, listed')
  t.ok(await both.verify(await sign(goodClaims({ iss: url }))), 'new iss, listed')
  await rejects(t, both, await sign(goodClaims({ iss: 'https://evil.example.com' })), 'token_invalid', 'any other')
  t.throws(() => verifierFor({ issuer: [] }), TypeError, 'an empty list is no issuer')
  t.throws(() => verifierFor({ issuer: [url, ''] }), TypeError, 'nor one with an empty entry')
})

t.test('typ must be at+jwt', async (t) => {
  const verifier = verifierFor()
  await rejects(t, verifier, await sign(goodClaims(), rsa, { typ: 'JWT' }), 'token_invalid', 'typ JWT')
  await rejects(t, verifier, await sign(goodClaims(), rsa, { typ: 'refresh+jwt' }), 'token_invalid', 'typ refresh+jwt')
  const untyped = await new SignJWT(goodClaims()).setProtectedHeader({ alg: 'RS256', kid: rsa.kid }).sign(rsa.privateKey)
  await rejects(t, verifier, untyped, 'token_invalid', 'no typ')
  t.ok(await verifier.verify(await sign(goodClaims(), rsa, { typ: 'application/at+jwt' })), 'the media-type spelling is the same typ')
})

t.test('missing or malformed authd claims: token_invalid', async (t) => {
  const verifier = verifierFor()
  for (const claim of ['sub', 'sid', 'jti', 'iat', 'exp']) {
    const claims = goodClaims()
    delete claims[claim]
    await rejects(t, verifier, await sign(claims), 'token_invalid', `without ${claim}`)
  }
  await rejects(t, verifier, await sign(goodClaims({ roles: 'admin' })), 'token_invalid', 'roles not an array')
  await rejects(t, verifier, await sign(goodClaims({ roles: [1] })), 'token_invalid', 'roles not strings')
  await rejects(t, verifier, await sign(goodClaims({ sub: '' })), 'token_invalid', 'empty sub')
  await rejects(t, verifier, await sign(goodClaims({ iat: now() + 3600 })), 'token_invalid', 'issued an hour in the future')
  await rejects(t, verifier, await sign(goodClaims({ nbf: now() + 3600 })), 'token_invalid', 'not yet valid')
})

t.test('altered tokens: token_invalid', async (t) => {
  const verifier = verifierFor()
  const token = await sign()
  await rejects(t, verifier, flipSignatureChar(token), 'token_invalid', 'one signature character changed')
  await rejects(t, verifier, withPayload(token, (p) => ({ ...p, roles: ['admin'] })), 'token_invalid', 'payload changed, old signature')
  const other = await sign(goodClaims({ sub: 'someone-else' }))
  const [h, , s] = token.split('.')
  await rejects(t, verifier, `${h}.${other.split('.')[1]}.${s}`, 'token_invalid', "another token's payload")
  await rejects(t, verifier, token.split('.').slice(0, 2).join('.') + '.', 'token_invalid', 'signature stripped')
  for (const garbage of ['', 'abc', 'a.b', 'a.b.c.d', `${token} `, 'x'.repeat(10_000)]) {
    await rejects(t, verifier, garbage, 'token_invalid', `garbage ${JSON.stringify(garbage.slice(0, 12))}`)
  }
  await rejects(t, verifier, undefined as unknown as string, 'token_invalid', 'not a string')
})

t.test('algorithm attacks: none, HS256 with the public key, an algorithm not allowed', async (t) => {
  const verifier = verifierFor()
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
  const payload = b64(goodClaims())
  await rejects(t, verifier, `${b64({ alg: 'none', typ: 'at+jwt' })}.${payload}.`, 'token_invalid', 'alg none')
  const header = b64({ alg: 'HS256', kid: rsa.kid, typ: 'at+jwt' })
  const pem = await exportSPKI(rsa.publicKey)
  const mac = createHmac('sha256', pem).update(`${header}.${payload}`).digest('base64url')
  await rejects(t, verifier, `${header}.${payload}.${mac}`, 'token_invalid', 'HS256 keyed with the public key')
  await rejects(t, verifierFor({ algorithms: ['ES256'] }), await sign(), 'token_invalid', 'RS256 at an ES256-only verifier')
  t.throws(() => verifierFor({ algorithms: ['RS256', 'HS256'] }), TypeError, 'HS* cannot be allowed')
  t.throws(() => verifierFor({ algorithms: [] }), TypeError, 'some algorithm must be allowed')
  t.throws(() => verifierFor({ issuer: '' }), TypeError, 'issuer is required')
})

t.test('a kid not in the JWKS: token_invalid, and no refetch during the cooldown', async (t) => {
  const verifier = verifierFor({ cooldownDuration: 3_600_000 })
  await verifier.verify(await sign())
  const before = fetches
  for (let i = 0; i < 5; i++) {
    await rejects(t, verifier, await sign(goodClaims(), unpublished), 'token_invalid', `unknown kid #${i + 1}`)
  }
  await rejects(t, verifier, await sign(goodClaims(), rsa, { kid: unpublished.kid }), 'token_invalid', "a known key's token under another kid")
  t.equal(fetches, before, 'unknown kids do not make the verifier hammer the JWKS')
})

t.test('key rotation: a token signed by a newly published key is accepted after one refetch', async (t) => {
  const verifier = verifierFor({ cooldownDuration: 0 })
  await verifier.verify(await sign())
  const before = fetches
  published = [...published, later]
  t.teardown(() => { published = [rsa, ec, ed] })
  const claims = goodClaims()
  t.same(await verifier.verify(await sign(claims, later)), claims, 'new kid verified')
  t.equal(fetches - before, 1, 'fetched the JWKS once more')
  t.ok(await verifier.verify(await sign()), 'tokens of the old key still verify')
  t.equal(fetches - before, 1, 'from the cache')
})

t.test('an unreachable or broken JWKS is AuthdJwksUnavailableError, not a token error', async (t) => {
  const closed = Fastify()
  const address = await closed.listen({ host: '127.0.0.1', port: 0 })
  await closed.close()
  const token = await sign()
  const down = createVerifier({ jwksUrl: `${address}/.well-known/jwks.json`, issuer: 'authd', audience: 'authd' })
  await t.rejects(down.verify(token), AuthdJwksUnavailableError, 'connection refused')

  jwksStatus = 500
  t.teardown(() => { jwksStatus = 200 })
  const error = await verifierFor().verify(token).catch((e: unknown) => e)
  t.ok(error instanceof AuthdJwksUnavailableError, 'JWKS answers 500')
  t.notOk(error instanceof AuthdTokenError)
  t.equal((error as AuthdJwksUnavailableError).code, 'jwks_unavailable')
})

t.test('issuer only: the JWKS from the issuer\'s discovery document, fetched once, checked, retried after a failure', async (t) => {
  const token = await sign(goodClaims({ iss: base }))
  discovery = null
  discoveries = 0
  const verifier = createVerifier({ issuer: base, audience: 'authd' })
  await rejects(t, verifier, 'not-a-jwt', 'token_invalid', 'garbage: refused before any fetch')
  t.equal(discoveries, 0)
  await t.rejects(verifier.verify(token), AuthdJwksUnavailableError, 'discovery answers 500: unavailable, not a token error')
  discovery = { issuer: 'https://someone-else.example', jwks_uri: jwksUrl }
  await t.rejects(verifier.verify(token), { name: 'AuthdJwksUnavailableError', message: /another issuer/ }, 'a document for another issuer is not trusted')
  discovery = { issuer: base, jwks_uri: 'file:///etc/passwd' }
  await t.rejects(verifier.verify(token), { name: 'AuthdJwksUnavailableError', message: /jwks_uri/ }, 'nor a jwks_uri that is not http(s)')
  discovery = { issuer: base, jwks_uri: jwksUrl }
  const before = discoveries
  t.match(await verifier.verify(token), { iss: base }, 'then found: verified')
  t.match(await verifier.verify(token), { iss: base })
  t.equal(discoveries - before, 1, 'discovered once, then kept')
  await rejects(t, createVerifier({ issuer: [base, 'authd'], audience: 'authd' }), await sign(goodClaims({ iss: 'evil' })), 'token_invalid', 'a list: discovered from the first, any listed iss accepted')
  t.ok(await createVerifier({ issuer: [base, 'authd'], audience: 'authd' }).verify(await sign(goodClaims())), 'the old iss, listed')
})

t.test('Fastify plugin: request.authd, and problem JSON for every refusal', async (t) => {
  const app = Fastify()
  await app.register(authdVerifier, { jwksUrl, issuer: 'authd', audience: 'authd' })
  app.get('/private', { onRequest: app.requireAuthd }, async (request) => request.authd)
  app.get('/public', async (request) => ({ authd: request.authd }))
  t.teardown(() => app.close())

  const get = async (url: string, authorization?: string) =>
    await app.inject({ method: 'GET', url, headers: authorization === undefined ? {} : { authorization } })
  const assert401 = (res: Awaited<ReturnType<typeof get>>, code: string, wwwAuthenticate: string) => {
    t.equal(res.statusCode, 401, res.body)
    t.match(res.headers['content-type'], /^application\/problem\+json/)
    t.equal(res.headers['www-authenticate'], wwwAuthenticate)
    t.equal(res.headers['cache-control'], 'no-store')
    t.match(res.json(), { type: `https://authd.dev/errors/${code}`, title: String, status: 401, detail: String, code, requestId: String })
  }

  const claims = goodClaims()
  const ok = await get('/private', `Bearer ${await sign(claims)}`)
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), claims, 'request.authd holds the claims')
  t.same((await get('/public')).json(), { authd: null }, 'public routes need no token')

  assert401(await get('/private'), 'authentication_required', 'Bearer realm="authd"')
  assert401(await get('/private', 'Basic dXNlcjpwYXNz'), 'token_invalid', 'Bearer realm="authd", error="invalid_token"')
  assert401(await get('/private', `Bearer ${flipSignatureChar(await sign())}`), 'token_invalid', 'Bearer realm="authd", error="invalid_token"')
  assert401(await get('/private', `Bearer ${await sign(goodClaims({ iat: now() - 400, exp: now() - 100 }))}`), 'token_expired', 'Bearer realm="authd", error="invalid_token"')
  t.equal((await get('/private', `bearer  ${await sign()}`)).statusCode, 200, 'the scheme is case-insensitive')

  t.equal(await app.verifyAuthdToken(await sign(claims)).then((c) => c.sub), claims.sub, 'app.verifyAuthdToken')
})

t.test('Fastify plugin: an unreachable JWKS is a 503, not a 401', async (t) => {
  const closed = Fastify()
  const address = await closed.listen({ host: '127.0.0.1', port: 0 })
  await closed.close()
  const app = Fastify()
  await app.register(authdVerifier, { jwksUrl: `${address}/.well-known/jwks.json`, issuer: 'authd', audience: 'authd', realm: 'orders' })
  app.get('/private', { onRequest: app.requireAuthd }, async () => 'secret')
  t.teardown(() => app.close())
  const res = await app.inject({ method: 'GET', url: '/private', headers: { authorization: `Bearer ${await sign()}` } })
  t.equal(res.statusCode, 503)
  t.match(res.headers['content-type'], /^application\/problem\+json/)
  t.equal(res.json().code, 'service_unavailable')
  t.notOk(res.headers['www-authenticate'], 'the token was not refused')
  const missing = await app.inject({ method: 'GET', url: '/private' })
  t.equal(missing.headers['www-authenticate'], 'Bearer realm="orders"', 'the configured realm')
})

// Step-up (RFC 9470): tokens as authd's MFA work issues them, with amr and auth_time.
const PWD = ['pwd']
const MFA = ['pwd', 'otp', 'mfa']
const STEP_UP = 'insufficient_user_authentication'

t.test('requireAmr: every listed method must be in amr; no amr at all fails; insufficient_user_authentication', async (t) => {
  const verifier = verifierFor({ requireAmr: ['mfa'] })
  const mfaClaims = goodClaims({ amr: MFA })
  t.same(await verifier.verify(await sign(mfaClaims)), mfaClaims, 'pwd+otp+mfa passes, amr among the claims')

  const pwd = await tokenError(t, verifier.verify(await sign(goodClaims({ amr: PWD }))))
  t.equal(pwd.code, STEP_UP, 'amr [pwd] lacks mfa')
  t.same(pwd.requirements, { requireAmr: ['mfa'] }, 'the error names what was required')
  t.match(pwd.message, /mfa/)
  await rejects(t, verifier, await sign(goodClaims()), STEP_UP, 'a token without amr (from before MFA) fails')
  await rejects(t, verifier, await sign(goodClaims({ amr: [] })), STEP_UP, 'empty amr fails')
  await rejects(t, verifierFor({ requireAmr: ['mfa', 'hwk'] }), await sign(goodClaims({ amr: MFA })), STEP_UP, 'every listed method is needed, not one of them')
  t.ok(await verifierFor({ requireAmr: ['mfa', 'otp'] }).verify(await sign(goodClaims({ amr: MFA }))), 'all listed present')
  t.ok(await verifierFor().verify(await sign(goodClaims({ amr: PWD }))), 'no requirement: pwd alone is fine')
  t.ok(await verifierFor({ requireAmr: [] }).verify(await sign(goodClaims())), 'an empty requireAmr requires nothing')
})

t.test('maxAuthAge: auth_time must be present and recent enough, with clockTolerance', async (t) => {
  const verifier = verifierFor({ maxAuthAge: 300 })
  t.ok(await verifier.verify(await sign(goodClaims({ auth_time: now() - 10 }))), 'authenticated 10 s ago')
  t.ok(await verifier.verify(await sign(goodClaims({ auth_time: now() - 290 }))), 'authenticated 290 s ago')
  const old = await tokenError(t, verifier.verify(await sign(goodClaims({ auth_time: now() - 400 }))))
  t.equal(old.code, STEP_UP, 'authenticated 400 s ago')
  t.same(old.requirements, { maxAuthAge: 300 })
  await rejects(t, verifier, await sign(goodClaims()), STEP_UP, 'no auth_time')
  const slightlyOld = await sign(goodClaims({ auth_time: now() - 320 }))
  await rejects(t, verifier, slightlyOld, STEP_UP, '320 s ago, no tolerance')
  t.ok(await verifierFor({ maxAuthAge: 300, clockTolerance: 30 }).verify(slightlyOld), '320 s ago within a 30 s tolerance')
  t.ok(await verifierFor().verify(await sign(goodClaims({ auth_time: now() - 86_400 }))), 'no maxAuthAge: any auth_time')
})

t.test('step-up is checked only on otherwise valid tokens; malformed amr / auth_time are token_invalid', async (t) => {
  const verifier = verifierFor({ requireAmr: ['mfa'], maxAuthAge: 300 })
  await rejects(t, verifier, await sign(goodClaims({ amr: PWD, iat: now() - 400, exp: now() - 100 })), 'token_expired', 'expired and too weak: expired first')
  await rejects(t, verifier, flipSignatureChar(await sign(goodClaims({ amr: PWD }))), 'token_invalid', 'forged and too weak: invalid')
  await rejects(t, verifier, await sign(goodClaims({ amr: 'mfa', auth_time: now() })), 'token_invalid', 'amr a string')
  await rejects(t, verifier, await sign(goodClaims({ amr: [1], auth_time: now() })), 'token_invalid', 'amr not strings')
  await rejects(t, verifier, await sign(goodClaims({ amr: MFA, auth_time: String(now()) })), 'token_invalid', 'auth_time a string')
  await rejects(t, verifier, await sign(goodClaims({ amr: MFA, auth_time: now() + 3600 })), 'token_invalid', 'auth_time an hour in the future')
  await rejects(t, verifierFor(), await sign(goodClaims({ amr: 'pwd' })), 'token_invalid', 'malformed amr is refused even with no requirement')
})

t.test('per-call requirements override the verifier defaults key by key', async (t) => {
  const plain = verifierFor()
  const pwdToken = await sign(goodClaims({ amr: PWD, auth_time: now() - 10 }))
  t.ok(await plain.verify(pwdToken), 'no requirement by default')
  await rejects(t, plain, pwdToken, STEP_UP, 'requireAmr on this call only', { requireAmr: ['mfa'] })
  await rejects(t, plain, pwdToken, STEP_UP, 'maxAuthAge on this call only', { maxAuthAge: 5 })
  t.ok(await plain.verify(pwdToken), 'the next call is back to the defaults')

  const strict = verifierFor({ requireAmr: ['mfa'], maxAuthAge: 300 })
  const oldMfa = await sign(goodClaims({ amr: MFA, auth_time: now() - 1000 }))
  await rejects(t, strict, oldMfa, STEP_UP, 'defaults: too old')
  t.ok(await strict.verify(oldMfa, { maxAuthAge: 3600 }), 'a longer maxAuthAge for this call')
  t.ok(await strict.verify(pwdToken, { requireAmr: [] }), 'requireAmr [] drops the default; the default maxAuthAge still passes')
  const kept = await tokenError(t, strict.verify(oldMfa, { requireAmr: ['otp'] }))
  t.equal(kept.code, STEP_UP, 'overriding requireAmr keeps the default maxAuthAge')
  t.same(kept.requirements, { requireAmr: ['otp'], maxAuthAge: 300 }, 'the requirements in force on that call')
})

t.test('malformed requirements are a TypeError, never a weaker check', async (t) => {
  t.throws(() => verifierFor({ requireAmr: 'mfa' as unknown as string[] }), TypeError, 'requireAmr a string')
  t.throws(() => verifierFor({ requireAmr: [''] }), TypeError, 'an empty method')
  t.throws(() => verifierFor({ maxAuthAge: -1 }), TypeError, 'negative maxAuthAge')
  t.throws(() => verifierFor({ maxAuthAge: Number.NaN }), TypeError, 'NaN maxAuthAge')
  await t.rejects(verifierFor().verify(await sign(), { maxAuthAge: '300' as unknown as number }), TypeError, 'per call too')
})

t.test('Fastify plugin: requireAuthdWith answers 401 insufficient_user_authentication with an RFC 9470 challenge', async (t) => {
  const app = Fastify()
  await app.register(authdVerifier, { jwksUrl, issuer: 'authd', audience: 'authd' })
  app.get('/any', { onRequest: app.requireAuthd }, async (request) => request.authd)
  app.get('/mfa', { onRequest: app.requireAuthdWith({ requireAmr: ['mfa'] }) }, async (request) => request.authd)
  app.get('/recent', { onRequest: app.requireAuthdWith({ requireAmr: ['mfa'], maxAuthAge: 300 }) }, async (request) => request.authd)
  app.get('/odd', { onRequest: app.requireAuthdWith({ requireAmr: ['a"b\\c'] }) }, async () => 'never')
  t.teardown(() => app.close())
  t.throws(() => app.requireAuthdWith({ maxAuthAge: -5 }), TypeError, 'a bad requirement fails when the route is declared')

  const get = async (url: string, token: string) => await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } })
  const assertStepUp = (res: Awaited<ReturnType<typeof get>>, wwwAuthenticate: string) => {
    t.equal(res.statusCode, 401, res.body)
    t.match(res.headers['content-type'], /^application\/problem\+json/)
    t.equal(res.headers['cache-control'], 'no-store')
    t.equal(res.headers['www-authenticate'], wwwAuthenticate)
    t.match(res.json(), { type: `https://authd.dev/errors/${STEP_UP}`, title: String, status: 401, detail: String, code: STEP_UP, requestId: String })
  }

  const pwd = await sign(goodClaims({ amr: PWD, auth_time: now() - 10 }))
  const freshMfa = goodClaims({ amr: MFA, auth_time: now() - 10 })
  const oldMfa = await sign(goodClaims({ amr: MFA, auth_time: now() - 1000 }))

  t.equal((await get('/any', pwd)).statusCode, 200, 'requireAuthd asks for no second factor')
  assertStepUp(await get('/mfa', pwd),
    'Bearer realm="authd", error="insufficient_user_authentication", error_description="Stronger authentication is required: amr must include mfa"')
  assertStepUp(await get('/mfa', await sign(goodClaims())),
    'Bearer realm="authd", error="insufficient_user_authentication", error_description="Stronger authentication is required: amr must include mfa"')
  const ok = await get('/mfa', await sign(freshMfa))
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), freshMfa, 'request.authd carries amr and auth_time')
  t.equal((await get('/recent', await sign(freshMfa))).statusCode, 200, 'MFA 10 s ago')
  assertStepUp(await get('/recent', oldMfa),
    'Bearer realm="authd", error="insufficient_user_authentication", error_description="More recent authentication is required: within the last 300 s", max_age="300"')
  assertStepUp(await get('/recent', await sign(goodClaims({ amr: MFA }))),
    'Bearer realm="authd", error="insufficient_user_authentication", error_description="More recent authentication is required: the token has no auth_time", max_age="300"')
  assertStepUp(await get('/recent', pwd),
    'Bearer realm="authd", error="insufficient_user_authentication", error_description="Stronger authentication is required: amr must include mfa", max_age="300"')
  const odd = await get('/odd', await sign(freshMfa))
  t.equal(odd.statusCode, 401)
  t.match(odd.headers['www-authenticate'], /error_description="Stronger authentication is required: amr must include abc"$/, 'no quote or backslash inside the quoted string')

  const expired = await get('/mfa', await sign(goodClaims({ amr: PWD, iat: now() - 400, exp: now() - 100 })))
  t.equal(expired.json().code, 'token_expired', 'an expired token is expired, not a step-up')
  t.equal(expired.headers['www-authenticate'], 'Bearer realm="authd", error="invalid_token"')

  await t.rejects(app.verifyAuthdToken(pwd, { requireAmr: ['mfa'] }), { code: STEP_UP }, 'app.verifyAuthdToken takes requirements')
})

t.test('Fastify plugin: requireAmr / maxAuthAge as plugin options apply to requireAuthd; requireAuthdWith overrides them', async (t) => {
  const app = Fastify()
  await app.register(authdVerifier, { jwksUrl, issuer: 'authd', audience: 'authd', realm: 'orders', requireAmr: ['mfa'], maxAuthAge: 600 })
  app.get('/private', { onRequest: app.requireAuthd }, async () => 'ok')
  app.get('/relaxed', { onRequest: app.requireAuthdWith({ requireAmr: [] }) }, async () => 'ok')
  t.teardown(() => app.close())
  const get = async (url: string, token: string) => await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } })

  const pwd = await sign(goodClaims({ amr: PWD, auth_time: now() - 10 }))
  const res = await get('/private', pwd)
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, STEP_UP)
  t.equal(res.headers['www-authenticate'],
    'Bearer realm="orders", error="insufficient_user_authentication", error_description="Stronger authentication is required: amr must include mfa", max_age="600"')
  t.equal((await get('/private', await sign(goodClaims({ amr: MFA, auth_time: now() - 10 })))).statusCode, 200)
  t.equal((await get('/relaxed', pwd)).statusCode, 200, 'requireAmr [] on the route drops the plugin default')
  const stale = await get('/relaxed', await sign(goodClaims({ amr: PWD, auth_time: now() - 1000 })))
  t.equal(stale.statusCode, 401, 'the plugin maxAuthAge still applies')
  t.match(stale.headers['www-authenticate'], /max_age="600"$/)
})
