// The tokens' issuer and audiences (issue 16 parts 1-2): new tokens carry PUBLIC_URL (or JWT_ISSUER)
// as `iss`; tokens authd signed under a previous issuer (JWT_PREVIOUS_ISSUERS, default the old
// `authd`) still work, and a refresh rotates them into the new one; any other issuer is refused.
// JWT_AUDIENCE may name several audiences: the first is authd's own, and authd accepts only
// tokens whose `aud` holds it — a service's token for another audience never opens a user route.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { jwtVerify, createLocalJWKSet, type JSONWebKeySet } from 'jose'
import { signJws } from '../../../src/keys/jws-sign.js'
import { assertProblem, build, me, refresh, register, TEST_ISSUER, testKeys } from '../../helper.js'
import { decodePayload, refreshClaims, signRefresh } from '../../jwt-helper.js'
import { newClient, oauthPost } from '../oauth/oauth-helper.js'

const verify = async (app: FastifyInstance, token: string) => await app.inject({ method: 'POST', url: '/v1/auth/verify', payload: { token } })

/** An access token signed with the test key (the one build(t) signs with) carrying these claims. */
async function signAccess (claims: Record<string, unknown>): Promise<string> {
  const key = (await testKeys()).access
  return await signJws(key, { alg: key.alg, kid: key.kid, typ: 'at+jwt' }, claims)
}

/** The claims of `access`, with `iss` (and anything else) replaced, signed again by authd's key. */
async function resigned (access: string, change: Record<string, unknown>): Promise<string> {
  return await signAccess({ ...decodePayload(access), ...change })
}

t.test('the default issuer: the public URL (dev default), the same in discovery, the JWKS and the token', async (t) => {
  const app = await build(t)
  const s = await register(app)
  t.equal(decodePayload(s.tokens.access).iss, TEST_ISSUER)
  t.equal(refreshClaims(s.tokens.refresh).iss, TEST_ISSUER)
  t.equal((await app.inject({ url: '/.well-known/openid-configuration' })).json().issuer, TEST_ISSUER)
  const configured = await build(t, { PUBLIC_URL: 'https://auth.example.com/' })
  const c = await register(configured)
  t.equal(decodePayload(c.tokens.access).iss, 'https://auth.example.com', 'PUBLIC_URL, without its trailing slash')
  const overridden = await build(t, { PUBLIC_URL: 'https://auth.example.com', JWT_ISSUER: 'urn:example:authd' })
  const o = await register(overridden)
  t.equal(decodePayload(o.tokens.access).iss, 'urn:example:authd', 'JWT_ISSUER overrides')
  t.equal((await overridden.inject({ url: '/.well-known/openid-configuration' })).json().issuer, 'urn:example:authd', 'and discovery says so')
  t.equal((await me(configured, o.tokens.access)).statusCode, 401, 'one authd does not accept another issuer\'s token')
})

t.test('migration: tokens with the old iss "authd" still work; the refresh hands out the new issuer', async (t) => {
  const app = await build(t)
  const s = await register(app)
  // What an authd before this change issued for the same session: iss "authd", same keys.
  const oldRefresh = await signRefresh({ ...refreshClaims(s.tokens.refresh) }, { issuer: 'authd' })
  const oldAccess = await resigned(s.tokens.access, { iss: 'authd' })
  t.equal((await me(app, oldAccess)).statusCode, 200, 'an old access token opens authd\'s routes')
  t.equal((await verify(app, oldAccess)).json().valid, true, '/v1/auth/verify accepts it')
  const gateway = await newClient(app)
  t.match((await oauthPost(app, 'introspect', gateway, { token: oldAccess })).json(), { active: true, iss: 'authd' }, 'introspection: active, with its iss')

  const res = await refresh(app, oldRefresh)
  t.equal(res.statusCode, 200, res.body)
  const tokens = res.json().tokens
  t.equal(decodePayload(tokens.access).iss, TEST_ISSUER, 'the new access token carries the new issuer')
  t.equal(refreshClaims(tokens.refresh).iss, TEST_ISSUER, 'so does the new refresh token')
  t.equal((await me(app, tokens.access)).statusCode, 200)
})

