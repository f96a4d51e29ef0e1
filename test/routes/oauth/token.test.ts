// POST /oauth/token, the client credentials grant (RFC 6749 §4.4): both ways of client
// authentication and their refusals (both at once, wrong secret, unknown client, disabled
// client, rotated-out secret), scopes, the token's claims checked with jose against authd's
// JWKS, its refusal by authd's user routes, the §5.2 error replies, the rate limit, and the
// secret kept only as a hash.
import { createHash } from 'node:crypto'
import t from 'tap'
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose'
import { signJws } from '../../../src/keys/jws-sign.js'
import { buildWithDatabase, me, register, TEST_ISSUER, testKeys } from '../../helper.js'
import { decodeHeader } from '../../jwt-helper.js'
import { FORM, assertOAuthError, basic, form, newClient, oauthPost } from './oauth-helper.js'

const { app, database } = await buildWithDatabase(t)
const jwks = createLocalJWKSet((await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json())
const orders = await newClient(app, { name: 'orders', scopes: ['orders:read', 'orders:write', 'users:read'] })
const grant = { grant_type: 'client_credentials' }
const failures = async (clientId: string | null) => await database.prisma.auditEvent.findMany({ where: { type: 'client_auth_failed' }, orderBy: { id: 'asc' } }).then((events) => events.filter((e) => (e.detail as { clientId: string | null }).clientId === clientId))

t.test('client_secret_basic: a Bearer access token for the service, signed like users\' tokens, verifiable from the JWKS', async (t) => {
  const res = await oauthPost(app, 'token', orders, grant)
  t.equal(res.statusCode, 200, res.body)
  t.equal(res.headers['cache-control'], 'no-store')
  const body = res.json()
  t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'scope', 'token_type'], 'no refresh token')
  t.match(body, { token_type: 'Bearer', expires_in: app.config.ACCESS_TOKEN_TTL, scope: 'orders:read orders:write users:read' }, 'no scope asked: all of the client\'s')
  const { payload, protectedHeader } = await jwtVerify(body.access_token, jwks, { issuer: TEST_ISSUER, audience: 'authd', typ: 'at+jwt' })
  const user = await register(app)
  t.same(protectedHeader.alg, decodeHeader(user.tokens.access).alg, 'the same algorithm as a user\'s token')
  t.equal(decodeProtectedHeader(body.access_token).kid, decodeHeader(user.tokens.access).kid, 'and the same key')
  t.match(payload, { sub: orders.clientId, client_id: orders.clientId, scope: 'orders:read orders:write users:read', aud: 'authd', iss: TEST_ISSUER, jti: String })
  t.equal((payload.exp as number) - (payload.iat as number), app.config.ACCESS_TOKEN_TTL)
  t.notOk('sid' in payload || 'roles' in payload, 'no session, no roles')
  t.match(await database.prisma.auditEvent.findFirst({ where: { type: 'client_token_issued' } }), { userId: null, detail: { clientId: orders.clientId, scope: ['orders:read', 'orders:write', 'users:read'] } }, 'audited')
})

t.test('a service\'s token is not a user\'s: authd\'s user routes refuse it', async (t) => {
  const token = (await oauthPost(app, 'token', orders, grant)).json().access_token as string
  const res = await me(app, token)
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'token_invalid')
  const admin = await app.inject({ method: 'GET', url: '/v1/admin/clients', headers: { authorization: `Bearer ${token}` } })
  t.equal(admin.statusCode, 401, 'nor the admin API')
  // Even a token signed with authd's own key that looks like a user's in every other way is
  // refused once it names a client.
  const user = await register(app)
  const claims = JSON.parse(Buffer.from(user.tokens.access.split('.')[1] as string, 'base64url').toString()) as Record<string, unknown>
  const key = (await testKeys()).access
  const forged = await signJws(key, { alg: key.alg, kid: key.kid, typ: 'at+jwt' }, { ...claims, client_id: orders.clientId })
  t.equal((await me(app, forged)).statusCode, 401, 'a user-shaped token with client_id is refused')
  t.equal((await me(app, user.tokens.access)).statusCode, 200, 'the genuine one works')
})

t.test('client_secret_post works too; the audience is the client\'s', async (t) => {
  const one = await newClient(app, { audience: ['svc-x'] })
  const res = await oauthPost(app, 'token', one, grant, 'post')
  t.equal(res.statusCode, 200, res.body)
  t.equal(res.json().scope, '', 'a client without scopes gets an empty scope')
  const { payload } = await jwtVerify(res.json().access_token, jwks, { audience: 'svc-x' })
  t.equal(payload.aud, 'svc-x')
  await t.rejects(jwtVerify(res.json().access_token, jwks, { audience: 'authd' }), 'not for authd\'s default audience')
  const two = await newClient(app, { audience: ['svc-x', 'svc-y'] })
  const { payload: both } = await jwtVerify((await oauthPost(app, 'token', two, grant)).json().access_token, jwks, { audience: 'svc-y' })
  t.same(both.aud, ['svc-x', 'svc-y'])
})

