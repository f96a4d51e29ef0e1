// `npm run soak`: a long run of mixed traffic at a moderate, fixed rate against a built authd
// (`node dist/server.js`, run `npm run build` first) on PostgreSQL (PGlite when PostgreSQL is not
// reachable, or with SOAK_STORE=pglite). Every answer must have the status the flow expects;
// the server's RSS and event-loop delay are sampled every SOAK_SAMPLE_SECONDS. Exits non-zero
// on any error, on an error logged by the server, or when RSS grows more than
// SOAK_RSS_TOLERANCE_MB after the warm-up. Not part of `npm test`.
import { randomBytes } from 'node:crypto'
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { readOptions, type StoreKind } from './lib/options.js'
import { repoRoot, startAuthd, type RunningProcess } from './lib/processes.js'
import { mb } from './lib/report.js'
import { createStore, postgresReachable } from './lib/stores.js'

const env = process.env
const number = (name: string, fallback: number): number => {
  const value = env[name]
  if (value === undefined || value === '') return fallback
  const parsed = Number(value)
  if (!Number.isFinite(parsed) || parsed <= 0) throw new Error(`${name}="${value}": must be a positive number`)
  return parsed
}
const settings = {
  seconds: number('SOAK_SECONDS', 600),
  /** Operations started per second (open loop: not slowed down by slow answers). */
  rate: number('SOAK_RATE', 30),
  bcryptCost: number('SOAK_BCRYPT_COST', 12),
  sampleSeconds: number('SOAK_SAMPLE_SECONDS', 10),
  rssToleranceMb: number('SOAK_RSS_TOLERANCE_MB', 64),
  maxInFlight: number('SOAK_MAX_IN_FLIGHT', 200),
  store: (env.SOAK_STORE ?? 'postgres') as StoreKind
}

/** Share of each operation in the mix (per 100 operations). */
const MIX = [['register', 1], ['login', 4], ['refresh', 30], ['me', 60], ['logout', 5]] as const
type Operation = typeof MIX[number][0]

/** busy: a refresh or logout holds its refresh token; readers: requests using its access token now. */
interface Session { email: string, access: string, refresh: string, accessAt: number, busy: boolean, readers: number }

const log = (message: string): void => { process.stderr.write(`[soak] ${message}\n`) }
const JSON_HEADERS = { 'content-type': 'application/json' }
const PASSWORD = 'soak password correct horse battery'
const runId = randomBytes(4).toString('hex')

const accounts: string[] = []
let registered = 0
const sessions: Session[] = []
const latency = new Map<string, RecordableHistogram>()
const counts = new Map<string, number>()
const errors: string[] = []
let errorCount = 0
let inFlight = 0
let backlogSkips = 0
/**
 * Operations dropped because no session was free for them (all refreshing, or too few to log one
 * out). Dropped, not replaced by a login: a slow server must not turn the mix into a login storm.
 */
let noSession = 0

function fail (what: string): void {
  errorCount++
  if (errors.length < 20) errors.push(what)
}

async function call (server: RunningProcess, label: string, method: string, url: string, expected: number, options: { body?: unknown, token?: string } = {}): Promise<any> {
  const started = performance.now()
  let status = 0
  let text = ''
  try {
    const response = await fetch(server.url + url, {
      method,
      headers: { ...(options.body === undefined ? {} : JSON_HEADERS), ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }) },
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      signal: AbortSignal.timeout(30_000)
    })
    status = response.status
    text = await response.text()
  } catch (error) {
    fail(`${label}: ${(error as Error).message}`)
    return undefined
  } finally {
    let histogram = latency.get(label)
    if (histogram === undefined) latency.set(label, histogram = createHistogram())
    histogram.record(Math.max(1, Math.round((performance.now() - started) * 1000)))
    counts.set(label, (counts.get(label) ?? 0) + 1)
  }
  if (status !== expected) {
    let code = ''
    try { code = (JSON.parse(text) as { code?: string }).code ?? '' } catch {}
    fail(`${label}: expected ${expected}, got ${status} ${code}`)
    return undefined
  }
  return text === '' ? {} : JSON.parse(text)
}

const pick = <T>(items: T[]): T | undefined => items[Math.floor(Math.random() * items.length)]
const idle = (): Session | undefined => pick(sessions.filter((session) => !session.busy))
/** A session nobody is using: a logout must not end a session under a /users/me in flight. */
const unused = (): Session | undefined => pick(sessions.filter((session) => !session.busy && session.readers === 0))

