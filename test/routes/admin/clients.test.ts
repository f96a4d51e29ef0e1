// The admin API over service credentials: create (the secret once), list (never a secret),
// rotate-secret (the old one dies at once), disable (idempotent). Admins only; creating and
// rotating need a recent authentication; every change in the audit trail with the admin as actor.
import t from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { assertProblem, buildWithDatabase, login, register } from '../../helper.js'
import { oauthPost } from '../oauth/oauth-helper.js'

const { app, database } = await buildWithDatabase(t)
const prisma = database.prisma

const user = await register(app)
const adminSession = await register(app)
await prisma.user.update({ where: { id: adminSession.user.id }, data: { roles: ['admin'] } })
const admin = (await login(app, adminSession.email, adminSession.password)).json().tokens.access as string

async function call (access: string, method: 'GET' | 'POST', url: string, payload?: unknown): Promise<LightMyRequestResponse> {
  return await app.inject({ method, url, headers: { authorization: `Bearer ${access}` }, ...(payload === undefined ? {} : { payload: payload as object }) })
}

let created: { clientId: string, clientSecret: string, id: string }

t.test('create: 201 with the secret, shown this once; the client gets tokens with it', async (t) => {
  const res = await call(admin, 'POST', '/v1/admin/clients', { name: 'billing', scopes: ['invoices:read'], audience: ['billing-api'] })
  t.equal(res.statusCode, 201, res.body)
  created = res.json()
  t.match(created, { id: String, clientId: /^svc_/, name: 'billing', scopes: ['invoices:read'], audience: ['billing-api'], createdAt: String, secretRotatedAt: null, disabledAt: null, clientSecret: /^[A-Za-z0-9_-]{43}$/ })
  t.notOk('secretHash' in created, 'never the hash')
  const token = await oauthPost(app, 'token', { clientId: created.clientId, secret: created.clientSecret }, { grant_type: 'client_credentials' })
  t.equal(token.statusCode, 200, token.body)
  t.match(await prisma.auditEvent.findFirst({ where: { type: 'client_created' } }), { actorId: adminSession.user.id, detail: { clientId: created.clientId, name: 'billing', scopes: ['invoices:read'], audience: ['billing-api'], via: 'admin' } })
  t.equal((await call(admin, 'POST', '/v1/admin/clients', { name: 'minimal' })).json().scopes.length, 0, 'scopes and audience are optional')
})

t.test('list: every client, never a secret', async (t) => {
  const res = await call(admin, 'GET', '/v1/admin/clients')
  t.equal(res.statusCode, 200)
  t.match(res.json().clients, [{ clientId: created.clientId, name: 'billing' }, { name: 'minimal' }])
  t.notOk(res.body.includes(created.clientSecret), 'no secret')
  t.notOk(res.body.includes('secretHash'), 'no hash')
})

t.test('rotate-secret: a new secret, the old one refused at once', async (t) => {
  const res = await call(admin, 'POST', `/v1/admin/clients/${created.id}/rotate-secret`)
  t.equal(res.statusCode, 200, res.body)
  t.match(res.json(), { clientId: created.clientId, secretRotatedAt: String, clientSecret: String })
  t.not(res.json().clientSecret, created.clientSecret)
  t.equal((await oauthPost(app, 'token', { clientId: created.clientId, secret: created.clientSecret }, { grant_type: 'client_credentials' })).statusCode, 401, 'the old secret')
  t.equal((await oauthPost(app, 'token', { clientId: created.clientId, secret: res.json().clientSecret }, { grant_type: 'client_credentials' })).statusCode, 200, 'the new one')
  t.match(await prisma.auditEvent.findFirst({ where: { type: 'client_secret_rotated' } }), { actorId: adminSession.user.id, detail: { clientId: created.clientId, via: 'admin' } })
  t.notOk(JSON.stringify((await prisma.auditEvent.findMany()).map((e) => e.detail)).includes(res.json().clientSecret), 'no secret in the audit trail')
})

t.test('disable: the client is refused; disabling again changes nothing; rotating a disabled client is 404', async (t) => {
  const res = await call(admin, 'POST', `/v1/admin/clients/${created.id}/disable`)
  t.equal(res.statusCode, 200, res.body)
  t.match(res.json(), { clientId: created.clientId, disabledAt: String })
  const again = await call(admin, 'POST', `/v1/admin/clients/${created.id}/disable`)
  t.equal(again.statusCode, 200)
  t.equal(again.json().disabledAt, res.json().disabledAt, 'the first disabling stands')
  t.equal(await prisma.auditEvent.count({ where: { type: 'client_disabled' } }), 1, 'recorded once')
  assertProblem(t, await call(admin, 'POST', `/v1/admin/clients/${created.id}/rotate-secret`), 404, 'not_found')
})

t.test('unknown and malformed client ids: 404', async (t) => {
  for (const path of ['00000000-0000-4000-8000-000000000000', created.clientId, 'nope', '..%2F']) {
    assertProblem(t, await call(admin, 'POST', `/v1/admin/clients/${path}/disable`), 404, 'not_found')
    assertProblem(t, await call(admin, 'POST', `/v1/admin/clients/${path}/rotate-secret`), 404, 'not_found')
  }
})

t.test('bad bodies: 400 validation_failed', async (t) => {
  for (const body of [{}, { name: '' }, { name: 'x', scopes: ['has space'] }, { name: 'x', scopes: ['a', 'a'] }, { name: 'x', audience: [''] }, { name: 'x', secret: 'mine' }]) {
    assertProblem(t, await call(admin, 'POST', '/v1/admin/clients', body), 400, 'validation_failed')
  }
})

t.test('non-admins: 403; no token: 401', async (t) => {
  for (const [method, url] of [['POST', '/v1/admin/clients'], ['GET', '/v1/admin/clients'], ['POST', `/v1/admin/clients/${created.id}/rotate-secret`], ['POST', `/v1/admin/clients/${created.id}/disable`]] as const) {
    assertProblem(t, await call(user.tokens.access, method, url, method === 'POST' ? { name: 'x' } : undefined), 403, 'forbidden')
    assertProblem(t, await app.inject({ method, url }), 401, 'authentication_required')
  }
})

t.test('create and rotate need a recent authentication; disable does not', async (t) => {
  const sid = JSON.parse(Buffer.from(admin.split('.')[1] as string, 'base64url').toString()).sid as string
  await prisma.session.update({ where: { id: sid }, data: { authTime: new Date(Date.now() - 24 * 3600_000) } })
  t.teardown(async () => { await prisma.session.update({ where: { id: sid }, data: { authTime: new Date() } }) })
  const other = (await call(admin, 'GET', '/v1/admin/clients')).json().clients[1].id as string
  assertProblem(t, await call(admin, 'POST', '/v1/admin/clients', { name: 'late' }), 403, 'reauthentication_required')
  assertProblem(t, await call(admin, 'POST', `/v1/admin/clients/${other}/rotate-secret`), 403, 'reauthentication_required')
  t.equal((await call(admin, 'POST', `/v1/admin/clients/${other}/disable`)).statusCode, 200, 'taking access away needs no step-up')
})
