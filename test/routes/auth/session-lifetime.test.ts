// SESSION_MAX_LIFETIME (API.md v1 additions; ASVS v5 7.3.2): a session lasts at most this long
// from its login, however often it is refreshed. Time is moved by moving the session's
// created_at into the past, never by waiting.
import t from 'tap'
import { parseConfig } from '../../../src/config.js'
import { assertProblem, buildWithDatabase, login, me, newAccount, refresh, register } from '../../helper.js'
import { refreshClaims } from '../../jwt-helper.js'

const HOUR = 3600
const ORIGIN = 'http://localhost:5173'
const { app, database } = await buildWithDatabase(t, { SESSION_MAX_LIFETIME: String(HOUR), REFRESH_TOKEN_TTL: '86400', CORS_ORIGINS: ORIGIN, COOKIE_SECURE: 'false' })
const prisma = database.prisma

/** As if the session had been opened `seconds` ago. */
async function openedAgo (sid: string, seconds: number): Promise<void> {
  await prisma.session.update({ where: { id: sid }, data: { createdAt: new Date(Date.now() - seconds * 1000) } })
}

t.test('the default is 30 days, and the setting is bounded', async (t) => {
  t.equal(parseConfig({}).SESSION_MAX_LIFETIME, 2_592_000)
  t.throws(() => parseConfig({ SESSION_MAX_LIFETIME: '10' }), /SESSION_MAX_LIFETIME/)
  t.throws(() => parseConfig({ SESSION_MAX_LIFETIME: 'forever' }), /SESSION_MAX_LIFETIME/)
})

t.test('a login says how long the session can be refreshed: the lifetime, when it is shorter than the token', async (t) => {
  const s = await register(app)
  t.equal(s.tokens.refreshExpiresIn, HOUR, 'refreshExpiresIn is capped at SESSION_MAX_LIFETIME')
  const res = await login(app, s.email, s.password)
  t.equal(res.json().tokens.refreshExpiresIn, HOUR)
  const session = await prisma.session.findUniqueOrThrow({ where: { id: refreshClaims(res.json().tokens.refresh).sid } })
  t.ok(session.expiresAt.getTime() <= session.createdAt.getTime() + HOUR * 1000 + 1000, 'the session row expires with its lifetime')
})

t.test('rotation does not slide the session past its lifetime', async (t) => {
  const s = await register(app)
  const { sid } = refreshClaims(s.tokens.refresh)
  await openedAgo(sid, HOUR - 600)
  const res = await refresh(app, s.tokens.refresh)
  t.equal(res.statusCode, 200, 'still inside the lifetime')
  const left = res.json().tokens.refreshExpiresIn as number
  t.ok(left <= 600 && left > 590, `refreshExpiresIn counts down to the session's end (${left} s), not a new REFRESH_TOKEN_TTL`)
  const session = await prisma.session.findUniqueOrThrow({ where: { id: sid } })
  t.ok(session.expiresAt.getTime() <= session.createdAt.getTime() + HOUR * 1000, 'the session row is not extended past its lifetime')
  t.equal((await prisma.session.count({ where: { userId: s.user.id, expiresAt: { gt: new Date(Date.now() + 601_000) } } })), 0, 'no session of the user outlives it')
})

t.test('past its lifetime, refresh answers 401 session_expired and the session is ended', async (t) => {
  const s = await register(app)
  const { sid } = refreshClaims(s.tokens.refresh)
  const child = (await refresh(app, s.tokens.refresh)).json().tokens
  await openedAgo(sid, HOUR + 1)

  const res = await refresh(app, child.refresh)
  assertProblem(t, res, 401, 'session_expired')
  t.match(res.headers['www-authenticate'], /error="invalid_token"/)

  const session = await prisma.session.findUniqueOrThrow({ where: { id: sid } })
  t.not(session.revokedAt, null, 'the session is revoked')
  t.equal(session.revokeReason, 'expired')
  t.equal(await prisma.outstandingToken.count({ where: { sessionId: sid, blacklisted: null } }), 0, 'no refresh token of it is left live')
  t.equal(await prisma.auditEvent.count({ where: { type: 'session_expired', userId: s.user.id } }), 1, 'audited once')
  assertProblem(t, await me(app, child.access), 401, 'token_invalid')
  assertProblem(t, await refresh(app, child.refresh), 401, 'token_invalid')
  t.equal((await prisma.session.findMany({ where: { userId: s.user.id, revokedAt: null } })).length, 0)

  // A new login is a new session with a full lifetime.
  const again = await login(app, s.email, s.password)
  t.equal(again.statusCode, 200)
  t.equal((await refresh(app, again.json().tokens.refresh)).statusCode, 200)
})

t.test('an access token stops working on authd when its session reaches its lifetime', async (t) => {
  const s = await register(app)
  t.equal((await me(app, s.tokens.access)).statusCode, 200)
  await openedAgo(refreshClaims(s.tokens.refresh).sid, HOUR + 1)
  assertProblem(t, await me(app, s.tokens.access), 401, 'token_invalid')
})

t.test('the grace window does not replay a token whose session reached its lifetime', async (t) => {
  const s = await register(app)
  const { sid } = refreshClaims(s.tokens.refresh)
  t.equal((await refresh(app, s.tokens.refresh)).statusCode, 200)
  await openedAgo(sid, HOUR + 1)
  assertProblem(t, await refresh(app, s.tokens.refresh), 401, 'session_expired')
  t.equal((await prisma.session.findUniqueOrThrow({ where: { id: sid } })).revokeReason, 'expired', 'ended as expired, not as reuse')
})

t.test('browser: the cookie lives as long as the session may, and is cleared when it expires', async (t) => {
  const account = newAccount()
  const reg = await app.inject({ method: 'POST', url: '/v1/browser/auth/register', headers: { origin: ORIGIN }, payload: account })
  t.equal(reg.statusCode, 201)
  const cookie = reg.cookies.find((c) => c.name.endsWith('authd_refresh'))
  t.equal(cookie?.maxAge, HOUR, 'Max-Age of the refresh cookie is the lifetime')
  await openedAgo(refreshClaims(cookie?.value ?? '').sid, HOUR + 1)
  const res = await app.inject({
    method: 'POST',
    url: '/v1/browser/auth/refresh',
    headers: { origin: ORIGIN, cookie: `${cookie?.name ?? ''}=${cookie?.value ?? ''}`, 'x-csrf-token': reg.json().tokens.csrfToken }
  })
  assertProblem(t, res, 401, 'session_expired')
  t.ok(res.cookies.length >= 2 && res.cookies.every((c) => c.maxAge === 0), 'both cookies are cleared')
})
