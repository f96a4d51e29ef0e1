// POST /v1/app/auth/refresh (API.md: refresh-token rules): rotation, blacklist, grace window,
// reuse detection, and rejection of every token that is not a live refresh token.
import { randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import { assertProblem, buildWithDatabase, me, refresh, register } from '../../helper.js'
import { flipSignatureChar, refreshClaims, signRefresh, withPayload } from '../../jwt-helper.js'

const TOKEN_FIELDS = ['access', 'accessExpiresIn', 'refresh', 'refreshExpiresIn', 'tokenType']
const INVALID_TOKEN = /^Bearer realm="authd", error="invalid_token"$/

// Default configuration: a 10-second grace window.
const { app, database } = await buildWithDatabase(t)
// Grace window off: any second use of a rotated token is reuse.
const strict = await buildWithDatabase(t, { REFRESH_GRACE_SECONDS: '0' })

type Res = Awaited<ReturnType<typeof refresh>>
function assertRejected (t: Test, res: Res, code: string): void {
  assertProblem(t, res, 401, code)
  t.match(res.headers['www-authenticate'], INVALID_TOKEN, 'WWW-Authenticate names the rejected token')
}

t.test('rotation: a new refresh token every time, and a working access token', async (t) => {
  const s = await register(app)
  const seen = new Set([s.tokens.refresh])
  let current = s.tokens.refresh
  for (let i = 0; i < 3; i++) {
    const res = await refresh(app, current)
    t.equal(res.statusCode, 200, res.body.slice(0, 200))
    t.equal(res.headers['cache-control'], 'no-store')
    const body = res.json()
    t.same(Object.keys(body), ['tokens'], 'only tokens')
    t.same(Object.keys(body.tokens).sort(), TOKEN_FIELDS)
    t.equal(body.tokens.tokenType, 'Bearer')
    t.equal(body.tokens.accessExpiresIn, 300)
    t.equal(body.tokens.refreshExpiresIn, 86400)
    t.notOk(seen.has(body.tokens.refresh), `refresh #${i + 1} returns a token never seen before`)
    seen.add(body.tokens.refresh)
    const meRes = await me(app, body.tokens.access)
    t.equal(meRes.statusCode, 200, 'the new access token works')
    t.equal(meRes.json().id, s.user.id)
    t.equal(refreshClaims(body.tokens.refresh).sid, refreshClaims(s.tokens.refresh).sid, 'same session')
    current = body.tokens.refresh
  }
})

t.test('the presented token is blacklisted and its child recorded in the same session', async (t) => {
  const s = await register(app)
  const old = refreshClaims(s.tokens.refresh)
  const res = await refresh(app, s.tokens.refresh)
  t.equal(res.statusCode, 200)
  const child = refreshClaims(res.json().tokens.refresh)

  const prisma = database.prisma
  const blacklisted = await prisma.blacklistedToken.findUnique({ where: { jti: old.jti } })
  t.equal(blacklisted?.reason, 'rotated', 'old token blacklisted as rotated')
  const row = await prisma.outstandingToken.findUnique({ where: { jti: child.jti } })
  t.ok(row, 'child is an outstanding token')
  t.equal(row?.parentJti, old.jti, 'child points at its parent')
  t.equal(row?.sessionId, old.sid, 'child is in the same session')
  t.equal(row?.userId, s.user.id)
  t.equal(child.sid, old.sid)
  t.equal(await prisma.blacklistedToken.count({ where: { jti: child.jti } }), 0, 'child is not blacklisted')
  const session = await prisma.session.findUniqueOrThrow({ where: { id: old.sid } })
  t.equal(session.revokedAt, null)
})

t.test('reuse after the grace window (REFRESH_GRACE_SECONDS=0) kills the whole family', async (t) => {
  const s = await register(strict.app)
  const first = await refresh(strict.app, s.tokens.refresh)
  t.equal(first.statusCode, 200)
  const newest = first.json().tokens

  const reuse = await refresh(strict.app, s.tokens.refresh)
  assertRejected(t, reuse, 'token_reused')

  assertRejected(t, await refresh(strict.app, newest.refresh), 'token_invalid')
  const meRes = await me(strict.app, newest.access)
  t.equal(meRes.statusCode, 401, 'the newest access token no longer works')
  t.match(meRes.headers['www-authenticate'], /^Bearer realm="authd"/)
  t.equal((await me(strict.app, s.tokens.access)).statusCode, 401, 'nor the first one')

  const sid = refreshClaims(s.tokens.refresh).sid
  const prisma = strict.database.prisma
  const session = await prisma.session.findUniqueOrThrow({ where: { id: sid } })
  t.not(session.revokedAt, null, 'session revoked')
  t.equal(session.revokeReason, 'reuse_detected')
  const tokens = await prisma.outstandingToken.findMany({ where: { sessionId: sid }, include: { blacklisted: true } })
  t.equal(tokens.length, 2)
  t.ok(tokens.every((o) => o.blacklisted !== null), 'every token of the family is blacklisted')
  t.equal(tokens.find((o) => o.jti === refreshClaims(newest.refresh).jti)?.blacklisted?.reason, 'reuse_detected')

  // Presenting the stolen token yet again keeps failing and never revives anything.
  assertProblem(t, await refresh(strict.app, s.tokens.refresh), 401, 'token_invalid')
})

t.test('reuse kills only that family: other sessions of the user live on', async (t) => {
  const s = await register(strict.app)
  const other = await strict.app.inject({ method: 'POST', url: '/v1/app/auth/login', payload: { login: s.email, password: s.password } })
  t.equal(other.statusCode, 200)
  t.equal((await refresh(strict.app, s.tokens.refresh)).statusCode, 200)
  assertRejected(t, await refresh(strict.app, s.tokens.refresh), 'token_reused')
  const res = await refresh(strict.app, other.json().tokens.refresh)
  t.equal(res.statusCode, 200, 'the other session still refreshes')
  t.equal((await me(strict.app, res.json().tokens.access)).statusCode, 200)
})

/** Live refresh tokens of a session: outstanding and not blacklisted. */
async function liveTokens (sid: string): Promise<string[]> {
  const rows = await database.prisma.outstandingToken.findMany({ where: { sessionId: sid, blacklisted: null }, select: { jti: true } })
  return rows.map((r) => r.jti)
}

/** Moves a token's rotation `seconds` into the past, as if the grace window had run out. */
async function rotatedAgo (jti: string, seconds: number): Promise<void> {
  await database.prisma.blacklistedToken.update({ where: { jti }, data: { blacklistedAt: new Date(Date.now() - seconds * 1000) } })
}

t.test('within the grace window a rotated token gets the same child refresh token again', async (t) => {
  const s = await register(app)
  const { sid, jti: parentJti } = refreshClaims(s.tokens.refresh)
  const first = await refresh(app, s.tokens.refresh)
  t.equal(first.statusCode, 200)
  const second = await refresh(app, s.tokens.refresh)
  t.equal(second.statusCode, 200, `second use within the grace window: ${second.body.slice(0, 200)}`)
  const third = await refresh(app, s.tokens.refresh)
  t.equal(third.statusCode, 200, 'and a third')

  const a = first.json().tokens
  const b = second.json().tokens
  t.equal(b.refresh, a.refresh, 'the very refresh token the rotation issued, byte for byte')
  t.equal(third.json().tokens.refresh, a.refresh, 'every time')
  t.not(b.access, a.access, 'with a fresh access token')
  t.ok(b.refreshExpiresIn <= a.refreshExpiresIn && b.refreshExpiresIn > a.refreshExpiresIn - 5, 'whose lifetime counts down from the first reply')
  t.equal((await me(app, b.access)).statusCode, 200, 'its access token works')
  t.equal((await me(app, a.access)).statusCode, 200, 'and the first access token still works')

  const prisma = database.prisma
  t.equal(await prisma.outstandingToken.count({ where: { parentJti } }), 1, 'one child recorded, however often the parent is presented')
  t.same(await liveTokens(sid), [refreshClaims(a.refresh).jti], 'exactly one live refresh token in the session')
  t.equal((await prisma.session.findUniqueOrThrow({ where: { id: sid } })).revokedAt, null, 'nothing revoked')

  const next = await refresh(app, a.refresh)
  t.equal(next.statusCode, 200, 'the child refreshes')
  t.equal(refreshClaims(next.json().tokens.refresh).sid, sid)
  t.same(await liveTokens(sid), [refreshClaims(next.json().tokens.refresh).jti], 'and is then the session\'s only live token')
})

t.test('a thief who refreshes first gets no branch of their own: the owner\'s late use is caught', async (t) => {
  // The thief copies the refresh token and uses it a moment before the owner does.
  const s = await register(app)
  const { sid } = refreshClaims(s.tokens.refresh)
  const thief = (await refresh(app, s.tokens.refresh)).json().tokens
  const owner = (await refresh(app, s.tokens.refresh)).json().tokens
  t.equal(owner.refresh, thief.refresh, 'inside the window the owner is handed the thief\'s token, not a second family')
  t.same(await liveTokens(sid), [refreshClaims(thief.refresh).jti], 'one live token')

  // The thief rotates on; later (after the window) the owner uses the token they hold.
  const thiefNext = (await refresh(app, thief.refresh)).json().tokens
  await rotatedAgo(refreshClaims(owner.refresh).jti, 60)
  assertRejected(t, await refresh(app, owner.refresh), 'token_reused')
  assertRejected(t, await refresh(app, thiefNext.refresh), 'token_invalid')
  t.equal((await me(app, thiefNext.access)).statusCode, 401, 'the thief\'s access token is dead on authd too')
  t.equal((await database.prisma.session.findUniqueOrThrow({ where: { id: sid } })).revokeReason, 'reuse_detected')
})

t.test('the grace window replays only while the session lives', async (t) => {
  await t.test('not after a logout', async (t) => {
    const s = await register(app)
    const child = (await refresh(app, s.tokens.refresh)).json().tokens
    const out = await app.inject({ method: 'POST', url: '/v1/app/auth/logout', payload: { refresh: child.refresh } })
    t.equal(out.statusCode, 204)
    assertRejected(t, await refresh(app, s.tokens.refresh), 'token_invalid')
  })
  await t.test('not for a deactivated user', async (t) => {
    const s = await register(app)
    t.equal((await refresh(app, s.tokens.refresh)).statusCode, 200)
    await database.prisma.user.update({ where: { id: s.user.id }, data: { isActive: false } })
    assertRejected(t, await refresh(app, s.tokens.refresh), 'token_invalid')
  })
  await t.test('not after the window: reuse', async (t) => {
    const s = await register(app)
    t.equal((await refresh(app, s.tokens.refresh)).statusCode, 200)
    await rotatedAgo(refreshClaims(s.tokens.refresh).jti, 11)
    assertRejected(t, await refresh(app, s.tokens.refresh), 'token_reused')
  })
})

t.test('an access token is not a refresh token, nor the reverse', async (t) => {
  const s = await register(app)
  assertRejected(t, await refresh(app, s.tokens.access), 'token_invalid')

  const asBearer = await me(app, s.tokens.refresh)
  assertProblem(t, asBearer, 401, 'token_invalid')
  t.match(asBearer.headers['www-authenticate'], INVALID_TOKEN)

  const verify = await app.inject({ method: 'POST', url: '/v1/auth/verify', payload: { token: s.tokens.refresh } })
  t.equal(verify.statusCode, 401, 'the verify endpoint does not accept a refresh token either')

  t.equal((await refresh(app, s.tokens.refresh)).statusCode, 200, 'the refresh token was not spent by those attempts')
})

t.test('garbage and tampered tokens are 401 token_invalid, never 5xx', async (t) => {
  const s = await register(app)
  const token = s.tokens.refresh
  const claims = refreshClaims(token)
  const cases: Record<string, string> = {
    'plain text': 'garbage',
    'three dots': '...',
    'a.b.c': 'a.b.c',
    'random base64 parts': `${Buffer.from('{"alg":"HS256"}').toString('base64url')}.${Buffer.from('not json').toString('base64url')}.xyz`,
    'flipped signature character': flipSignatureChar(token),
    'signature removed': token.split('.').slice(0, 2).join('.') + '.',
    'other user in payload': withPayload(token, (p) => ({ ...p, sub: randomUUID() })),
    'later expiry in payload': withPayload(token, (p) => ({ ...p, exp: (p.exp as number) + 3600 })),
    'alg none': `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'refresh+jwt' })).toString('base64url')}.${token.split('.')[1]}.`,
    'unicode noise': 'ééé.ççç.ààà',
    'very long': 'x'.repeat(4000)
  }
  for (const [name, value] of Object.entries(cases)) {
    const res = await refresh(app, value)
    t.ok(res.statusCode < 500, `${name}: no 5xx (${res.statusCode})`)
    assertRejected(t, res, 'token_invalid')
  }

  // Properly signed, but not something authd issued or would accept.
  const signed: Record<string, Promise<string>> = {
    'unknown jti': signRefresh({ sub: claims.sub, sid: claims.sid, jti: randomUUID(), iat: claims.iat, exp: claims.exp }),
    'unknown session': signRefresh({ sub: claims.sub, sid: randomUUID(), jti: claims.jti, iat: claims.iat, exp: claims.exp }),
    'jti not a uuid': signRefresh({ sub: claims.sub, sid: claims.sid, jti: "1' OR '1'='1", iat: claims.iat, exp: claims.exp }),
    'missing sid': signRefresh({ sub: claims.sub, jti: claims.jti, iat: claims.iat, exp: claims.exp }),
    'wrong audience': signRefresh({ ...claims }, { audience: 'authd' }),
    'wrong issuer': signRefresh({ ...claims }, { issuer: 'someone-else' }),
    'wrong typ': signRefresh({ ...claims }, { typ: 'JWT' }),
    'wrong secret': signRefresh({ ...claims }, { key: Buffer.alloc(32, 7) })
  }
  for (const [name, promise] of Object.entries(signed)) {
    const res = await refresh(app, await promise)
    t.ok(res.statusCode < 500, `${name}: no 5xx (${res.statusCode})`)
    assertRejected(t, res, 'token_invalid')
  }

  const empty = await refresh(app, '')
  assertProblem(t, empty, 400, 'validation_failed')
  const missing = await app.inject({ method: 'POST', url: '/v1/app/auth/refresh', payload: {} })
  assertProblem(t, missing, 400, 'validation_failed')
  const unknown = await app.inject({ method: 'POST', url: '/v1/app/auth/refresh', payload: { refresh: token, access: s.tokens.access } })
  assertProblem(t, unknown, 400, 'validation_failed')
  t.match(unknown.json().errors, [{ field: 'access', code: 'unknown_field' }])

  t.equal((await refresh(app, token)).statusCode, 200, 'the genuine token still works after all that')
})

t.test('an expired refresh token is 401 token_expired', async (t) => {
  const s = await register(app)
  const claims = refreshClaims(s.tokens.refresh)
  const now = Math.floor(Date.now() / 1000)
  // Same claims, re-signed with the test secret: proves the crafted token is otherwise acceptable...
  const fresh = await signRefresh({ sub: claims.sub, sid: claims.sid, jti: claims.jti, iat: now - 10, exp: now + 3600 })
  // ...so that the only thing wrong with this one is its expiry.
  const expired = await signRefresh({ sub: claims.sub, sid: claims.sid, jti: claims.jti, iat: now - 7200, exp: now - 3600 })

  const res = await refresh(app, expired)
  assertRejected(t, res, 'token_expired')
  t.equal((await refresh(app, fresh)).statusCode, 200, 'the same claims with a future expiry are accepted')
})

t.test('an inactive user cannot refresh', async (t) => {
  const s = await register(app)
  await database.prisma.user.update({ where: { id: s.user.id }, data: { isActive: false } })
  assertRejected(t, await refresh(app, s.tokens.refresh), 'token_invalid')
  t.equal((await me(app, s.tokens.access)).statusCode, 401, 'nor use its access token')
})