async function refresh (server: RunningProcess, session: Session): Promise<void> {
  session.busy = true
  const body = await call(server, 'refresh', 'POST', '/v1/app/auth/refresh', 200, { body: { refresh: session.refresh } })
  session.busy = false
  if (body === undefined) {
    sessions.splice(sessions.indexOf(session), 1)
    return
  }
  Object.assign(session, { access: body.tokens.access, refresh: body.tokens.refresh, accessAt: Date.now() })
}

async function operate (server: RunningProcess, operation: Operation): Promise<void> {
  const accessTtl = Number(process.env.ACCESS_TOKEN_TTL ?? 300) * 1000
  switch (operation) {
    case 'register': {
      const email = `soak-${runId}-${registered++}@example.com`
      const body = await call(server, 'register', 'POST', '/v1/app/auth/register', 201, { body: { email, password: PASSWORD } })
      if (body === undefined) return
      accounts.push(email)
      if (body.tokens !== undefined) sessions.push({ email, access: body.tokens.access, refresh: body.tokens.refresh, accessAt: Date.now(), busy: false, readers: 0 })
      return
    }
    case 'login': {
      const email = pick(accounts)
      if (email === undefined) return await operate(server, 'register')
      const body = await call(server, 'login', 'POST', '/v1/app/auth/login', 200, { body: { login: email, password: PASSWORD } })
      if (body !== undefined) sessions.push({ email, access: body.tokens.access, refresh: body.tokens.refresh, accessAt: Date.now(), busy: false, readers: 0 })
      return
    }
    case 'refresh': {
      const session = idle()
      if (session === undefined) { noSession++; return }
      return await refresh(server, session)
    }
    case 'me': {
      const session = pick(sessions)
      if (session === undefined) { noSession++; return }
      // An access token close to its expiry is refreshed instead, as a client would.
      if (Date.now() - session.accessAt > accessTtl * 0.8) return session.busy ? undefined : await refresh(server, session)
      session.readers++
      await call(server, 'me', 'GET', '/v1/users/me', 200, { token: session.access })
      session.readers--
      return
    }
    case 'logout': {
      // Keep a working set of sessions: log out only when there are a few.
      const session = sessions.length > 5 ? unused() : undefined
      if (session === undefined) { noSession++; return }
      sessions.splice(sessions.indexOf(session), 1)
      if (await call(server, 'logout', 'POST', '/v1/app/auth/logout', 204, { body: { refresh: session.refresh } }) === undefined) return
      // A logged-out refresh token must be refused.
      await call(server, 'refresh after logout', 'POST', '/v1/app/auth/refresh', 401, { body: { refresh: session.refresh } })
    }
  }
}

function chooseOperation (): Operation {
  let roll = Math.random() * 100
  for (const [operation, share] of MIX) {
    if (roll < share) return operation
    roll -= share
  }
  return 'me'
}

/** Lines the server logged at error level or above (pino JSON, level ≥ 50) since `from`. */
function serverErrors (output: string): string[] {
  return output.split('\n').filter((line) => {
    try { return (JSON.parse(line) as { level?: number }).level as number >= 50 } catch { return false }
  })
}

