// POST /oauth/introspect (RFC 7662) and /oauth/revoke (RFC 7009): introspection says active only
// while the token verifies AND its session is alive (logout, rotation, revocation, deactivation
// all end that at once); revocation of a refresh token ends its session through logout's path.
// Garbage is `{ active: false }` and a 200 revoke. Neither endpoint works without a client.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { signJws } from '../../../src/keys/jws-sign.js'
import { buildWithDatabase, me, refresh, register, TEST_ISSUER, testKeys } from '../../helper.js'
import { flipSignatureChar, signRefresh, withPayload } from '../../jwt-helper.js'
import { assertOAuthError, newClient, oauthPost } from './oauth-helper.js'

const { app, database } = await buildWithDatabase(t)
const gateway = await newClient(app, { name: 'gateway' })
const introspect = async (token: string, extra: Record<string, string> = {}) => {
  const res = await oauthPost(app, 'introspect', gateway, { token, ...extra })
  t.equal(res.statusCode, 200, res.body)
  t.equal(res.headers['cache-control'], 'no-store')
  return res.json()
}
const revoke = async (token: string, how: 'basic' | 'post' = 'basic') => await oauthPost(app, 'revoke', gateway, { token }, how)
const logout = async (refreshToken: string) => await app.inject({ method: 'POST', url: '/v1/app/auth/logout', payload: { refresh: refreshToken } })

t.test('a live user access token: active, with its claims', async (t) => {
  const user = await register(app)
  const res = await introspect(user.tokens.access, { token_type_hint: 'access_token' })
  t.match(res, { active: true, token_type: 'access_token', sub: user.user.id, sid: String, iss: TEST_ISSUER, aud: 'authd', roles: [], amr: ['pwd'], exp: Number, iat: Number, jti: String, auth_time: Number })
  t.notOk('client_id' in res, 'no client_id on a user\'s token')
  // client_secret_post works the same.
  t.equal((await oauthPost(app, 'introspect', gateway, { token: user.tokens.access }, 'post')).json().active, true)
})

t.test('after logout: active false, and nothing else', async (t) => {
  const user = await register(app)
  t.equal((await logout(user.tokens.refresh)).statusCode, 204)
  t.same(await introspect(user.tokens.access), { active: false })
  t.same(await introspect(user.tokens.refresh), { active: false })
})

t.test('refresh tokens: active while they are the session\'s live one; the rotated one is not', async (t) => {
  const user = await register(app)
  t.match(await introspect(user.tokens.refresh, { token_type_hint: 'refresh_token' }), { active: true, token_type: 'refresh_token', sub: user.user.id, sid: String, exp: Number, iat: Number, jti: String })
  const rotated = await refresh(app, user.tokens.refresh)
  t.equal(rotated.statusCode, 200)
  t.same(await introspect(user.tokens.refresh), { active: false }, 'the old one, even inside the grace window')
  t.equal((await introspect(rotated.json().tokens.refresh)).active, true, 'the new one')
  t.equal((await introspect(user.tokens.access)).active, true, 'the session goes on: its access token too')
})

t.test('a deactivated user\'s tokens are inactive, whatever their session row says', async (t) => {
  const user = await register(app)
  await database.prisma.user.update({ where: { id: user.user.id }, data: { isActive: false } })
  t.same(await introspect(user.tokens.access), { active: false })
  t.same(await introspect(user.tokens.refresh), { active: false })
})

t.test('revoking a refresh token ends its session: refresh fails, its access token is inactive', async (t) => {
  const user = await register(app)
  const res = await revoke(user.tokens.refresh)
  t.equal(res.statusCode, 200)
  t.equal(res.body, '', 'an empty 200')
  t.equal(res.headers['cache-control'], 'no-store')
  t.equal((await refresh(app, user.tokens.refresh)).statusCode, 401, 'the refresh token no longer works')
  t.same(await introspect(user.tokens.access), { active: false }, 'introspection reports its access token inactive')
  t.equal((await me(app, user.tokens.access)).statusCode, 401, 'and authd\'s own routes refuse it')
  t.match(await database.prisma.session.findFirst({ where: { userId: user.user.id } }), { revokeReason: 'logout' }, 'ended the way logout ends it')
  t.match(await database.prisma.auditEvent.findMany({ where: { userId: user.user.id, type: 'logged_out' } }), [{ detail: { sessionId: String } }], 'audited as a logout')
  t.equal((await revoke(user.tokens.refresh, 'post')).statusCode, 200, 'revoking it again: 200, nothing more')
})

