// GET/DELETE /v1/sessions and DELETE /v1/sessions/{id}: a user's own logins, listing them,
// ending one, ending all; never anyone else's.
import { randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { assertProblem, buildWithDatabase, me, refresh, register, type AppTokens, type Session } from '../helper.js'
import { decodePayload } from '../jwt-helper.js'

const SESSION_FIELDS = ['createdAt', 'current', 'id', 'ip', 'lastUsedAt', 'userAgent']
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

const { app, database } = await buildWithDatabase(t)
const prisma = database.prisma

/**
 * helper.ts's assertProblem wants `m?: string` assertions, which tap's own (message-or-extra
 * rest parameter) does not type-check against; this adapter bridges the two without a cast.
 */
function problem (t: Test, res: LightMyRequestResponse, status: number, code: string): void {
  assertProblem({ equal: (a, b, m) => { t.equal(a, b, m ?? '') }, match: (a, b, m) => { t.match(a, b, m ?? '') } }, res, status, code)
}

const bearer = (access: string) => ({ authorization: `Bearer ${access}` })
const sid = (tokens: AppTokens): string => decodePayload<{ sid: string }>(tokens.access).sid

async function loginFrom (app: FastifyInstance, s: Session, client: { userAgent?: string, ip?: string } = {}): Promise<AppTokens> {
  const res = await app.inject({
    method: 'POST',
    url: '/v1/app/auth/login',
    payload: { login: s.email, password: s.password },
    headers: client.userAgent === undefined ? {} : { 'user-agent': client.userAgent },
    ...(client.ip === undefined ? {} : { remoteAddress: client.ip })
  })
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`)
  return res.json().tokens
}

const list = async (access: string) => await app.inject({ method: 'GET', url: '/v1/sessions', headers: bearer(access) })
const revokeOne = async (access: string, id: string) => await app.inject({ method: 'DELETE', url: `/v1/sessions/${id}`, headers: bearer(access) })
const revokeAll = async (access: string) => await app.inject({ method: 'DELETE', url: '/v1/sessions', headers: bearer(access) })

/** Asserts that a session's access and refresh tokens are both refused (or both accepted). */
async function assertAlive (t: Test, tokens: AppTokens, alive: boolean, name: string): Promise<AppTokens> {
  const access = await me(app, tokens.access)
  const refreshed: LightMyRequestResponse = await refresh(app, tokens.refresh)
  if (alive) {
    t.equal(access.statusCode, 200, `${name}: access token works`)
    t.equal(refreshed.statusCode, 200, `${name}: refresh token works (${refreshed.body.slice(0, 200)})`)
    return refreshed.json().tokens
  }
  problem(t, access, 401, 'token_invalid')
  t.equal(refreshed.statusCode, 401, `${name}: refresh token refused`)
  return tokens
}

/** Outstanding tokens of a session that are not blacklisted (should be 0 once it is revoked). */
const unblacklisted = async (sessionId: string) => await prisma.outstandingToken.count({ where: { sessionId, blacklisted: null } })

t.test('GET lists the live sessions, newest first, marking the current one', async (t) => {
  const s = await register(app)
  // End the registration's session: revoked sessions are not listed.
  const out = await app.inject({ method: 'POST', url: '/v1/app/auth/logout', payload: { refresh: s.tokens.refresh } })
  t.equal(out.statusCode, 204)

  const laptop = await loginFrom(app, s, { userAgent: 'Laptop/1.0 (Firefox)', ip: '198.51.100.7' })
  const phone = await loginFrom(app, s, { userAgent: 'Phone/2.0 (Safari)', ip: '2001:db8::42' })
  // Two logins may share a millisecond: make "newest" unambiguous.
  await prisma.session.update({ where: { id: sid(laptop) }, data: { createdAt: new Date(Date.now() - 60_000) } })

  const fromLaptop = await list(laptop.access)
  t.equal(fromLaptop.statusCode, 200, fromLaptop.body)
  t.match(fromLaptop.headers['content-type'], /^application\/json/)
  const sessions = fromLaptop.json() as Array<Record<string, unknown>>
  t.equal(sessions.length, 2, 'exactly the two logins')
  for (const session of sessions) {
    t.same(Object.keys(session).sort(), SESSION_FIELDS, 'exactly the documented fields')
    t.match(session.createdAt, ISO_INSTANT)
    t.match(session.lastUsedAt, ISO_INSTANT)
  }
  t.same(sessions.map((x) => x.id), [sid(phone), sid(laptop)], 'newest first')
  t.match(sessions[0], { userAgent: 'Phone/2.0 (Safari)', ip: '2001:db8::42', current: false })
  t.match(sessions[1], { userAgent: 'Laptop/1.0 (Firefox)', ip: '198.51.100.7', current: true })
  t.notMatch(fromLaptop.body, /jti|refresh|revoke|expires|userId/i, 'nothing internal leaks')

  const fromPhone = (await list(phone.access)).json() as Array<{ id: string, current: boolean }>
  t.same(fromPhone.filter((x) => x.current).map((x) => x.id), [sid(phone)], 'current follows the token that asks')

  // An expired session is not live either.
  await prisma.session.update({ where: { id: sid(phone) }, data: { expiresAt: new Date(Date.now() - 1000) } })
  t.same((await list(laptop.access)).json().map((x: { id: string }) => x.id), [sid(laptop)], 'expired session not listed')
})

t.test('a session without a User-Agent is listed with userAgent null', async (t) => {
  const s = await register(app)
  await prisma.session.update({ where: { id: sid(s.tokens) }, data: { userAgent: null } })
  const [session] = (await list(s.tokens.access)).json()
  t.match(session, { id: sid(s.tokens), userAgent: null, ip: String, current: true })
})

t.test('the list shows only the caller\'s sessions', async (t) => {
  const a = await register(app)
  const b = await register(app)
  await loginFrom(app, b)
  const ids = (await list(a.tokens.access)).json().map((x: { id: string }) => x.id)
  t.same(ids, [sid(a.tokens)])
})

t.test('DELETE /v1/sessions/{id} ends that session only', async (t) => {
  const s = await register(app)
  let keep = s.tokens
  let doomed = await loginFrom(app, s, { userAgent: 'Old tablet' })
  // A few rotations: every refresh token of the family must be blacklisted, not just the last.
  doomed = await assertAlive(t, doomed, true, 'doomed before')
  doomed = await assertAlive(t, doomed, true, 'doomed before, again')

  const res = await revokeOne(keep.access, sid(doomed))
  t.equal(res.statusCode, 204, res.body)
  t.equal(res.body, '', 'no body')

  await assertAlive(t, doomed, false, 'revoked session')
  keep = await assertAlive(t, keep, true, 'the other session')
  t.same((await list(keep.access)).json().map((x: { id: string }) => x.id), [sid(keep)], 'no longer listed')

  const row = await prisma.session.findUniqueOrThrow({ where: { id: sid(doomed) } })
  t.ok(row.revokedAt instanceof Date, 'revokedAt set')
  t.equal(row.revokeReason, 'revoked')
  t.ok(await prisma.outstandingToken.count({ where: { sessionId: sid(doomed) } }) >= 3, 'the family had several tokens')
  t.equal(await unblacklisted(sid(doomed)), 0, 'every token of the family is blacklisted')
  t.ok(await unblacklisted(sid(keep)) >= 1, 'the other session still has a live token')

  // Revoking it again is a no-op, not an error: it is still the caller's session.
  t.equal((await revokeOne(keep.access, sid(doomed))).statusCode, 204, 'idempotent')
})

t.test('DELETE /v1/sessions/{id} of the current session logs this client out', async (t) => {
  const s = await register(app)
  const other = await loginFrom(app, s)
  t.equal((await revokeOne(s.tokens.access, sid(s.tokens))).statusCode, 204)
  await assertAlive(t, s.tokens, false, 'current session')
  await assertAlive(t, other, true, 'the other session')
})

t.test('another user\'s session id, an unknown id and a malformed id all get 404', async (t) => {
  const victim = await register(app)
  const attacker = await register(app)
  const cases: Record<string, string> = {
    'another user\'s session': sid(victim.tokens),
    'unknown uuid': randomUUID(),
    'not a uuid': 'not-a-session',
    'uuid with SQL': `${randomUUID()}'--`,
    number: '1'
  }
  for (const [name, id] of Object.entries(cases)) {
    const res = await revokeOne(attacker.tokens.access, encodeURIComponent(id))
    t.test(name, async (t) => { problem(t, res, 404, 'not_found') })
  }
  const res = await revokeOne(attacker.tokens.access, sid(victim.tokens))
  t.equal(res.json().detail, (await revokeOne(attacker.tokens.access, randomUUID())).json().detail, 'same answer as for an unknown id')

  await assertAlive(t, victim.tokens, true, 'the victim\'s session')
  const row = await prisma.session.findUniqueOrThrow({ where: { id: sid(victim.tokens) } })
  t.equal(row.revokedAt, null, 'not revoked')
  t.equal(await prisma.blacklistedToken.count({ where: { token: { sessionId: sid(victim.tokens) }, reason: 'revoked' } }), 0, 'nothing blacklisted')
})