async function main (): Promise<void> {
  if (!existsSync(path.join(repoRoot, 'dist', 'server.js'))) throw new Error('dist/server.js is missing: run `npm run build` first')
  const { postgresAdminUrl, accessTokenAlg } = readOptions([])
  let kind = settings.store
  if (kind === 'postgres') {
    const problem = await postgresReachable(postgresAdminUrl)
    if (problem !== null) {
      log(`PostgreSQL not reachable (${problem}): soaking PGlite instead`)
      kind = 'pglite'
    }
  }
  const store = await createStore(kind, postgresAdminUrl, 'soak')
  const server = await startAuthd({ dataDir: store.dataDir, databaseUrl: store.databaseUrl, bcryptCost: settings.bcryptCost, accessTokenAlg })
  const startOutput = server.output().length
  log(`${kind}, ${settings.seconds} s at ${settings.rate} operations/s, bcrypt cost ${settings.bcryptCost}; pid ${server.pid}`)
  const samples: Array<{ second: number, rssBytes: number | null, loopP99: number, operations: number, errors: number }> = []
  samples.push({ second: 0, rssBytes: await server.rss(), loopP99: (await server.loopDelay()).p99, operations: 0, errors: 0 })

  // A few users and sessions first, so the mix starts as it goes on (not as a burst of registrations).
  for (let i = 0; i < 10; i++) await operate(server, 'register')
  if (errorCount > 0) throw new Error(`seeding failed: ${errors.join('; ')}`)
  latency.clear()
  counts.clear()

  const started = Date.now()
  let operations = 0
  let due = 0
  try {
    const tick = setInterval(() => {
      due += settings.rate / 10
      while (due >= 1) {
        due--
        if (inFlight >= settings.maxInFlight) { backlogSkips++; continue }
        inFlight++
        operations++
        operate(server, chooseOperation())
          .catch((error: Error) => { fail(`bench: ${error.message}`) })
          .finally(() => { inFlight-- })
      }
    }, 100)
    const sampler = setInterval(() => {
      void (async () => {
        const second = Math.round((Date.now() - started) / 1000)
        const sample = { second, rssBytes: await server.rss(), loopP99: (await server.loopDelay()).p99, operations, errors: errorCount }
        samples.push(sample)
        log(`${second}s: ${operations} operations, ${errorCount} errors, ${inFlight} in flight, RSS ${mb(sample.rssBytes)}, loop p99 ${sample.loopP99.toFixed(1)} ms, ${sessions.length} live sessions`)
      })()
    }, settings.sampleSeconds * 1000)
    await new Promise((resolve) => setTimeout(resolve, settings.seconds * 1000))
    clearInterval(tick)
    clearInterval(sampler)
    const deadline = Date.now() + 60_000
    // inFlight falls as the operations started above answer (they run while this loop waits).
    // eslint-disable-next-line no-unmodified-loop-condition
    while (inFlight > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
    if (inFlight > 0) fail(`${inFlight} operations still unanswered 60 s after the end`)
    samples.push({ second: Math.round((Date.now() - started) / 1000), rssBytes: await server.rss(), loopP99: (await server.loopDelay()).p99, operations, errors: errorCount })
  } finally {
    await server.stop()
    await store.dispose()
  }

  const logged = serverErrors(server.output().slice(startOutput))
  errorCount += logged.length

  // Memory: from the first sample after a fifth of the run (warm-up: JIT, pools, caches) to the end.
  const warm = samples.find((sample) => sample.second >= settings.seconds / 5 && sample.rssBytes !== null)
  const last = samples[samples.length - 1]
  const growth = warm?.rssBytes == null || last?.rssBytes == null ? null : last.rssBytes - warm.rssBytes
  const memoryOk = growth === null || growth <= settings.rssToleranceMb * 1024 * 1024

  const lines = [
    `soak: ${kind}, ${settings.seconds} s, ${operations} operations started (${(operations / settings.seconds).toFixed(1)}/s), ${backlogSkips} skipped for backlog (${settings.maxInFlight} in flight), ${noSession} dropped for want of a free session`,
    'operation              count     p50 ms     p99 ms',
    ...[...latency.entries()].map(([label, histogram]) =>
      `${label.padEnd(20)} ${String(counts.get(label)).padStart(7)} ${(histogram.percentile(50) / 1000).toFixed(2).padStart(10)} ${(histogram.percentile(99) / 1000).toFixed(2).padStart(10)}`),
    `RSS: ${samples.map((sample) => `${sample.second}s ${mb(sample.rssBytes)}`).join(', ')}`,
    `RSS growth after warm-up (from ${warm?.second ?? '?'} s): ${growth === null ? '?' : mb(growth)} (tolerance ${settings.rssToleranceMb} MB) → ${memoryOk ? 'flat' : 'GROWING'}`,
    `event-loop delay p99 per sample: ${samples.slice(1).map((sample) => sample.loopP99.toFixed(1)).join(', ')} ms`,
    `errors: ${errorCount} (${logged.length} of them logged by the server at error level)`,
    ...errors.map((error) => `  ${error}`),
    ...logged.slice(0, 5).map((line) => `  server: ${line.slice(0, 600)}`)
  ]
  process.stdout.write(lines.join('\n') + '\n')
  if (errorCount > 0 || !memoryOk) process.exit(1)
}

await main()