t.test('Basic credentials are form-urlencoded before base64 (RFC 6749 §2.3.1)', async (t) => {
  // A secret never holds these characters, but the decoding must honour the encoding.
  const raw = `${orders.clientId}:${orders.secret}`
  const plain = await app.inject({ method: 'POST', url: '/oauth/token', headers: { ...FORM, authorization: `Basic ${Buffer.from(raw).toString('base64')}` }, payload: form(grant) })
  t.equal(plain.statusCode, 200, 'unencoded (nothing to encode) works')
  const encoded = await app.inject({ method: 'POST', url: '/oauth/token', headers: { ...FORM, authorization: `basic  ${Buffer.from(`${orders.clientId.replace('_', '%5F')}:${orders.secret.replaceAll('-', '%2D')}`).toString('base64')}` }, payload: form(grant) })
  t.equal(encoded.statusCode, 200, 'percent-encoded characters are decoded; the scheme is case-insensitive')
})

t.test('scopes: a subset is granted as asked; anything else is invalid_scope', async (t) => {
  const some = await oauthPost(app, 'token', orders, { ...grant, scope: 'orders:read  users:read orders:read' })
  t.equal(some.json().scope, 'orders:read users:read', 'as asked, without repeats')
  t.match((await jwtVerify(some.json().access_token, jwks)).payload, { scope: 'orders:read users:read' })
  t.equal((await oauthPost(app, 'token', orders, { ...grant, scope: ' ' })).json().scope, 'orders:read orders:write users:read', 'a blank scope is no scope')
  const res = await oauthPost(app, 'token', orders, { ...grant, scope: 'orders:read admin' })
  assertOAuthError(t, res, 400, 'invalid_scope')
  t.match(res.json().error_description, /admin/)
  assertOAuthError(t, await oauthPost(app, 'token', orders, { ...grant, scope: 'ORDERS:READ' }), 400, 'invalid_scope')
})

t.test('client authentication failures: one answer, 401 invalid_client, Basic challenge when Basic was used', async (t) => {
  const wrong = await oauthPost(app, 'token', { ...orders, secret: `${orders.secret.slice(0, -1)}${orders.secret.endsWith('A') ? 'B' : 'A'}` }, grant)
  assertOAuthError(t, wrong, 401, 'invalid_client')
  t.equal(wrong.headers['www-authenticate'], 'Basic realm="authd"')
  const unknown = await oauthPost(app, 'token', { clientId: 'svc_AAAAAAAAAAAAAAAAAAAAAA', secret: orders.secret }, grant)
  assertOAuthError(t, unknown, 401, 'invalid_client')
  t.same(unknown.json(), wrong.json(), 'an unknown client is answered exactly like a wrong secret')
  const post = await oauthPost(app, 'token', { ...orders, secret: 'nope' }, grant, 'post')
  assertOAuthError(t, post, 401, 'invalid_client')
  t.notOk(post.headers['www-authenticate'], 'no Basic challenge when the credentials came in the body')
  const none = await oauthPost(app, 'token', null, grant)
  assertOAuthError(t, none, 401, 'invalid_client')
  t.equal(none.headers['www-authenticate'], 'Basic realm="authd"', 'no credentials: the Basic challenge')
  const bearerOnly = await app.inject({ method: 'POST', url: '/oauth/token', headers: { ...FORM, authorization: 'Bearer abc' }, payload: form(grant) })
  assertOAuthError(t, bearerOnly, 401, 'invalid_client')
  for (const header of ['Basic', 'Basic !!!', `Basic ${Buffer.from('no-colon').toString('base64')}`, `Basic ${Buffer.from(':secret').toString('base64')}`, `Basic ${Buffer.from('%E0%A4%A:x').toString('base64')}`]) {
    const res = await app.inject({ method: 'POST', url: '/oauth/token', headers: { ...FORM, authorization: header }, payload: form(grant) })
    assertOAuthError(t, res, 401, 'invalid_client')
    t.equal(res.headers['www-authenticate'], 'Basic realm="authd"', header)
  }
  assertOAuthError(t, await oauthPost(app, 'token', null, { ...grant, client_id: orders.clientId }), 401, 'invalid_client')
  t.match(await failures(orders.clientId), [{ detail: { reason: 'wrong_secret', endpoint: 'token' } }, { detail: { reason: 'wrong_secret' } }], 'audited with the known client id')
  t.match(await failures(null), [{ detail: { reason: 'unknown_client', clientId: null } }], 'an unknown id is not recorded (it may be a secret in the wrong field)')
  const all = JSON.stringify((await database.prisma.auditEvent.findMany()).map((e) => e.detail))
  t.notOk(all.includes(orders.secret), 'no secret in the audit trail')
})

t.test('both Basic and the body at once: invalid_request', async (t) => {
  const res = await app.inject({ method: 'POST', url: '/oauth/token', headers: { ...FORM, authorization: basic(orders.clientId, orders.secret) }, payload: form({ ...grant, client_id: orders.clientId, client_secret: orders.secret }) })
  assertOAuthError(t, res, 400, 'invalid_request')
  assertOAuthError(t, await app.inject({ method: 'POST', url: '/oauth/token', headers: { ...FORM, authorization: basic(orders.clientId, orders.secret) }, payload: form({ ...grant, client_id: orders.clientId }) }), 400, 'invalid_request')
})

