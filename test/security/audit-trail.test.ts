// The security-event trail (issue 5): each event the user's own actions cause is recorded with
// its user, the client's IP and user agent, and no secret — read back through the repository.
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { createAuditRepository, type AuditEvent } from '../../src/repositories/audit-events.js'
import { buildWithDatabase, register } from '../helper.js'

const IP = '203.0.113.7'
const UA = 'audit-test/1.0 (curl-like)'

// Grace 0: a rotated refresh token shown again is reuse at once.
const { app, database } = await buildWithDatabase(t, { REFRESH_GRACE_SECONDS: '0', LOCKOUT_THRESHOLD: '2' })
const audit = createAuditRepository(database.prisma)

const call = async (target: FastifyInstance, method: 'GET' | 'POST' | 'DELETE', url: string, payload?: unknown, access?: string) =>
  await target.inject({
    method,
    url,
    remoteAddress: IP,
    headers: { 'user-agent': UA, ...(access === undefined ? {} : { authorization: `Bearer ${access}` }) },
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> })
  })

async function eventsOf (userId: string, type?: string): Promise<AuditEvent[]> {
  return (await audit.list({ userId, limit: 100, ...(type === undefined ? {} : { type }) })).events
}

/** The newest event of `type` for the user, checked for user, IP and user agent. */
async function assertEvent (t: Test, userId: string, type: string): Promise<AuditEvent> {
  const [event] = await eventsOf(userId, type)
  t.ok(event, `a ${type} event`)
  t.match(event, { type, userId, ip: IP, userAgent: UA, createdAt: Date }, `${type}: user, IP and user agent`)
  return event as AuditEvent
}

const noSecrets = (t: Test, events: AuditEvent[], secrets: string[]) => {
  const text = JSON.stringify(events)
  for (const secret of secrets) t.notOk(text.includes(secret), 'no password or token in the trail')
}

t.test('login success and failure', async (t) => {
  const s = await register(app)
  const ok = await call(app, 'POST', '/v1/app/auth/login', { login: s.email, password: s.password })
  t.equal(ok.statusCode, 200)
  const success = await assertEvent(t, s.user.id, 'login_succeeded')
  t.match(success.detail, { sessionId: String })

  t.equal((await call(app, 'POST', '/v1/app/auth/login', { login: s.email, password: 'not my password' })).statusCode, 401)
  const failure = await assertEvent(t, s.user.id, 'login_failed')
  t.match(failure.detail, { reason: 'wrong_password', failures: 1 })

  t.equal((await call(app, 'POST', '/v1/app/auth/login', { login: s.email, password: 'not my password either' })).statusCode, 429)
  const locked = await assertEvent(t, s.user.id, 'account_locked')
  t.match(locked.detail, { failures: 2, lockedForSeconds: Number })

  const ghost = await call(app, 'POST', '/v1/app/auth/login', { login: 'nobody-at-all@example.com', password: 'some password' })
  t.equal(ghost.statusCode, 401)
  const unknown = (await audit.list({ type: 'login_failed', limit: 10 })).events.find((e) => e.userId === null)
  t.match(unknown, { userId: null, ip: IP, userAgent: UA, detail: { reason: 'unknown_login' } }, 'an unknown name: no user, the reason')
  noSecrets(t, await eventsOf(s.user.id), [s.password, 'not my password', ok.json().tokens.refresh])
})

t.test('refresh reuse detected', async (t) => {
  const s = await register(app)
  t.equal((await call(app, 'POST', '/v1/app/auth/refresh', { refresh: s.tokens.refresh })).statusCode, 200, 'rotated')
  t.same(await eventsOf(s.user.id, 'refresh_reuse_detected'), [], 'a normal refresh records nothing')
  const reuse = await call(app, 'POST', '/v1/app/auth/refresh', { refresh: s.tokens.refresh })
  t.equal(reuse.json().code, 'token_reused')
  const event = await assertEvent(t, s.user.id, 'refresh_reuse_detected')
  t.match(event.detail, { sessionId: String })
  noSecrets(t, [event], [s.tokens.refresh])
})

t.test('logout', async (t) => {
  const s = await register(app)
  t.equal((await call(app, 'POST', '/v1/app/auth/logout', { refresh: s.tokens.refresh })).statusCode, 204)
  await assertEvent(t, s.user.id, 'logged_out')
  t.equal((await call(app, 'POST', '/v1/app/auth/logout', { refresh: s.tokens.refresh })).statusCode, 204, 'again')
  t.equal((await eventsOf(s.user.id, 'logged_out')).length, 1, 'a repeated logout changes nothing and records nothing')
})

t.test('password changed', async (t) => {
  const s = await register(app)
  const newPassword = 'a brand new passphrase 42'
  const res = await call(app, 'POST', '/v1/users/me/password', { currentPassword: s.password, newPassword }, s.tokens.access)
  t.equal(res.statusCode, 204)
  const event = await assertEvent(t, s.user.id, 'password_changed')
  t.match(event.detail, { sessionsRevoked: 0 })
  noSecrets(t, [event], [s.password, newPassword])

  const refused = await call(app, 'POST', '/v1/users/me/password', { currentPassword: 'wrong', newPassword: 'another new passphrase 7' }, s.tokens.access)
  t.equal(refused.statusCode, 400)
  t.equal((await eventsOf(s.user.id, 'password_changed')).length, 1, 'a refused change records nothing')
})

t.test('one session revoked, all sessions revoked', async (t) => {
  const s = await register(app)
  const second = (await call(app, 'POST', '/v1/app/auth/login', { login: s.email, password: s.password })).json()
  const sessionId = (await eventsOf(s.user.id, 'login_succeeded'))[0]?.detail as { sessionId: string }
  t.equal((await call(app, 'DELETE', `/v1/sessions/${sessionId.sessionId}`, undefined, s.tokens.access)).statusCode, 204)
  const one = await assertEvent(t, s.user.id, 'session_revoked')
  t.match(one.detail, { sessionId: sessionId.sessionId, current: false })
  t.equal((await call(app, 'DELETE', `/v1/sessions/${sessionId.sessionId}`, undefined, s.tokens.access)).statusCode, 204, 'again')
  t.equal((await eventsOf(s.user.id, 'session_revoked')).length, 1, 'revoking an ended session records nothing')

  t.equal((await call(app, 'DELETE', '/v1/sessions', undefined, s.tokens.access)).statusCode, 204)
  const all = await assertEvent(t, s.user.id, 'sessions_revoked_all')
  t.match(all.detail, { sessionsRevoked: 1 }, 'the caller\'s own session (the other was already revoked)')
  noSecrets(t, await eventsOf(s.user.id), [second.tokens.refresh, s.tokens.access])
})

t.test('account deleted: the event outlives the account', async (t) => {
  const s = await register(app)
  const signedIn = (await call(app, 'POST', '/v1/app/auth/login', { login: s.email, password: s.password })).json()
  t.equal((await call(app, 'DELETE', '/v1/users/me', { password: s.password }, signedIn.tokens.access)).statusCode, 204)
  t.equal(await database.prisma.user.count({ where: { id: s.user.id } }), 0, 'the user is gone')
  const event = await assertEvent(t, s.user.id, 'account_deleted')
  t.match(event.detail, { email: s.email })
  t.equal((await eventsOf(s.user.id, 'login_succeeded')).length, 1, 'the earlier login is still in the trail')
  noSecrets(t, [event], [s.password])
})
