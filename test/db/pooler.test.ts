// authd behind a transaction-mode connection pooler (PgBouncer, Supabase, Neon…), with Prisma's
// conventions: `?pgbouncer=true` on DATABASE_URL makes every statement unnamed, and
// DIRECT_DATABASE_URL is where migrations go. The burst at the end runs in every pass; in CI's
// PgBouncer pass (TEST_POOLER_URL) build() reaches its database through a real PgBouncer in
// transaction mode, where named statements answered 500 to most of these requests.
import { randomUUID } from 'node:crypto'
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import pg from 'pg'
import t, { type Test } from 'tap'
import { buildApp } from '../../src/app.js'
import { migrateCommand } from '../../src/commands/migrate.js'
import { migrationTarget, parsePostgresUrl, pooledMigrationWarning, PoolerFlagError } from '../../src/db/connection-url.js'
import { openDatabase } from '../../src/db/database.js'
import { loggerOptions } from '../../src/logger.js'
import { createUserRepository } from '../../src/repositories/users.js'
import { createTokenRotationRepository } from '../../src/repositories/token-rotation.js'
import { captureContext } from '../commands/run-cli.js'
import { build, configError, freshPostgresUrl, me, onPostgres, refresh, register, testConfig, testKeys, type AppTokens } from '../helper.js'

const SECRET = 's3cret-pw'
/** Nothing listens on port 1: connecting fails at once, with no server needed. */
const POOLED = `postgresql://authd:${SECRET}@127.0.0.1:1/authd?pgbouncer=true`
const DIRECT = `postgresql://authd:${SECRET}@127.0.0.1:2/authd_direct`

t.test('pgbouncer=true is read from the URL and removed, and only it', async (t) => {
  const cases: Array<[string, string, boolean]> = [
    ['postgresql://authd:p%40ss@db.example.com:6432/authd?pgbouncer=true', 'postgresql://authd:p%40ss@db.example.com:6432/authd', true],
    ['postgres://u@h/db?sslmode=require&pgbouncer=true&application_name=a%20b', 'postgres://u@h/db?sslmode=require&application_name=a%20b', true],
    ['postgresql://u@h/db?pgbouncer=false&connect_timeout=5', 'postgresql://u@h/db?connect_timeout=5', false],
    // Forms pg accepts and WHATWG URL does not (a socket directory as host): left as written.
    ['postgresql://u@/db?host=/run/postgresql&pgbouncer=true', 'postgresql://u@/db?host=/run/postgresql', true],
    ['postgresql://u@h/db?xpgbouncer=true&pgbouncer_mode=x', 'postgresql://u@h/db?xpgbouncer=true&pgbouncer_mode=x', false],
    ['postgresql://u@h/db', 'postgresql://u@h/db', false],
    ['postgresql://u@h/db?pgbouncer=false&pgbouncer=true', 'postgresql://u@h/db', true]
  ]
  for (const [input, url, pgbouncer] of cases) t.same(parsePostgresUrl(input), { url, pgbouncer }, input)
  const error = t.throws(() => parsePostgresUrl(`postgresql://authd:${SECRET}@h/db?pgbouncer=yes`)) as Error
  t.ok(error instanceof PoolerFlagError, 'a value other than true/false is refused')
  t.notMatch(error.message, SECRET, 'the message does not quote the URL')
})

t.test('config: DIRECT_DATABASE_URL and the pgbouncer flag', async (t) => {
  const config = testConfig(t, { DATABASE_URL: POOLED, DIRECT_DATABASE_URL: DIRECT })
  t.equal(config.DATABASE_URL, POOLED, 'DATABASE_URL with ?pgbouncer=true is accepted as is')
  t.equal(config.DIRECT_DATABASE_URL, DIRECT)
  t.equal(testConfig(t).DIRECT_DATABASE_URL, '', 'DIRECT_DATABASE_URL defaults to empty')

  const notPostgres = configError({ DATABASE_URL: POOLED, DIRECT_DATABASE_URL: `mysql://authd:${SECRET}@h/db` })
  t.match(notPostgres.message, /DIRECT_DATABASE_URL: must be a postgresql:\/\/ or postgres:\/\/ URL/)
  const withPGlite = configError({ DATABASE_URL: '', DIRECT_DATABASE_URL: DIRECT })
  t.match(withPGlite.message, /DIRECT_DATABASE_URL: only used with a PostgreSQL DATABASE_URL/)
  const badFlag = configError({ DATABASE_URL: `postgresql://authd:${SECRET}@h/db?pgbouncer=1`, DIRECT_DATABASE_URL: `postgresql://authd:${SECRET}@h/db?pgbouncer=on` })
  t.match(badFlag.message, /DATABASE_URL: the pgbouncer parameter must be true or false/)
  t.match(badFlag.message, /DIRECT_DATABASE_URL: the pgbouncer parameter must be true or false/)
  for (const error of [notPostgres, withPGlite, badFlag]) t.notMatch(error.message, SECRET, 'no password in the message')
})