t.test('revoking an access token or garbage: 200 and nothing happens', async (t) => {
  const user = await register(app)
  for (const token of [user.tokens.access, 'garbage', flipSignatureChar(user.tokens.refresh), 'a.b.c']) {
    t.equal((await revoke(token)).statusCode, 200, token.slice(0, 20))
  }
  t.equal((await me(app, user.tokens.access)).statusCode, 200, 'the session is alive')
  t.equal((await refresh(app, user.tokens.refresh)).statusCode, 200, 'and refreshes')
})

t.test('garbage and forgeries: active false', async (t) => {
  const user = await register(app)
  for (const token of ['', 'garbage', 'a.b.c', flipSignatureChar(user.tokens.access), flipSignatureChar(user.tokens.refresh), withPayload(user.tokens.access, (p) => ({ ...p, sub: 'x' })), 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.']) {
    const res = await oauthPost(app, 'introspect', gateway, { token })
    if (token === '') {
      t.equal(res.statusCode, 200, 'an empty token is no token: inactive')
    }
    t.same(res.json(), { active: false }, JSON.stringify(token.slice(0, 30)))
  }
})

t.test('a service\'s token: active with client_id and scope while its client is enabled', async (t) => {
  const svc = await newClient(app, { scopes: ['a', 'b'], audience: ['svc-x'] })
  const token = (await oauthPost(app, 'token', svc, { grant_type: 'client_credentials', scope: 'a' })).json().access_token as string
  t.match(await introspect(token), { active: true, token_type: 'access_token', sub: svc.clientId, client_id: svc.clientId, scope: 'a', aud: 'svc-x', iss: TEST_ISSUER })
  await app.oauthClients.disable({ clientId: svc.clientId }, null)
  t.same(await introspect(token), { active: false }, 'disabled: its tokens are inactive')
  await database.prisma.oauthClient.delete({ where: { clientId: svc.clientId } })
  t.same(await introspect(token), { active: false }, 'deleted: the same')
})

t.test('both endpoints need client authentication and a token', async (t) => {
  const user = await register(app)
  for (const path of ['introspect', 'revoke'] as const) {
    assertOAuthError(t, await oauthPost(app, path, null, { token: user.tokens.refresh }), 401, 'invalid_client')
    assertOAuthError(t, await oauthPost(app, path, { ...gateway, secret: 'wrong' }, { token: user.tokens.refresh }), 401, 'invalid_client')
    assertOAuthError(t, await oauthPost(app, path, gateway, {}), 400, 'invalid_request')
  }
  t.equal((await refresh(app, user.tokens.refresh)).statusCode, 200, 'the refused revocations did nothing')
})

t.test('well-signed tokens authd never issued, or with claims that do not fit: active false', async (t) => {
  const key = (await testKeys()).access
  const now = Math.floor(Date.now() / 1000)
  const svc = { iss: TEST_ISSUER, aud: 'authd', sub: gateway.clientId, client_id: gateway.clientId, scope: '', jti: 'x', iat: now, exp: now + 60 }
  const sign = async (claims: Record<string, unknown>) => await signJws(key, { alg: key.alg, kid: key.kid, typ: 'at+jwt' }, claims)
  t.equal((await introspect(await sign(svc))).active, true, 'the well-formed service token is active (the control)')
  for (const [what, claims] of [
    ['issued in the future', { ...svc, iat: now + 3600 }],
    ['client_id other than sub', { ...svc, sub: 'svc_someoneelse' }],
    ['a scope that is not a string', { ...svc, scope: ['a'] }]
  ] as const) {
    t.same(await introspect(await sign(claims)), { active: false }, what)
  }
  // A refresh token signed with authd's secret whose session and jti were never recorded.
  const unknown = await signRefresh({ sub: randomUUID(), sid: randomUUID(), jti: randomUUID(), iat: now, exp: now + 60 })
  t.same(await introspect(unknown), { active: false }, 'a refresh token of no session')
})

t.test('a failure to check the session is a server_error, never "inactive"', async (t) => {
  const user = await register(app)
  const original = app.sessions.liveUser
  app.sessions.liveUser = async () => { throw new Error('database gone') }
  t.teardown(() => { app.sessions.liveUser = original })
  assertOAuthError(t, await oauthPost(app, 'introspect', gateway, { token: user.tokens.access }), 500, 'server_error')
})
