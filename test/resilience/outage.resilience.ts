// Database outage: authd on a PostgreSQL the test owns; the test takes that server away under
// a light load (stopped as by a crash, stopped in order, paused) and brings it back. Meanwhile
// every request that needs the database answers 503 service_unavailable problem JSON promptly
// (no hanging), /healthz stays 200 and /readyz is 503; once the database is back, authd serves
// again without a restart.
import t from 'tap'
import { QUERY_TIMEOUT_MS } from '../../src/db/database.js'
import { call, startAuthd, waitFor, type HttpResult } from './authd-process.js'
import { requirePostgresBinaries, startOwnedPostgres } from './owned-postgres.js'

// Hang checks, not benchmarks: each answer during the outage must come well before a client
// or load balancer would give up. A stopped server refuses connections at once (pg's connect
// timeout is 5 s); a paused one is given up on after QUERY_TIMEOUT_MS — twice, for a
// transaction whose query and then ROLLBACK both wait. Slack for a busy box.
const PROMPT_MS = 8_000
const PAUSED_PROMPT_MS = 2 * QUERY_TIMEOUT_MS + 5_000

const binDir = requirePostgresBinaries(t)
// Everything inside one subtest: tap's root test would end itself at the first idle moment
// of a top-level await after an assertion.
if (binDir !== null) {
  t.test('stop and start PostgreSQL under authd', async (t) => {
    const pg = await startOwnedPostgres(t, binDir)
    const url = await pg.createDatabase('authd')
    const authd = await startAuthd(t, { DATA_DIR: t.testdir(), DATABASE_URL: url, DATABASE_POOL_SIZE: '5' })

    const password = 'correct horse battery staple'
    const email = `outage-${Date.now()}@example.com`
    const reg = await call(authd.url, 'POST', '/v1/app/auth/register', { email, password })
    t.equal(reg.status, 201, 'registered before the outage')
    let tokens = reg.body.tokens as { access: string, refresh: string }

    /** A problem reply of the outage: 503, problem JSON, code service_unavailable, prompt. */
    const isOutageProblem = (r: HttpResult) => r.status === 503 && r.contentType.startsWith('application/problem+json') && r.body?.code === 'service_unavailable'
    const show = (r: HttpResult) => `${r.status} ${r.error ?? (typeof r.body === 'object' ? r.body?.code : String(r.body).slice(0, 100))} in ${r.ms} ms`

    // Light background load for the whole test: logins and /me of a second user. Every answer
    // must be a success, a 4xx, or the outage's 503 problem; never a 500 and never silence.
    const loadUser = { email: `load-${Date.now()}@example.com`, password }
    const loadReg = await call(authd.url, 'POST', '/v1/app/auth/register', loadUser)
    t.equal(loadReg.status, 201, 'load user registered')
    const loadResults: HttpResult[] = []
    let loading = true
    const load = (async () => {
      let access = loadReg.body.tokens.access as string
      // `loading` is cleared by the test below once the outage is over; this loop awaits meanwhile.
      // eslint-disable-next-line no-unmodified-loop-condition
      while (loading) {
        const login = await call(authd.url, 'POST', '/v1/app/auth/login', { login: loadUser.email, password }, {}, 20_000)
        loadResults.push(login)
        if (login.status === 200) access = login.body.tokens.access
        loadResults.push(await call(authd.url, 'GET', '/v1/users/me', undefined, { authorization: `Bearer ${access}` }, 20_000))
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    })()
    await waitFor('some load before the outage', () => loadResults.filter((r) => r.status === 200).length >= 6)

    const outages = [
    // A crash: connections cut, crash recovery at the next start.
      { name: 'stopped (immediate)', down: async () => { await pg.stop('immediate') }, up: async () => { await pg.start() }, bound: PROMPT_MS },
      // An orderly stop: clients get 57P01 "terminating connection due to administrator command".
      { name: 'stopped (fast)', down: async () => { await pg.stop('fast') }, up: async () => { await pg.start() }, bound: PROMPT_MS },
      // No answer at all while connections stay open (a paused VM, a network partition).
      { name: 'paused (SIGSTOP)', down: async () => { await pg.pause() }, up: async () => { await pg.resume() }, bound: PAUSED_PROMPT_MS }
    ]
    for (const { name: outage, down, up, bound } of outages) {
      await t.test(`PostgreSQL ${outage}: 503 problem JSON, promptly`, async (t) => {
        await down()
        const probes: Array<[string, () => Promise<HttpResult>]> = [
          ['login', async () => await call(authd.url, 'POST', '/v1/app/auth/login', { login: email, password })],
          ['refresh', async () => await call(authd.url, 'POST', '/v1/app/auth/refresh', { refresh: tokens.refresh })],
          ['register', async () => await call(authd.url, 'POST', '/v1/app/auth/register', { email: `during-${Date.now()}@example.com`, password })],
          ['GET /v1/users/me', async () => await call(authd.url, 'GET', '/v1/users/me', undefined, { authorization: `Bearer ${tokens.access}` })],
          ['GET /v1/sessions', async () => await call(authd.url, 'GET', '/v1/sessions', undefined, { authorization: `Bearer ${tokens.access}` })]
        ]
        // Twice: the first round meets the pool's connections from before, the second opens
        // new ones. The probes of a round run at once (a paused server makes each one wait).
        for (const round of [1, 2]) {
          const replies = await Promise.all(probes.map(async ([name, probe]) => [name, await probe()] as const))
          for (const [name, r] of replies) {
            t.ok(isOutageProblem(r), `round ${round}: ${name} → 503 service_unavailable problem (${show(r)})`)
            t.ok(r.status !== 0 && r.ms < bound, `round ${round}: ${name} answered within ${bound} ms (${r.ms} ms)`)
          }
        }
        const ready = await call(authd.url, 'GET', '/readyz')
        t.ok(isOutageProblem(ready), `/readyz → 503 service_unavailable (${show(ready)})`)
        t.ok(ready.ms < PROMPT_MS, `/readyz answered within ${PROMPT_MS} ms (it gives the database 2 s)`)
        t.equal(authd.child.exitCode, null, 'authd is still running')
        const health = await call(authd.url, 'GET', '/healthz')
        t.equal(health.status, 200, '/healthz stays 200: the process is alive')
        const jwks = await call(authd.url, 'GET', '/.well-known/jwks.json')
        t.equal(jwks.status, 200, 'the JWKS needs no database and is still served')
      })

      await t.test('PostgreSQL back: authd recovers without a restart', async (t) => {
        await up()
        await waitFor('/readyz to be 200 again', async () => (await call(authd.url, 'GET', '/readyz')).status === 200, 30_000, 200)
        t.pass('/readyz is 200 again')
        const login = await call(authd.url, 'POST', '/v1/app/auth/login', { login: email, password })
        t.equal(login.status, 200, `login works again (${show(login)})`)
        const refreshed = await call(authd.url, 'POST', '/v1/app/auth/refresh', { refresh: tokens.refresh })
        t.equal(refreshed.status, 200, `the refresh token from before the outage still rotates (${show(refreshed)})`)
        tokens = refreshed.body?.tokens ?? tokens
        const me = await call(authd.url, 'GET', '/v1/users/me', undefined, { authorization: `Bearer ${tokens.access}` })
        t.equal(me.status, 200, 'GET /v1/users/me works again')
        const reg = await call(authd.url, 'POST', '/v1/app/auth/register', { email: `after-${Date.now()}@example.com`, password })
        t.equal(reg.status, 201, 'register works again')
        const before = loadResults.length
        await waitFor('the background load to succeed again', () => loadResults.slice(before).filter((r) => r.status === 200).length >= 4)
        t.equal(authd.child.exitCode, null, 'the same authd process, never restarted')
      })
    }

    loading = false
    await load
    const bad = loadResults.filter((r) => !(r.status >= 200 && r.status < 500) && !isOutageProblem(r))
    // With the server's log line of each, to see what it was.
    const logged = (r: HttpResult) => authd.output().split('\n').find((line) => typeof r.body?.requestId === 'string' && line.includes(r.body.requestId) && line.includes('"err"'))?.slice(0, 1500) ?? ''
    t.same(bad.map((r) => `${show(r)} ${logged(r)}`), [], `background load (${loadResults.length} requests): only 2xx/4xx or 503 service_unavailable`)
    const slow = loadResults.filter((r) => r.ms >= PAUSED_PROMPT_MS)
    t.same(slow.map(show), [], `no background request took ${PAUSED_PROMPT_MS} ms or more`)
    t.ok(loadResults.some(isOutageProblem), 'the load did meet the outage')
  })
}