t.test('migrations go to DIRECT_DATABASE_URL when set; the warning says when they would go through the pooler', async (t) => {
  t.same(migrationTarget(POOLED, DIRECT), { url: DIRECT, variable: 'DIRECT_DATABASE_URL' })
  t.same(migrationTarget(POOLED, ''), { url: POOLED, variable: 'DATABASE_URL' })
  t.equal(pooledMigrationWarning(POOLED, DIRECT), null, 'direct URL set: no warning')
  t.equal(pooledMigrationWarning('postgresql://u@h/db', ''), null, 'no pooler: no warning')
  t.equal(pooledMigrationWarning('', ''), null, 'PGlite: no warning')
  t.match(pooledMigrationWarning(POOLED, ''), /DATABASE_URL is marked pgbouncer=true and DIRECT_DATABASE_URL is not set/)
  t.match(pooledMigrationWarning(POOLED, `${DIRECT}?pgbouncer=true`), /DIRECT_DATABASE_URL is marked pgbouncer=true/)
  t.notMatch(pooledMigrationWarning(POOLED, ''), SECRET)

  // Which server the migration client connects to, seen at connect (nothing listens there).
  const connects = t.capture(pg.Client.prototype, 'connect', async function (this: pg.Client) { throw new Error('not connecting in this test') })
  const target = (client: unknown) => ({ port: (client as pg.Client).port, database: (client as pg.Client).database })
  await t.rejects(openDatabase({ url: POOLED, directUrl: DIRECT, dataDir: t.testdir(), poolSize: 1, migrate: true }))
  t.same(connects().map((c) => target(c.receiver)), [{ port: 2, database: 'authd_direct' }], 'migrations connect to DIRECT_DATABASE_URL')
  await t.rejects(openDatabase({ url: POOLED, dataDir: t.testdir(), poolSize: 1, migrate: true }))
  t.same(connects().map((c) => target(c.receiver)), [{ port: 1, database: 'authd' }], 'without it, to DATABASE_URL')
  await t.rejects(openDatabase({ url: POOLED, directUrl: `${DIRECT}?pgbouncer=true`, dataDir: t.testdir(), poolSize: 1, migrate: true }))
  t.same(connects().map((c) => target(c.receiver)), [{ port: 2, database: 'authd_direct' }], 'a direct URL marked pgbouncer=true is used all the same (with the warning)')
})

t.test('the warning at start-up: logged once, before migrating, without the password', async (t) => {
  /** The log lines of a start; `fails`: whether the start must fail (it migrates, and nothing listens on the URLs). */
  async function startLogs (env: Record<string, string>, fails = true): Promise<string[]> {
    const lines: string[] = []
    const config = testConfig(t, { LOG_LEVEL: 'warn', MIGRATE_ON_START: 'true', ...env })
    const stream = new Writable({ write (chunk: Buffer, _encoding, done) { lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== '')); done() } })
    const start = (async () => {
      const app = await buildApp(config, { keys: await testKeys(), fastify: { logger: { ...loggerOptions(config), stream } } })
      await app.ready()
      await app.close()
    })()
    if (fails) await t.rejects(start, 'the start fails at the migration, after the warning')
    else await start
    return lines
  }
  const pooled = await startLogs({ DATABASE_URL: POOLED })
  const warnings = pooled.map((line) => JSON.parse(line) as { level: number, msg: string }).filter((l) => /pgbouncer=true/.test(l.msg))
  t.equal(warnings.length, 1, 'one warning')
  t.equal(warnings[0]?.level, 40, 'at level warn')
  t.match(warnings[0]?.msg, /DIRECT_DATABASE_URL/, 'it names the variable to set')
  t.notMatch(pooled.join('\n'), SECRET, 'no password in any line')
  t.same((await startLogs({ DATABASE_URL: POOLED, DIRECT_DATABASE_URL: DIRECT })).filter((l) => /pgbouncer=true/.test(l)), [], 'no warning with DIRECT_DATABASE_URL')
  t.same((await startLogs({ DATABASE_URL: POOLED, MIGRATE_ON_START: 'false', HOUSEKEEPING_INTERVAL: '0' }, false)).filter((l) => /pgbouncer=true/.test(l)), [], 'no warning without migrations')

  const { context, output } = captureContext({ DATABASE_URL: POOLED })
  await t.rejects(migrateCommand.run([], context))
  t.match(output.stderr, /^warning: DATABASE_URL is marked pgbouncer=true/m, '`authd migrate` warns too')
  t.notMatch(output.stderr, SECRET)
})