t.test('DELETE /v1/sessions ends every session of the user, the current one included', async (t) => {
  const s = await register(app)
  const second = await loginFrom(app, s)
  const third = await loginFrom(app, s)
  const bystander = await register(app)

  const res = await revokeAll(second.access)
  t.equal(res.statusCode, 204, res.body)
  t.equal(res.body, '')
  for (const [name, tokens] of Object.entries({ first: s.tokens, second, third })) {
    await assertAlive(t, tokens, false, name)
    t.equal(await unblacklisted(sid(tokens)), 0, `${name}: every token blacklisted`)
  }
  t.equal(await prisma.session.count({ where: { userId: s.user.id, revokedAt: null } }), 0, 'no session left unrevoked')
  await assertAlive(t, bystander.tokens, true, 'another user')

  // The user can log in again afterwards, and only the new session is listed.
  const fresh = await loginFrom(app, s)
  t.same((await list(fresh.access)).json().map((x: { id: string }) => x.id), [sid(fresh)])
})

t.test('without a live session every route answers 401 first', async (t) => {
  const s = await register(app)
  const other = await register(app)
  const routes = (access?: string) => {
    const headers = access === undefined ? {} : bearer(access)
    return [
      app.inject({ method: 'GET', url: '/v1/sessions', headers }),
      app.inject({ method: 'DELETE', url: '/v1/sessions', headers }),
      app.inject({ method: 'DELETE', url: `/v1/sessions/${sid(other.tokens)}`, headers }),
      // 401 wins over the 404 a malformed id would get.
      app.inject({ method: 'DELETE', url: '/v1/sessions/not-a-uuid', headers })
    ]
  }
  for (const res of await Promise.all(routes())) {
    problem(t, res, 401, 'authentication_required')
    t.equal(res.headers['www-authenticate'], 'Bearer realm="authd"')
  }
  for (const res of await Promise.all(routes(s.tokens.refresh))) problem(t, res, 401, 'token_invalid')

  const out = await app.inject({ method: 'POST', url: '/v1/app/auth/logout', payload: { refresh: s.tokens.refresh } })
  t.equal(out.statusCode, 204)
  for (const res of await Promise.all(routes(s.tokens.access))) {
    problem(t, res, 401, 'token_invalid')
    t.equal(res.headers['www-authenticate'], 'Bearer realm="authd", error="invalid_token"')
  }
  await assertAlive(t, other.tokens, true, 'the other user\'s session, untouched by the dead token')
})
