// Housekeeping (simplejwt's flushexpiredtokens): exactly the expired tokens and dead sessions
// go, in batches; live sessions keep working; the counts are right; the periodic run inside
// the service and the `authd flush-expired` command do the same.
import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { openDatabase, type PrismaClient } from '../../src/db/database.js'
import { createHousekeepingRepository } from '../../src/repositories/housekeeping.js'
import { EXPIRY_MARGIN_SECONDS, flushExpired } from '../../src/services/housekeeping.js'
import { buildWithDatabase, freshPostgresUrl, me, onPostgres, refresh, register } from '../helper.js'
import { pgliteTemplate } from '../pglite-template.js'

const TTL = 86_400
const HOUR = 3_600_000
const ago = (ms: number) => new Date(Date.now() - ms)
const ahead = (ms: number) => new Date(Date.now() + ms)

async function seedUser (prisma: PrismaClient): Promise<string> {
  const id = randomUUID()
  await prisma.user.create({ data: { id, email: `hk-${id}@example.com`, passwordHash: 'not-a-hash' } })
  return id
}

async function seedSession (prisma: PrismaClient, userId: string, s: { expiresAt: Date, revokedAt?: Date }): Promise<string> {
  const id = randomUUID()
  await prisma.session.create({
    data: { id, userId, expiresAt: s.expiresAt, revokedAt: s.revokedAt ?? null, revokeReason: s.revokedAt === undefined ? null : 'logout' }
  })
  return id
}

async function seedToken (prisma: PrismaClient, userId: string, sessionId: string, expiresAt: Date, blacklisted = false): Promise<string> {
  const jti = randomUUID()
  await prisma.outstandingToken.create({
    data: {
      jti,
      userId,
      sessionId,
      issuedAt: new Date(expiresAt.getTime() - TTL * 1000),
      expiresAt,
      ...(blacklisted ? { blacklisted: { create: { reason: 'rotated' } } } : {})
    }
  })
  return jti
}

interface Seeded {
  /** Rows that must be gone after a flush. */
  gone: { tokens: string[], blacklisted: string[], sessions: string[] }
  /** Rows that must still be there. */
  kept: { tokens: string[], blacklisted: string[], sessions: string[] }
}

/**
 * One of every case: 6 expired tokens (4 of them blacklisted) and 2 dead sessions must go;
 * tokens inside their expiry margin or still live, and sessions that are alive, recently
 * revoked or still holding a token, must stay.
 */
async function seedMixture (prisma: PrismaClient): Promise<Seeded> {
  const user = await seedUser(prisma)
  const gone: Seeded['gone'] = { tokens: [], blacklisted: [], sessions: [] }
  const kept: Seeded['kept'] = { tokens: [], blacklisted: [], sessions: [] }

  // Expired session, its whole family expired: everything goes.
  const expired = await seedSession(prisma, user, { expiresAt: ago(2 * HOUR) })
  gone.sessions.push(expired)
  for (const blacklisted of [true, true, false]) {
    const jti = await seedToken(prisma, user, expired, ago(2 * HOUR + 1000), blacklisted)
    gone.tokens.push(jti)
    if (blacklisted) gone.blacklisted.push(jti)
  }

  // Revoked longer than REFRESH_TOKEN_TTL ago (though its expiresAt is ahead: the TTL was
  // lowered since): its expired token goes, then the session.
  const revokedLongAgo = await seedSession(prisma, user, { expiresAt: ahead(HOUR), revokedAt: ago(TTL * 1000 + HOUR) })
  gone.sessions.push(revokedLongAgo)
  const t1 = await seedToken(prisma, user, revokedLongAgo, ago(HOUR), true)
  gone.tokens.push(t1)
  gone.blacklisted.push(t1)

  // Revoked an hour ago, not yet expired: its expired token goes, the session stays (for now).
  const revokedRecently = await seedSession(prisma, user, { expiresAt: ahead(HOUR), revokedAt: ago(HOUR) })
  kept.sessions.push(revokedRecently)
  gone.tokens.push(await seedToken(prisma, user, revokedRecently, ago(HOUR), false))

  // Expired session that still holds a live token (a sibling issued in the grace window
  // outlives the session's expiresAt): both stay.
  const expiredWithLiveToken = await seedSession(prisma, user, { expiresAt: ago(1000) })
  kept.sessions.push(expiredWithLiveToken)
  kept.tokens.push(await seedToken(prisma, user, expiredWithLiveToken, ahead(HOUR)))

  // Live session: its old rotated (blacklisted) expired tokens go, the live ones stay; a token
  // that expired only seconds ago is inside the margin and stays too.
  const live = await seedSession(prisma, user, { expiresAt: ahead(HOUR) })
  kept.sessions.push(live)
  const old1 = await seedToken(prisma, user, live, ago(3 * HOUR), true)
  gone.tokens.push(old1)
  gone.blacklisted.push(old1)
  // 5 s ago: well inside the margin even when a loaded machine is slow to run the flush.
  const justExpired = await seedToken(prisma, user, live, ago(5_000), true)
  kept.tokens.push(justExpired)
  kept.blacklisted.push(justExpired)
  const liveBlacklisted = await seedToken(prisma, user, live, ahead(HOUR), true)
  kept.tokens.push(liveBlacklisted)
  kept.blacklisted.push(liveBlacklisted)
  kept.tokens.push(await seedToken(prisma, user, live, ahead(HOUR)))

  return { gone, kept }
}