t.test('the hot-path statements are unnamed with pgbouncer=true, named without', async (t) => {
  async function sent (url: string) {
    // The driver is stopped at pool.query: what authd asks of it is what is checked.
    const queries = t.capture(pg.Pool.prototype, 'query', async () => ({ rows: [] }))
    const db = await openDatabase({ url, dataDir: t.testdir(), poolSize: 1, migrate: false })
    await createUserRepository(db.prisma, db.sql).findLive(randomUUID(), randomUUID(), 3600)
    const rotation = createTokenRotationRepository(db.sql)
    await rotation.rotate({ jti: randomUUID(), sessionId: randomUUID(), child: { jti: randomUUID(), issuedAt: new Date(), expiresAt: new Date() }, maxLifetimeSeconds: 3600 })
    await rotation.rotatedChild({ jti: randomUUID(), sessionId: randomUUID(), graceSeconds: 10, maxLifetimeSeconds: 3600 })
    await db.close()
    const calls = queries()
    queries.restore()
    return calls.map((c) => ({ name: (c.args[0] as pg.QueryConfig).name, connectionString: (c.receiver as unknown as { options: pg.PoolConfig }).options.connectionString }))
  }
  const pooled = await sent('postgresql://authd:pw@127.0.0.1:1/authd?application_name=authd&pgbouncer=true')
  t.same(pooled.map((q) => q.name), [undefined, undefined, undefined], 'no statement name behind the pooler')
  t.same(new Set(pooled.map((q) => q.connectionString)), new Set(['postgresql://authd:pw@127.0.0.1:1/authd?application_name=authd']), 'pg gets the URL without pgbouncer')
  const direct = await sent('postgresql://authd:pw@127.0.0.1:1/authd')
  t.same(direct.map((q) => q.name), ['authd_find_live_user', 'authd_rotate_refresh', 'authd_rotated_refresh_child'], 'named (prepared once per connection) otherwise')
})

t.test('on PostgreSQL, a whole app with pgbouncer=true sends no named statement (Prisma included)', { skip: onPostgres ? false : 'needs PostgreSQL (TEST_DATABASE_URL)' }, async (t) => {
  async function names (flag: string): Promise<Set<string>> {
    const database = await openDatabase({ url: await freshPostgresUrl(t) + flag, dataDir: t.testdir(), poolSize: 4, migrate: true })
    const app = await buildApp(testConfig(t), { keys: await testKeys(), database })
    await app.ready()
    const queries = t.capture(pg.Client.prototype, 'query', pg.Client.prototype.query)
    try {
      await exercise(t, app)
    } finally {
      queries.restore()
      await app.close()
      await database.close()
    }
    const configs = queries().map((c) => c.args[0] as unknown)
    t.ok(configs.length > 10, `statements were seen (${configs.length})`)
    return new Set(configs.flatMap((q) => typeof q === 'object' && q !== null && 'name' in q && typeof q.name === 'string' ? [q.name] : []))
  }
  t.same([...await names('?pgbouncer=true')], [], 'no named statement with pgbouncer=true')
  t.same([...await names('')].sort(), ['authd_find_live_user', 'authd_rotate_refresh'], 'the hot paths are named without it')
})

/** Register, log in, who-am-I, refresh, sessions, logout: Prisma queries, transactions and the hot paths. */
async function exercise (t: Test, app: FastifyInstance): Promise<void> {
  const session = await register(app)
  const res = await app.inject({ method: 'POST', url: '/v1/app/auth/login', payload: { login: session.email, password: session.password } })
  t.equal(res.statusCode, 200, 'login')
  const tokens = res.json().tokens as AppTokens
  t.equal((await me(app, tokens.access)).statusCode, 200, 'me')
  const rotated = await refresh(app, tokens.refresh)
  t.equal(rotated.statusCode, 200, 'refresh')
  const next = rotated.json().tokens as AppTokens
  t.equal((await app.inject({ method: 'GET', url: '/v1/sessions', headers: { authorization: `Bearer ${next.access}` } })).statusCode, 200, 'sessions')
  t.equal((await app.inject({ method: 'POST', url: '/v1/app/auth/logout', payload: { refresh: next.refresh } })).statusCode, 204, 'logout')
}

t.test('a concurrent burst of who-am-I and refreshes over distinct sessions: no 5xx', async (t) => {
  const SESSIONS = 16
  const ROUNDS = 3
  const app = await build(t)
  const sessions = await Promise.all(Array.from({ length: SESSIONS }, async () => (await register(app)).tokens))
  const statuses: Record<string, number> = {}
  const count = (what: string, status: number) => { statuses[`${what} ${status}`] = (statuses[`${what} ${status}`] ?? 0) + 1 }
  for (let round = 0; round < ROUNDS; round++) {
    await Promise.all(sessions.map(async (tokens) => {
      const [rotated, ...mine] = await Promise.all([refresh(app, tokens.refresh), me(app, tokens.access), me(app, tokens.access)])
      count('refresh', rotated.statusCode)
      for (const res of mine) count('me', res.statusCode)
      if (rotated.statusCode === 200) Object.assign(tokens, rotated.json().tokens)
    }))
  }
  t.same(statuses, { 'refresh 200': SESSIONS * ROUNDS, 'me 200': 2 * SESSIONS * ROUNDS }, 'every request answered 200 (no 5xx)')
})