t.test('an issuer authd never had is refused everywhere, and JWT_PREVIOUS_ISSUERS=none ends the transition', async (t) => {
  for (const [env, refused] of [[{}, 'https://evil.example.com'], [{ JWT_PREVIOUS_ISSUERS: 'none' }, 'authd'], [{ JWT_PREVIOUS_ISSUERS: 'https://old.example.com' }, 'authd']] as const) {
    const app = await build(t, env)
    const s = await register(app)
    const access = await resigned(s.tokens.access, { iss: refused })
    assertProblem(t, await me(app, access), 401, 'token_invalid')
    assertProblem(t, await verify(app, access), 401, 'token_invalid')
    const gateway = await newClient(app)
    t.same((await oauthPost(app, 'introspect', gateway, { token: access })).json(), { active: false }, `${refused}: inactive`)
    const badRefresh = await signRefresh({ ...refreshClaims(s.tokens.refresh) }, { issuer: refused })
    assertProblem(t, await refresh(app, badRefresh), 401, 'token_invalid')
    t.equal((await refresh(app, s.tokens.refresh)).statusCode, 200, 'the session\'s real refresh token still works (nothing was revoked)')
  }
  const listed = await build(t, { JWT_PREVIOUS_ISSUERS: 'https://old.example.com, authd' })
  const s = await register(listed)
  for (const iss of ['https://old.example.com', 'authd']) t.equal((await me(listed, await resigned(s.tokens.access, { iss }))).statusCode, 200, `${iss}: listed, accepted`)
})

t.test('JWT_AUDIENCE with several audiences: an array aud; authd requires its own (the first)', async (t) => {
  const app = await build(t, { JWT_AUDIENCE: 'authd, orders, billing' })
  const s = await register(app)
  t.same(decodePayload(s.tokens.access).aud, ['authd', 'orders', 'billing'])
  t.equal(refreshClaims(s.tokens.refresh).aud, 'authd:refresh', 'refresh tokens: authd\'s own audience only')
  t.equal((await me(app, s.tokens.access)).statusCode, 200)
  t.equal((await refresh(app, s.tokens.refresh)).statusCode, 200)
  const jwks = createLocalJWKSet((await app.inject({ url: '/.well-known/jwks.json' })).json() as JSONWebKeySet)
  t.ok(await jwtVerify(s.tokens.access, jwks, { issuer: TEST_ISSUER, audience: 'orders' }), 'the orders service accepts it')
  await t.rejects(jwtVerify(s.tokens.access, jwks, { issuer: TEST_ISSUER, audience: 'shipping' }), 'a service it does not name refuses it')
  // Signed by authd, but for other services only: not for authd's routes.
  for (const aud of ['orders', ['orders', 'billing'], 'authd:refresh', []]) {
    assertProblem(t, await me(app, await resigned(s.tokens.access, { aud })), 401, 'token_invalid')
  }
  t.equal((await me(app, await resigned(s.tokens.access, { aud: ['orders', 'authd'] }))).statusCode, 200, 'authd anywhere in the list will do')

  const single = await build(t, { JWT_AUDIENCE: 'authd' })
  t.equal(decodePayload((await register(single)).tokens.access).aud, 'authd', 'one audience: a string, as before')
})

t.test('a service\'s token for audience billing opens no user route, even if billing is in JWT_AUDIENCE', async (t) => {
  const app = await build(t, { JWT_AUDIENCE: 'authd,billing' })
  const svc = await newClient(app, { audience: ['billing'] })
  const token = (await oauthPost(app, 'token', svc, { grant_type: 'client_credentials' })).json().access_token as string
  t.equal(decodePayload(token).aud, 'billing')
  assertProblem(t, await me(app, token), 401, 'token_invalid')
  const forAuthd = await newClient(app, { audience: ['authd'] })
  const authdToken = (await oauthPost(app, 'token', forAuthd, { grant_type: 'client_credentials' })).json().access_token as string
  assertProblem(t, await me(app, authdToken), 401, 'token_invalid')
  assertProblem(t, await verify(app, authdToken), 401, 'token_invalid')
  const defaulted = await newClient(app)
  t.same(decodePayload((await oauthPost(app, 'token', defaulted, { grant_type: 'client_credentials' })).json().access_token).aud, ['authd', 'billing'], 'a client without an audience: JWT_AUDIENCE, as users\' tokens')
})