async function assertFlushed (t: Test, prisma: PrismaClient, seeded: Seeded): Promise<void> {
  const tokens = async (jtis: string[]) => (await prisma.outstandingToken.findMany({ where: { jti: { in: jtis } }, select: { jti: true } })).map((r) => r.jti).sort()
  const blacklisted = async (jtis: string[]) => (await prisma.blacklistedToken.findMany({ where: { jti: { in: jtis } }, select: { jti: true } })).map((r) => r.jti).sort()
  const sessions = async (ids: string[]) => (await prisma.session.findMany({ where: { id: { in: ids } }, select: { id: true } })).map((r) => r.id).sort()
  t.same(await tokens(seeded.gone.tokens), [], 'every expired outstanding token is gone')
  t.same(await blacklisted(seeded.gone.blacklisted), [], 'their blacklist rows are gone')
  t.same(await sessions(seeded.gone.sessions), [], 'every dead session without tokens is gone')
  t.same(await tokens(seeded.kept.tokens), [...seeded.kept.tokens].sort(), 'live (and just-expired) tokens are kept')
  t.same(await blacklisted(seeded.kept.blacklisted), [...seeded.kept.blacklisted].sort(), 'their blacklist rows are kept')
  t.same(await sessions(seeded.kept.sessions), [...seeded.kept.sessions].sort(), 'live, recently revoked and token-holding sessions are kept')
}

t.test('flushExpired deletes exactly the expired tokens and dead sessions, in batches', async (t) => {
  const { app, database } = await buildWithDatabase(t, { HOUSEKEEPING_INTERVAL: '0' })
  const prisma = database.prisma

  // Real sessions made through the API, one of them rotated once.
  const alice = await register(app)
  const bob = await register(app)
  const rotated = await refresh(app, bob.tokens.refresh)
  t.equal(rotated.statusCode, 200, 'bob refreshed once')
  const bobTokens = rotated.json().tokens

  const seeded = await seedMixture(prisma)
  const before = {
    tokens: await prisma.outstandingToken.count(),
    blacklisted: await prisma.blacklistedToken.count(),
    sessions: await prisma.session.count()
  }

  // Batch size 2: 6 expired tokens take 4 statements (the last finds none), 2 dead sessions 2.
  const result = await flushExpired(createHousekeepingRepository(prisma), { batchSize: 2, revokedRetention: TTL })
  t.same(result, { outstandingTokens: 6, blacklistedTokens: 4, sessions: 2, loginFailures: 0, mfaChallenges: 0 }, 'the counts returned')
  await assertFlushed(t, prisma, seeded)
  t.same({
    tokens: await prisma.outstandingToken.count(),
    blacklisted: await prisma.blacklistedToken.count(),
    sessions: await prisma.session.count()
  }, { tokens: before.tokens - 6, blacklisted: before.blacklisted - 4, sessions: before.sessions - 2 }, 'nothing else was deleted')

  t.equal((await me(app, alice.tokens.access)).statusCode, 200, 'a live access token still works')
  t.equal((await refresh(app, alice.tokens.refresh)).statusCode, 200, 'a live session still refreshes')
  t.equal((await refresh(app, bobTokens.refresh)).statusCode, 200, 'a rotated session still refreshes')

  t.same(await flushExpired(createHousekeepingRepository(prisma), { batchSize: 2, revokedRetention: TTL }), { outstandingTokens: 0, blacklistedTokens: 0, sessions: 0, loginFailures: 0, mfaChallenges: 0 }, 'a second run finds nothing')
})

