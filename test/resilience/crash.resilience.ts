// Crash safety: SIGKILL authd in the middle of a mixed register / login / refresh load, start
// it again on the same store, and check what the clients were told against what is stored:
// every acknowledged registration (201) can log in, every acknowledged refresh (200) left the
// presented token rotated, no session has two live refresh tokens, no half-written rows, and the
// service serves again. Once on PostgreSQL (a server the test owns) and once on the embedded
// PGlite store of the quick start (DATA_DIR).
import t, { type Test } from 'tap'
import pg from 'pg'
import { PGlite } from '@electric-sql/pglite'
import { pgliteTemplate } from '../pglite-template.js'
import { sleep, type ServerProcess } from '../support/processes.js'
import { call, startAuthd, waitFor } from './authd-process.js'
import { requirePostgresBinaries, startOwnedPostgres } from './owned-postgres.js'

const WORKERS = 5
/** Kill once at least this much has been acknowledged. */
const KILL_AFTER = { registrations: 10, refreshes: 24 }
const PASSWORD = 'correct horse battery staple'

type Query = (sql: string) => Promise<Array<Record<string, unknown>>>

const claims = (token: string): { sid: string, jti: string } =>
  JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { sid: string, jti: string }

interface Chain {
  /** The newest refresh token the client holds. */
  latest: string
  /** Tokens whose refresh was acknowledged with 200: each must now be rotated. */
  rotated: string[]
  /** A refresh of `latest` was sent and never answered (the kill): it may or may not have committed. */
  unanswered: boolean
}

interface Load {
  acknowledged: Array<{ email: string }>
  unanswered: number
  /** Requests sent and not yet answered, right now. */
  inFlight: number
  chains: Chain[]
  refreshes: number
  /** Answers that are neither success nor an expected 4xx, with what was asked. */
  unexpected: string[]
}

/** Runs WORKERS clients against `base` until a request fails at the network level (the kill). */
function startLoad (base: string): { load: Load, done: Promise<void> } {
  const load: Load = { acknowledged: [], unanswered: 0, inFlight: 0, chains: [], refreshes: 0, unexpected: [] }
  let n = 0
  const send = async (url: string, body: unknown): Promise<Awaited<ReturnType<typeof call>>> => {
    load.inFlight += 1
    try {
      const r = await call(base, 'POST', url, body)
      if (r.status === 0) load.unanswered += 1
      return r
    } finally {
      load.inFlight -= 1
    }
  }
  const worker = async (w: number): Promise<void> => {
    while (true) {
      const email = `crash-${process.pid}-${w}-${n++}-${Date.now()}@example.com`
      const reg = await send('/v1/app/auth/register', { email, password: PASSWORD })
      if (reg.status === 0) return
      if (reg.status !== 201) { load.unexpected.push(`register ${reg.status} ${JSON.stringify(reg.body)}`); return }
      load.acknowledged.push({ email })
      const chains: Chain[] = [{ latest: reg.body.tokens.refresh, rotated: [], unanswered: false }]
      const login = await send('/v1/app/auth/login', { login: email, password: PASSWORD })
      if (login.status === 0) { load.chains.push(...chains); return }
      if (login.status !== 200) { load.unexpected.push(`login ${login.status} ${JSON.stringify(login.body)}`); return }
      chains.push({ latest: login.body.tokens.refresh, rotated: [], unanswered: false })
      load.chains.push(...chains)
      // Workers refresh a different number of rounds, so that they drift apart and the kill
      // finds them at different steps.
      for (let round = 0; round < 1 + (w % 4); round++) {
        for (const chain of chains) {
          const r = await send('/v1/app/auth/refresh', { refresh: chain.latest })
          if (r.status === 0) { chain.unanswered = true; return }
          if (r.status !== 200) { load.unexpected.push(`refresh ${r.status} ${JSON.stringify(r.body)}`); return }
          chain.rotated.push(chain.latest)
          chain.latest = r.body.tokens.refresh
          load.refreshes += 1
        }
      }
    }
  }
  return { load, done: Promise.all(Array.from({ length: WORKERS }, async (_, w) => { await worker(w) })).then(() => {}) }
}

