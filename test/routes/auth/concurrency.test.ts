// API.md: "N concurrent refreshes with one token never produce a 5xx, never leave two
// independent live families, and never lose the session", and (v1 additions) within the grace
// window they all get the same child refresh token: a session has exactly one live token. On PGlite the requests queue on one
// connection; on PostgreSQL (TEST_DATABASE_URL) they really race over a connection pool.
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import type { PrismaClient } from '../../../src/db/database.js'
import { buildWithDatabase, me, onPostgres, refresh, register } from '../../helper.js'
import { refreshClaims } from '../../jwt-helper.js'

const N = 20
// PGlite serialises the requests anyway; PostgreSQL is where repeated races are worth it.
const BURSTS = onPostgres ? 3 : 2

type Res = Awaited<ReturnType<typeof refresh>>

async function burst (app: FastifyInstance, token: string, n = N): Promise<Res[]> {
  return await Promise.all(Array.from({ length: n }, async () => await refresh(app, token)))
}

function summary (responses: Res[]): string {
  const counts: Record<string, number> = {}
  for (const r of responses) {
    const key = r.statusCode === 200 ? '200' : `${r.statusCode} ${String(r.json().code)}`
    counts[key] = (counts[key] ?? 0) + 1
  }
  return JSON.stringify(counts)
}

/** Everything a user could observe about the family afterwards, checked against the contract. */
async function assertOneFamily (t: Test, prisma: PrismaClient, userId: string, sid: string): Promise<void> {
  const sessions = await prisma.session.findMany({ where: { userId } })
  t.equal(sessions.length, 1, 'still exactly one session: no second family')
  t.equal(sessions[0]?.id, sid)
  const tokens = await prisma.outstandingToken.findMany({ where: { userId } })
  t.ok(tokens.every((o) => o.sessionId === sid), `all ${tokens.length} outstanding tokens belong to that session`)
}

const { app, database } = await buildWithDatabase(t)
const strict = await buildWithDatabase(t, { REFRESH_GRACE_SECONDS: '0' })

/** The session's live refresh tokens: outstanding and not blacklisted. */
async function liveJtis (prisma: PrismaClient, sid: string): Promise<string[]> {
  return (await prisma.outstandingToken.findMany({ where: { sessionId: sid, blacklisted: null }, select: { jti: true } })).map((o) => o.jti)
}

t.test(`${N} concurrent refreshes of one token within the grace window`, async (t) => {
  for (let round = 1; round <= BURSTS; round++) {
    await t.test(`burst ${round}`, async (t) => {
      const s = await register(app)
      const { sid, jti } = refreshClaims(s.tokens.refresh)
      const responses = await burst(app, s.tokens.refresh)
      const statuses = responses.map((r) => r.statusCode)
      t.ok(statuses.every((code) => code < 500), `no 5xx: ${summary(responses)}`)
      // Within the grace window every caller gets a pair (two tabs at once)...
      t.ok(statuses.every((code) => code === 200), `every request got a pair: ${summary(responses)}`)

      // ...and it is one pair's refresh token for all of them: the session does not fork.
      const pairs = responses.map((r) => r.json().tokens as { access: string, refresh: string })
      const refreshTokens = new Set(pairs.map((p) => p.refresh))
      t.equal(refreshTokens.size, 1, `every caller got the identical refresh token (${refreshTokens.size} distinct)`)
      const [only] = [...refreshTokens] as [string]
      t.equal(refreshClaims(only).sid, sid, 'in the original session')
      t.same(await liveJtis(database.prisma, sid), [refreshClaims(only).jti], 'exactly one outstanding token of the session is live: that one')
      t.same(await database.prisma.outstandingToken.count({ where: { parentJti: jti } }), 1, 'one child recorded')

      await assertOneFamily(t, database.prisma, s.user.id, sid)
      const session = await database.prisma.session.findUniqueOrThrow({ where: { id: sid } })
      t.equal(session.revokedAt, null, 'session not revoked')
      t.same((await database.prisma.blacklistedToken.findMany({ where: { token: { sessionId: sid } } })).map((b) => [b.jti, b.reason]),
        [[jti, 'rotated']], 'only the presented token is blacklisted')

      // The session is not lost: every access token handed out works, and the one refresh token refreshes.
      const meStatuses = await Promise.all(pairs.map(async (pair) => (await me(app, pair.access)).statusCode))
      t.ok(meStatuses.every((code) => code === 200), `every access token works: ${meStatuses.join(',')}`)
      const next = await refresh(app, only)
      t.equal(next.statusCode, 200, 'the refresh token handed out refreshes')
      t.same(await liveJtis(database.prisma, sid), [refreshClaims(next.json().tokens.refresh as string).jti], 'and the session still has one live token')
    })
  }
})

t.test('two tabs sharing one session refresh at once, round after round', async (t) => {
  const s = await register(app)
  const { sid } = refreshClaims(s.tokens.refresh)
  let token = s.tokens.refresh
  for (let round = 0; round < 5; round++) {
    const responses = await burst(app, token, 2)
    t.ok(responses.every((r) => r.statusCode === 200), `round ${round}: both tabs got a pair: ${summary(responses)}`)
    const [a, b] = responses.map((r) => r.json().tokens.refresh as string) as [string, string]
    t.equal(a, b, `round ${round}: both tabs hold the same refresh token`)
    t.same(await liveJtis(database.prisma, sid), [refreshClaims(a).jti], `round ${round}: one live token`)
    token = a
  }
  await assertOneFamily(t, database.prisma, s.user.id, sid)
  t.equal((await database.prisma.session.findUniqueOrThrow({ where: { id: sid } })).revokedAt, null, 'session not revoked')
})