t.test('an old rotated token of a live family goes; the family keeps refreshing', async (t) => {
  const { app, database } = await buildWithDatabase(t, { HOUSEKEEPING_INTERVAL: '0' })
  const prisma = database.prisma
  const s = await register(app)
  let tokens = s.tokens
  for (let i = 0; i < 3; i++) {
    const res = await refresh(app, tokens.refresh)
    t.equal(res.statusCode, 200, `refresh ${i + 1}`)
    tokens = res.json().tokens
  }
  // Age the three rotated ancestors (as if the refresh lifetime had passed for them).
  const ancestors = await prisma.outstandingToken.findMany({ where: { blacklisted: { isNot: null } }, select: { jti: true } })
  t.equal(ancestors.length, 3, 'three rotated tokens')
  await prisma.outstandingToken.updateMany({ where: { jti: { in: ancestors.map((a) => a.jti) } }, data: { expiresAt: ago(HOUR) } })

  const result = await flushExpired(createHousekeepingRepository(prisma), { batchSize: 1, revokedRetention: TTL })
  t.same(result, { outstandingTokens: 3, blacklistedTokens: 3, sessions: 0, loginFailures: 0, mfaChallenges: 0 }, 'the three ancestors and their blacklist rows')
  t.equal(await prisma.outstandingToken.count(), 1, 'only the live token is left')
  const res = await refresh(app, tokens.refresh)
  t.equal(res.statusCode, 200, 'the session still refreshes')
  t.equal((await me(app, res.json().tokens.access)).statusCode, 200, 'and its new access token works')
})

t.test('a session logged out long ago goes once its tokens have expired', async (t) => {
  const { app, database } = await buildWithDatabase(t, { HOUSEKEEPING_INTERVAL: '0' })
  const prisma = database.prisma
  const s = await register(app)
  const out = await app.inject({ method: 'POST', url: '/v1/app/auth/logout', payload: { refresh: s.tokens.refresh } })
  t.equal(out.statusCode, 204, 'logged out')
  t.same(await flushExpired(createHousekeepingRepository(prisma), { revokedRetention: TTL }), { outstandingTokens: 0, blacklistedTokens: 0, sessions: 0, loginFailures: 0, mfaChallenges: 0 }, 'nothing while its token may still be presented')

  // A day later (REFRESH_TOKEN_TTL): the token has expired, the session was revoked a TTL ago.
  const later = new Date(Date.now() + (TTL + 2 * EXPIRY_MARGIN_SECONDS) * 1000)
  t.same(await flushExpired(createHousekeepingRepository(prisma), { now: later, revokedRetention: TTL }), { outstandingTokens: 1, blacklistedTokens: 1, sessions: 1, loginFailures: 0, mfaChallenges: 0 }, 'token, blacklist row and session go')
  t.equal(await prisma.session.count(), 0, 'no session left')
  t.equal(await prisma.user.count(), 1, 'the user stays')
})

t.test('flushExpired refuses a batch size that is not a positive integer', async (t) => {
  const { database } = await buildWithDatabase(t, { HOUSEKEEPING_INTERVAL: '0' })
  for (const batchSize of [0, -1, 1.5]) {
    await t.rejects(flushExpired(createHousekeepingRepository(database.prisma), { batchSize, revokedRetention: TTL }), RangeError, `batchSize ${batchSize}`)
  }
})

t.test('in the service: app.housekeeping.run flushes, and never overlaps itself', async (t) => {
  const { app, database } = await buildWithDatabase(t, { HOUSEKEEPING_INTERVAL: '0' })
  const seeded = await seedMixture(database.prisma)
  const [first, second] = await Promise.all([app.housekeeping.run(), app.housekeeping.run()])
  t.same(first, { outstandingTokens: 6, blacklistedTokens: 4, sessions: 2, loginFailures: 0, mfaChallenges: 0 }, 'the first run flushed')
  t.equal(second, null, 'a run asked for while one is in progress does not start')
  await assertFlushed(t, database.prisma, seeded)
})

