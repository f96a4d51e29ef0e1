// `npm run bench:queries`: how many database round trips each hot path makes, on PostgreSQL.
// Every statement the pg driver sends (BEGIN and COMMIT included) goes through
// pg.Client.prototype.query, which this script wraps; a statement with parameters is still one
// round trip (parse, bind and execute travel together). PGlite runs in-process, so it has no
// round trips to count. Builds the app from src/ (no build needed) on a throw-away database.
import { tmpdir } from 'node:os'
import pg from 'pg'
import { buildApp } from '../src/app.js'
import { parseConfig } from '../src/config.js'
import { readOptions } from './lib/options.js'
import { createStore, postgresReachable } from './lib/stores.js'

const { postgresAdminUrl } = readOptions([])
const problem = await postgresReachable(postgresAdminUrl)
if (problem !== null) {
  process.stderr.write(`PostgreSQL is not reachable (${problem}): nothing to count.\n`)
  process.exit(1)
}

const statements: string[] = []
let counting = false
type Query = (this: pg.Client, ...args: unknown[]) => unknown
const query = pg.Client.prototype.query as unknown as Query
;(pg.Client.prototype as unknown as { query: Query }).query = function (this: pg.Client, ...args: unknown[]) {
  if (counting) {
    const first = args[0] as string | { text?: string }
    statements.push((typeof first === 'string' ? first : first?.text ?? '?').replace(/\s+/g, ' ').trim())
  }
  return query.apply(this, args)
}

const store = await createStore('postgres', postgresAdminUrl, 'queries')
const config = parseConfig({
  DATABASE_URL: store.databaseUrl,
  DATA_DIR: store.dataDir ?? tmpdir(),
  LOG_LEVEL: 'silent',
  RATE_LIMIT_ENABLED: 'false',
  HOUSEKEEPING_INTERVAL: '0',
  BCRYPT_COST: '4'
})
const app = await buildApp(config)
await app.ready()

async function call (method: 'GET' | 'POST', url: string, expected: number, options: { body?: unknown, token?: string } = {}): Promise<Record<string, any>> {
  const response = await app.inject({
    method,
    url,
    ...(options.body === undefined ? {} : { payload: options.body as Record<string, unknown> }),
    ...(options.token === undefined ? {} : { headers: { authorization: `Bearer ${options.token}` } })
  })
  if (response.statusCode !== expected) throw new Error(`${method} ${url}: ${response.statusCode} ${response.body}`)
  return response.body === '' ? {} : response.json()
}

/** Round trips of one call, measured after the same call has run once (warm caches, prepared plans). */
async function count (label: string, run: () => Promise<unknown>): Promise<{ label: string, roundTrips: number, statements: string[] }> {
  statements.length = 0
  counting = true
  try {
    await run()
  } finally {
    counting = false
  }
  return { label, roundTrips: statements.length, statements: [...statements] }
}

const results = []
try {
  const account = { email: 'count-queries@example.com', password: 'count queries correct horse' }
  await call('POST', '/v1/app/auth/register', 201, { body: account })
  const login = async (): Promise<{ access: string, refresh: string }> =>
    (await call('POST', '/v1/app/auth/login', 200, { body: { login: account.email, password: account.password } })).tokens
  let tokens = await login()
  // Warm every path once, so first-use work (connections, plan caches) is not counted.
  tokens = (await call('POST', '/v1/app/auth/refresh', 200, { body: { refresh: tokens.refresh } })).tokens
  await call('GET', '/v1/users/me', 200, { token: tokens.access })
  await call('POST', '/v1/auth/verify', 200, { body: { token: tokens.access } })

  results.push(await count('POST /v1/app/auth/refresh', async () => {
    tokens = (await call('POST', '/v1/app/auth/refresh', 200, { body: { refresh: tokens.refresh } })).tokens
  }))
  results.push(await count('GET /v1/users/me', async () => await call('GET', '/v1/users/me', 200, { token: tokens.access })))
  results.push(await count('POST /v1/auth/verify', async () => await call('POST', '/v1/auth/verify', 200, { body: { token: tokens.access } })))
  results.push(await count('GET /.well-known/jwks.json', async () => await call('GET', '/.well-known/jwks.json', 200)))
  results.push(await count('POST /v1/app/auth/login', async () => { tokens = await login() }))
  results.push(await count('POST /v1/app/auth/logout', async () => await call('POST', '/v1/app/auth/logout', 204, { body: { refresh: tokens.refresh } })))
} finally {
  await app.close()
  await store.dispose()
}

for (const result of results) {
  process.stdout.write(`${result.label}: ${result.roundTrips} round trip(s)\n`)
  for (const statement of result.statements) process.stdout.write(`    ${statement.length > 150 ? statement.slice(0, 150) + '…' : statement}\n`)
}
