// POST /v1/app/auth/logout (API.md: 204; that session's refresh tokens are blacklisted).
import t from 'tap'
import { assertProblem, buildWithDatabase, login, me, refresh, register } from '../../helper.js'
import { refreshClaims } from '../../jwt-helper.js'

const URL = '/v1/app/auth/logout'
const { app, database } = await buildWithDatabase(t)
const prisma = database.prisma

const logout = async (payload: unknown) => await app.inject({ method: 'POST', url: URL, payload: payload as Record<string, unknown> })

t.test('204, then neither the refresh nor the access token of that session works', async (t) => {
  const s = await register(app)
  const res = await logout({ refresh: s.tokens.refresh })
  t.equal(res.statusCode, 204, res.body)
  t.equal(res.body, '', 'no body')

  const again = await refresh(app, s.tokens.refresh)
  assertProblem(t, again, 401, 'token_invalid')
  t.match(again.headers['www-authenticate'], /error="invalid_token"/)
  const meRes = await me(app, s.tokens.access)
  assertProblem(t, meRes, 401, 'token_invalid')
  t.match(meRes.headers['www-authenticate'], /^Bearer realm="authd"/)
})

t.test('every outstanding token of the session is blacklisted', async (t) => {
  const s = await register(app)
  const sid = refreshClaims(s.tokens.refresh).sid
  // Grow the family: a rotation, its replay from the grace window (the same child), and a
  // rotation of the child.
  const child = (await refresh(app, s.tokens.refresh)).json().tokens
  const replay = (await refresh(app, s.tokens.refresh)).json().tokens
  t.equal(replay.refresh, child.refresh, 'the grace window replays the child')
  const grandchild = (await refresh(app, child.refresh)).json().tokens
  const live = [grandchild.refresh].map((token) => refreshClaims(token).jti)

  t.equal((await logout({ refresh: grandchild.refresh })).statusCode, 204)

  const tokens = await prisma.outstandingToken.findMany({ where: { sessionId: sid }, include: { blacklisted: true } })
  t.equal(tokens.length, 3, 'first, child, grandchild')
  t.ok(tokens.every((o) => o.blacklisted !== null), 'every one is blacklisted')
  for (const o of tokens.filter((o) => live.includes(o.jti))) {
    t.equal(o.blacklisted?.reason, 'logout', 'tokens that were live are blacklisted for logout')
  }
  const session = await prisma.session.findUniqueOrThrow({ where: { id: sid } })
  t.not(session.revokedAt, null, 'the session is ended')
  t.equal(session.revokeReason, 'logout')

  for (const token of [s.tokens.refresh, child.refresh, grandchild.refresh]) {
    t.equal((await refresh(app, token)).statusCode, 401, 'no token of the family refreshes')
  }
  for (const access of [s.tokens.access, child.access, replay.access, grandchild.access]) {
    t.equal((await me(app, access)).statusCode, 401, 'no access token of the family works')
  }
})

t.test('other sessions of the same user keep working', async (t) => {
  const s = await register(app)
  const phone = (await login(app, s.email, s.password)).json().tokens
  const laptop = (await login(app, s.email, s.password)).json().tokens

  t.equal((await logout({ refresh: laptop.refresh })).statusCode, 204)

  t.equal((await me(app, s.tokens.access)).statusCode, 200, 'the first session still answers /users/me')
  t.equal((await me(app, phone.access)).statusCode, 200, 'the phone too')
  const r1 = await refresh(app, s.tokens.refresh)
  t.equal(r1.statusCode, 200, 'and refreshes')
  t.equal((await refresh(app, phone.refresh)).statusCode, 200)
  t.equal((await me(app, laptop.access)).statusCode, 401, 'only the laptop is logged out')

  const laptopSid = refreshClaims(laptop.refresh).sid
  const others = await prisma.session.findMany({ where: { userId: s.user.id, id: { not: laptopSid } } })
  t.equal(others.length, 2)
  t.ok(others.every((o) => o.revokedAt === null), 'other sessions not revoked')
  t.equal(await prisma.blacklistedToken.count({ where: { reason: 'logout', token: { userId: s.user.id, sessionId: { not: laptopSid } } } }), 0,
    'no token of another session blacklisted for logout')
})

t.test('logging out after a rotation with the newest token ends the session', async (t) => {
  const s = await register(app)
  const newest = (await refresh(app, s.tokens.refresh)).json().tokens
  t.equal((await logout({ refresh: newest.refresh })).statusCode, 204)
  t.equal((await refresh(app, newest.refresh)).statusCode, 401)
  t.equal((await me(app, newest.access)).statusCode, 401)
})

t.test('bad requests', async (t) => {
  const s = await register(app)
  for (const garbage of ['garbage', 'a.b.c', s.tokens.access]) {
    const res = await logout({ refresh: garbage })
    assertProblem(t, res, 401, 'token_invalid')
    t.match(res.headers['www-authenticate'], /error="invalid_token"/)
  }

  const unknown = await logout({ refresh: s.tokens.refresh, everywhere: true })
  assertProblem(t, unknown, 400, 'validation_failed')
  t.match(unknown.json().errors, [{ field: 'everywhere', code: 'unknown_field' }])
  assertProblem(t, await logout({}), 400, 'validation_failed')
  assertProblem(t, await logout({ refresh: 42 }), 400, 'validation_failed')

  t.equal((await me(app, s.tokens.access)).statusCode, 200, 'none of that logged the session out')
  t.equal((await refresh(app, s.tokens.refresh)).statusCode, 200)
})