t.test('in the service: the periodic run (HOUSEKEEPING_INTERVAL) flushes on its own', async (t) => {
  const { database } = await buildWithDatabase(t, { HOUSEKEEPING_INTERVAL: '1' })
  const seeded = await seedMixture(database.prisma)
  // Wait (bounded by the test timeout, not asserted on) until a run has happened.
  while (await database.prisma.session.count({ where: { id: { in: seeded.gone.sessions } } }) > 0) {
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  await assertFlushed(t, database.prisma, seeded)
})

t.test('authd flush-expired prints the counts', async (t) => {
  const root = fileURLToPath(new URL('../..', import.meta.url))
  const dataDir = t.testdir()
  const url = onPostgres ? await freshPostgresUrl(t) : ''
  const cli = async (...args: string[]) => await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: url, DATA_DIR: dataDir, MIGRATE_ON_START: 'true', REFRESH_TOKEN_TTL: String(TTL) }
  }).then((r) => ({ code: 0, ...r }), (e: { code: number, stdout: string, stderr: string }) => e)

  // Seed through a connection of our own, closed before the command runs (PGlite allows one process).
  const open = async (fromTemplate = false) => await openDatabase({
    url,
    dataDir,
    poolSize: 2,
    migrate: true,
    ...(fromTemplate && !onPostgres ? { pgliteTemplate: await pgliteTemplate() } : {})
  })
  let db = await open(true)
  const seeded = await seedMixture(db.prisma)
  await db.close()

  // The flush runs first, right after seeding: the seeded expiry times are relative to now.
  const run = await cli('flush-expired', '--batch-size', '2')
  t.equal(run.code, 0, `exits 0 (${run.stderr})`)
  t.match(run.stdout, /expired outstanding tokens deleted: 6\n/, 'prints the tokens count')
  t.match(run.stdout, /expired blacklisted tokens deleted: 4\n/, 'prints the blacklisted count')
  t.match(run.stdout, /dead sessions deleted: 2\n/, 'prints the sessions count')
  // At once: the token that expired 5 s before seeding stays inside the 60 s margin only for so
  // long, and each command is a process start (seconds on a loaded machine).
  const again = await cli('flush-expired')
  t.match(again.stdout, /expired outstanding tokens deleted: 0\n[^]*dead sessions deleted: 0\n/, 'a second run finds nothing')

  const help = await cli('flush-expired', '--help')
  t.equal(help.code, 0, '--help exits 0')
  t.match(help.stdout, /Usage: authd flush-expired \[--batch-size N\]/, '--help shows the usage')
  t.match((await cli('help')).stdout, /flush-expired/, 'the command is listed in authd help')
  const bad = await cli('flush-expired', '--batch-size', 'lots')
  t.equal(bad.code, 2, 'a bad --batch-size exits 2')
  t.match(bad.stderr, /--batch-size must be a whole number/, 'and says why')

  db = await open()
  await assertFlushed(t, db.prisma, seeded)
  await db.close()
})

t.test('stale login-failure counts go; counts that still matter stay', async (t) => {
  const { database } = await buildWithDatabase(t, { HOUSEKEEPING_INTERVAL: '0' })
  const prisma = database.prisma
  const WINDOW = 900
  const row = async (key: string, lastFailedAt: Date, lockedUntil: Date | null) => {
    await prisma.loginFailure.create({ data: { key, failures: 3, firstFailedAt: lastFailedAt, lastFailedAt, lockedUntil } })
  }
  await row('locked-now', ago(60_000), ahead(HOUR))
  await row('lock-ended', ago(2 * HOUR), ago(60_000))
  await row('recent', ago(60_000), null)
  await row('quiet', ago((WINDOW + 60) * 1000), null)

  t.same(await flushExpired(createHousekeepingRepository(prisma), { revokedRetention: TTL, lockoutWindow: WINDOW }), { outstandingTokens: 0, blacklistedTokens: 0, sessions: 0, loginFailures: 2, mfaChallenges: 0 }, 'two stale counts')
  const left = (await prisma.loginFailure.findMany({ select: { key: true }, orderBy: { key: 'asc' } })).map((r) => r.key)
  t.same(left, ['locked-now', 'recent'], 'a lock in force and a recent count are kept')
})