t.test(`${N} concurrent refreshes of one token with REFRESH_GRACE_SECONDS=0`, async (t) => {
  for (let round = 1; round <= BURSTS; round++) {
    await t.test(`burst ${round}`, async (t) => {
      const s = await register(strict.app)
      const { sid } = refreshClaims(s.tokens.refresh)
      const responses = await burst(strict.app, s.tokens.refresh)
      const statuses = responses.map((r) => r.statusCode)
      t.ok(statuses.every((code) => code < 500), `no 5xx: ${summary(responses)}`)
      t.ok(statuses.every((code) => code === 200 || code === 401), 'only 200 or 401')
      t.ok(statuses.includes(200), `at least one 200: ${summary(responses)}`)
      const codes = new Set(responses.filter((r) => r.statusCode === 401).map((r) => r.json().code as string))
      t.ok([...codes].every((code) => code === 'token_reused' || code === 'token_invalid'), `401s are token_reused/token_invalid: ${[...codes].join(', ')}`)
      for (const r of responses.filter((r) => r.statusCode === 401)) {
        t.match(r.headers['www-authenticate'], /error="invalid_token"/)
      }

      await assertOneFamily(t, strict.database.prisma, s.user.id, sid)
      const ok = responses.filter((r) => r.statusCode === 200).map((r) => r.json().tokens as { access: string, refresh: string })
      t.ok(ok.every((p) => refreshClaims(p.refresh).sid === sid), 'every pair handed out is in the original session')

      const session = await strict.database.prisma.session.findUniqueOrThrow({ where: { id: sid } })
      if (codes.has('token_reused')) {
        // Reuse was detected: the whole family is dead, including what the winners got.
        t.not(session.revokedAt, null, 'token_reused answered, so the session is revoked')
        const tokens = await strict.database.prisma.outstandingToken.findMany({ where: { sessionId: sid }, include: { blacklisted: true } })
        t.ok(tokens.every((o) => o.blacklisted !== null), 'every token of the family is blacklisted')
        for (const pair of ok) {
          t.equal((await refresh(strict.app, pair.refresh)).statusCode, 401, 'no live refresh token left behind')
          t.equal((await me(strict.app, pair.access)).statusCode, 401, 'no live access token left behind')
        }
      } else {
        t.equal(session.revokedAt, null, 'no reuse reported, so the session is alive')
        for (const pair of ok) t.equal((await refresh(strict.app, pair.refresh)).statusCode, 200, 'and its tokens refresh')
      }
      await assertOneFamily(t, strict.database.prisma, s.user.id, sid)
    })
  }
})

t.test('refreshes racing a logout: after the logout nothing of the session works', async (t) => {
  for (let round = 1; round <= BURSTS; round++) {
    await t.test(`race ${round}`, async (t) => {
      const s = await register(app)
      const { sid } = refreshClaims(s.tokens.refresh)
      const child = (await refresh(app, s.tokens.refresh)).json().tokens
      const logoutAt = Math.floor(N / 2)
      const requests = Array.from({ length: N }, async (_, i) => i === logoutAt
        ? await app.inject({ method: 'POST', url: '/v1/app/auth/logout', payload: { refresh: child.refresh } })
        : await refresh(app, i % 2 === 0 ? child.refresh : s.tokens.refresh))
      const responses = await Promise.all(requests)
      const logoutRes = responses[logoutAt]!
      const refreshes = responses.filter((_, i) => i !== logoutAt)
      const session = await database.prisma.session.findUniqueOrThrow({ where: { id: sid } })
      t.ok(responses.every((r) => r.statusCode < 500), `no 5xx: logout ${logoutRes.statusCode}, refreshes ${summary(refreshes)}`)
      t.equal(logoutRes.statusCode, 204, 'logout succeeds')
      t.ok(refreshes.every((r) => r.statusCode === 200 || r.statusCode === 401), 'refreshes answer 200 or 401')
      // Everything happens within the grace window: losing a race with a logout is not theft.
      t.ok(refreshes.every((r) => r.statusCode === 200 || r.json().code === 'token_invalid'), `refused refreshes are token_invalid, not token_reused: ${summary(refreshes)}`)
      t.not(session.revokeReason, 'reuse_detected', 'the session ended by logout, not by reuse detection')

      await assertOneFamily(t, database.prisma, s.user.id, sid)
      t.not(session.revokedAt, null, 'the session is ended')
      // Whatever a racing refresh handed out must be dead now.
      const pairs = refreshes.filter((r) => r.statusCode === 200).map((r) => r.json().tokens as { access: string, refresh: string })
      const after = await Promise.all(pairs.map(async (p) => [(await refresh(app, p.refresh)).statusCode, (await me(app, p.access)).statusCode]))
      t.ok(after.every(([r, m]) => r === 401 && m === 401), `no token from a racing refresh survives the logout (${pairs.length} checked)`)
      t.equal((await refresh(app, child.refresh)).statusCode, 401)
      t.equal((await me(app, child.access)).statusCode, 401)
    })
  }
})