/** The whole scenario against one store; `query` reads the store after authd has stopped. */
async function crashAndRecover (t: Test, env: Record<string, string> & { DATA_DIR: string }, openQuery: () => Promise<{ query: Query, close: () => Promise<void> }>): Promise<void> {
  // Grace 0: presenting a rotated token is reuse at once, so "rotated" is checkable over HTTP.
  const serverEnv = { ...env, REFRESH_GRACE_SECONDS: '0' }
  const first = await startAuthd(t, serverEnv)
  const { load, done } = startLoad(first.url)
  await waitFor('enough acknowledged work before the kill', () =>
    load.acknowledged.length >= KILL_AFTER.registrations && load.refreshes >= KILL_AFTER.refreshes, 120_000, 20)
  await sleep(Math.random() * 300)
  const inFlightAtKill = load.inFlight
  await first.kill()
  await done
  t.same(load.unexpected, [], 'before the kill every request was answered as expected')
  t.ok(inFlightAtKill > 0 && load.unanswered > 0, `the kill cut requests in flight (${load.unanswered} never answered)`)
  t.comment(`acknowledged: ${load.acknowledged.length} registrations, ${load.refreshes} refreshes; ` +
    `${load.chains.filter((c) => c.unanswered).length} refreshes cut by the kill`)

  let second: ServerProcess
  try {
    second = await startAuthd(t, serverEnv)
  } catch (error) {
    t.fail(`authd does not start again on the same store after SIGKILL: ${(error as Error).message}`)
    return
  }
  t.pass('authd starts again on the same store')

  await t.test('every acknowledged registration can log in', async (t) => {
    const statuses = await Promise.all(load.acknowledged.map(async ({ email }) => (await call(second.url, 'POST', '/v1/app/auth/login', { login: email, password: PASSWORD })).status))
    t.same(statuses.filter((s) => s !== 200), [], `${statuses.length} logins, all 200`)
  })

  await t.test('refresh tokens after the crash', async (t) => {
    const wrong: string[] = []
    let reuseChecks = 0
    for (const [i, chain] of load.chains.entries()) {
      // The newest token: live, unless its refresh was cut by the kill (then it may have been
      // rotated without the client hearing of it, and presenting it is reuse).
      const latest = await call(second.url, 'POST', '/v1/app/auth/refresh', { refresh: chain.latest })
      const ok = latest.status === 200 || (chain.unanswered && latest.body?.code === 'token_reused')
      if (!ok) wrong.push(`chain ${i} (refresh cut by the kill: ${chain.unanswered}): newest token → ${latest.status} ${latest.body?.code ?? ''}`)
      // A token whose refresh was acknowledged is rotated: presenting it again is reuse —
      // or token_invalid if the line above was already reuse and so revoked the session.
      const old = chain.rotated.at(-1)
      if (old !== undefined) {
        reuseChecks += 1
        const reused = await call(second.url, 'POST', '/v1/app/auth/refresh', { refresh: old })
        const expected = latest.body?.code === 'token_reused' ? 'token_invalid' : 'token_reused'
        if (reused.body?.code !== expected) wrong.push(`chain ${i}: acknowledged-rotated token → ${reused.status} ${reused.body?.code ?? ''}, expected ${expected}`)
      }
    }
    t.same(wrong, [], `${load.chains.length} newest tokens live (or reused, if their refresh was cut); ${reuseChecks} acknowledged-rotated tokens refused`)
  })

  await t.test('the service serves again', async (t) => {
    const email = `after-crash-${Date.now()}@example.com`
    const reg = await call(second.url, 'POST', '/v1/app/auth/register', { email, password: PASSWORD })
    t.equal(reg.status, 201, 'register')
    const login = await call(second.url, 'POST', '/v1/app/auth/login', { login: email, password: PASSWORD })
    t.equal(login.status, 200, 'login')
    const refreshed = await call(second.url, 'POST', '/v1/app/auth/refresh', { refresh: login.body?.tokens?.refresh })
    t.equal(refreshed.status, 200, 'refresh')
  })

  // PGlite allows one process at a time: stop authd before reading the store.
  second.terminate()
  t.equal((await second.waitExit(20_000)).code, 0, 'authd stops cleanly')

  await t.test('the stored state is consistent', async (t) => {
    const { query, close } = await openQuery()
    try {
      const rotated = new Set((await query("SELECT jti::text AS jti FROM blacklisted_tokens WHERE reason = 'rotated'")).map((r) => r.jti))
      const outstanding = new Set((await query('SELECT jti::text AS jti FROM outstanding_tokens')).map((r) => r.jti))
      const acknowledgedRotations = load.chains.flatMap((c) => c.rotated.map((token) => claims(token).jti))
      t.same(acknowledgedRotations.filter((jti) => !rotated.has(jti)), [], `all ${acknowledgedRotations.length} acknowledged rotations are recorded as rotated`)
      const handedOut = load.chains.map((c) => claims(c.latest).jti)
      t.same(handedOut.filter((jti) => !outstanding.has(jti)), [], 'every refresh token handed out is an outstanding token')

      t.same(await query(`
        SELECT o.session_id::text AS session_id, count(*)::int AS live FROM outstanding_tokens o
        WHERE NOT EXISTS (SELECT 1 FROM blacklisted_tokens b WHERE b.jti = o.jti)
        GROUP BY o.session_id HAVING count(*) > 1`), [], 'no session has two live refresh tokens')
      t.same(await query(`
        SELECT b.jti::text AS jti FROM blacklisted_tokens b WHERE b.reason = 'rotated'
        AND NOT EXISTS (SELECT 1 FROM outstanding_tokens c WHERE c.parent_jti = b.jti)`), [], 'no token rotated without its child (rotation is atomic)')
      t.same(await query(`
        SELECT u.id::text AS id FROM users u WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = u.id)`), [], 'no user without the session its registration opened')
    } finally {
      await close()
    }
  })
}

t.test('SIGKILL under load, on PostgreSQL', async (t) => {
  const binDir = requirePostgresBinaries(t)
  if (binDir === null) return
  const owned = await startOwnedPostgres(t, binDir)
  const url = await owned.createDatabase('authd')
  await crashAndRecover(t, { DATA_DIR: t.testdir(), DATABASE_URL: url }, async () => {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    return { query: async (sql) => (await client.query(sql)).rows, close: async () => { await client.end() } }
  })
})

t.test('SIGKILL under load, on the embedded PGlite store (DATA_DIR)', async (t) => {
  const dataDir = t.testdir()
  // Seeded from the test suite's migrated template: creating a PGlite store from nothing
  // (initdb) is the slow part of a first start, and not what this test is about.
  const seed = new PGlite({ dataDir: `${dataDir}/pglite`, loadDataDir: await pgliteTemplate() })
  await seed.waitReady
  await seed.close()
  await crashAndRecover(t, { DATA_DIR: dataDir, DATABASE_URL: '' }, async () => {
    const db = new PGlite(`${dataDir}/pglite`)
    await db.waitReady
    return { query: async (sql) => (await db.query<Record<string, unknown>>(sql)).rows, close: async () => { await db.close() } }
  })
})
