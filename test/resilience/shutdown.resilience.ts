// Graceful shutdown: SIGTERM while slow requests are in flight (logins at bcrypt cost 12).
// authd stops accepting new connections at once, finishes the requests it has, closes its
// database connections and exits 0.
import { request as httpRequest } from 'node:http'
import t from 'tap'
import pg from 'pg'
import { call, startAuthd, waitFor } from './authd-process.js'
import { requirePostgresBinaries, startOwnedPostgres } from './owned-postgres.js'

// As many as libuv's thread pool hashes at once: more would only queue behind them.
const IN_FLIGHT = 4
// close-with-grace gives in-flight work 10 s; the exit must come well within that.
const EXIT_BOUND_MS = 15_000

/** One request on a new TCP connection (no agent, no keep-alive): its status, or the error code. */
async function freshConnection (url: string): Promise<number | string> {
  return await new Promise((resolve) => {
    const req = httpRequest(`${url}/healthz`, { agent: false, timeout: 5_000 }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message))
    req.end()
  })
}

const binDir = requirePostgresBinaries(t)
if (binDir !== null) {
  t.test('SIGTERM with requests in flight', async (t) => {
  // debug1: PostgreSQL then logs "unexpected EOF on client connection" for every connection a
  // client dropped without closing it (as a process exiting with open connections does).
    const owned = await startOwnedPostgres(t, binDir, ['log_min_messages=debug1'])
    const url = await owned.createDatabase('authd')
    // info: the "incoming request" lines tell when every slow request has reached the server.
    const authd = await startAuthd(t, { DATA_DIR: t.testdir(), DATABASE_URL: url, BCRYPT_COST: '12', LOG_LEVEL: 'info', LOG_FORMAT: 'json' })

    const account = { email: `shutdown-${Date.now()}@example.com`, password: 'correct horse battery staple' }
    t.equal((await call(authd.url, 'POST', '/v1/app/auth/register', account)).status, 201, 'registered')

    const admin = new pg.Client({ connectionString: owned.url('postgres') })
    await admin.connect()
    t.teardown(async () => { await admin.end() })
    const authdConnections = async (): Promise<number> =>
      Number((await admin.query("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = 'authd'")).rows[0].n)
    t.ok(await authdConnections() > 0, 'authd holds database connections while it runs')

    const logins = (): number => authd.output().split('\n').filter((line) => line.includes('"incoming request"') && line.includes('/v1/app/auth/login')).length
    const before = logins()
    let finished = 0
    const inFlight = Array.from({ length: IN_FLIGHT }, async () => {
      const r = await call(authd.url, 'POST', '/v1/app/auth/login', { login: account.email, password: account.password }, {}, 30_000)
      finished += 1
      return r
    })
    await waitFor(`${IN_FLIGHT} logins to reach the server`, () => logins() - before >= IN_FLIGHT, 20_000, 10)
    t.ok(finished < IN_FLIGHT, `logins still running when SIGTERM is sent (${IN_FLIGHT - finished} of ${IN_FLIGHT})`)

    const signalled = Date.now()
    authd.terminate()

    // New connections: refused (the listener is closed) or 503 (return503OnClosing), and that
    // while the slow logins are still running.
    let refusal = 200 as number | string
    await waitFor('a new connection to be turned away', async () => {
      refusal = await freshConnection(authd.url)
      return refusal !== 200
    }, 5_000, 20)
    // ECONNRESET: a connection the kernel had queued just before the listener closed.
    t.ok(refusal === 'ECONNREFUSED' || refusal === 'ECONNRESET' || refusal === 503, `a new connection after SIGTERM is turned away: ${refusal}`)

    const results = await Promise.all(inFlight)
    t.same(results.map((r) => r.status), Array(IN_FLIGHT).fill(200), 'every in-flight login completed with 200')
    t.ok(results.every((r) => typeof r.body?.tokens?.refresh === 'string'), 'each with its tokens')

    const exit = await authd.waitExit(EXIT_BOUND_MS)
    t.same(exit, { code: 0, signal: null }, `exit code 0 (after ${Date.now() - signalled} ms)`)
    t.notMatch(authd.output(), /"level":50/, 'no error logged during shutdown')

    await waitFor('authd\'s connections to leave pg_stat_activity', async () => await authdConnections() === 0, 5_000)
    t.equal(await authdConnections(), 0, 'no database connection of authd remains')
    t.notMatch(owned.log(), /unexpected EOF on client connection/, 'authd closed each connection itself before exiting')
    t.equal(await freshConnection(authd.url), 'ECONNREFUSED', 'nothing listens on the port any more')
  })
}