t.test('a rotated secret: the old one is refused at once, the new one works', async (t) => {
  const client = await newClient(app)
  const { secret } = await app.oauthClients.rotateSecret({ clientId: client.clientId }, null)
  assertOAuthError(t, await oauthPost(app, 'token', client, grant), 401, 'invalid_client')
  t.equal((await oauthPost(app, 'token', { ...client, secret }, grant)).statusCode, 200)
})

t.test('a disabled client cannot get, introspect or revoke tokens', async (t) => {
  const client = await newClient(app)
  const token = (await oauthPost(app, 'token', client, grant)).json().access_token as string
  await app.oauthClients.disable({ clientId: client.clientId }, null)
  assertOAuthError(t, await oauthPost(app, 'token', client, grant), 401, 'invalid_client')
  assertOAuthError(t, await oauthPost(app, 'introspect', client, { token }), 401, 'invalid_client')
  assertOAuthError(t, await oauthPost(app, 'revoke', client, { token }, 'post'), 401, 'invalid_client')
  t.match(await failures(client.clientId), [{ detail: { reason: 'disabled', endpoint: 'token' } }, { detail: { endpoint: 'introspect' } }, { detail: { endpoint: 'revoke' } }])
  t.same((await oauthPost(app, 'introspect', orders, { token })).json(), { active: false }, 'and its tokens are reported inactive')
})

t.test('malformed requests: RFC 6749 §5.2 invalid_request / unsupported_grant_type, never problem JSON', async (t) => {
  assertOAuthError(t, await oauthPost(app, 'token', orders, { grant_type: 'password', username: 'a', password: 'b' }), 400, 'unsupported_grant_type')
  assertOAuthError(t, await oauthPost(app, 'token', orders, {}), 400, 'invalid_request')
  const repeated = await app.inject({ method: 'POST', url: '/oauth/token', headers: { ...FORM, authorization: basic(orders.clientId, orders.secret) }, payload: 'grant_type=client_credentials&scope=a&scope=b' })
  assertOAuthError(t, repeated, 400, 'invalid_request')
  t.match(repeated.json().error_description, /scope is repeated/)
  const json = await app.inject({ method: 'POST', url: '/oauth/token', headers: { authorization: basic(orders.clientId, orders.secret) }, payload: grant })
  assertOAuthError(t, json, 400, 'invalid_request')
  t.match(json.json().error_description, /x-www-form-urlencoded/)
  assertOAuthError(t, await app.inject({ method: 'POST', url: '/oauth/token', headers: FORM, payload: `grant_type=${'a'.repeat(5000)}` }), 400, 'invalid_request')
  assertOAuthError(t, await app.inject({ method: 'POST', url: '/oauth/token', headers: FORM, payload: 'grant_type=client_credentials%00' }), 400, 'invalid_request')
  const unknownParam = await oauthPost(app, 'token', orders, { ...grant, resource: 'ignored' })
  t.equal(unknownParam.statusCode, 200, 'an unknown parameter is ignored (RFC 6749 §3.1)')
  const get = await app.inject({ method: 'GET', url: '/oauth/token' })
  t.equal(get.statusCode, 404, 'other methods are not routes (problem JSON 404 like any unknown route)')
})

t.test('an unexpected failure is a masked server_error', async (t) => {
  const original = app.oauth.token
  app.oauth.token = async () => { throw new Error(`boom ${orders.secret}`) }
  t.teardown(() => { app.oauth.token = original })
  const res = await oauthPost(app, 'token', orders, grant)
  assertOAuthError(t, res, 500, 'server_error')
  t.notOk(res.body.includes(orders.secret))
})

t.test('the secret is stored only as its SHA-256, never in clear', async (t) => {
  const row = await database.prisma.oauthClient.findUniqueOrThrow({ where: { clientId: orders.clientId } })
  t.equal(row.secretHash, createHash('sha256').update(orders.secret).digest('base64url'))
  t.notOk(JSON.stringify(row).includes(orders.secret), 'the row holds no clear secret')
  t.match(orders.secret, /^[A-Za-z0-9_-]{43}$/, '32 random bytes, base64url')
  t.match(orders.clientId, /^svc_[A-Za-z0-9_-]{22}$/)
})

t.test('rate-limited per IP across the three endpoints (RATE_LIMIT_OAUTH)', async (t) => {
  const { app: limited } = await buildWithDatabase(t, { RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_OAUTH: '2' })
  const client = await newClient(limited)
  t.equal((await oauthPost(limited, 'token', client, grant)).statusCode, 200)
  t.equal((await oauthPost(limited, 'introspect', client, { token: 'x' })).statusCode, 200)
  const res = await oauthPost(limited, 'revoke', client, { token: 'x' })
  assertOAuthError(t, res, 429, 'temporarily_unavailable')
  t.ok(res.headers['retry-after'], 'Retry-After')
})
