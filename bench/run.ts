// `npm run bench`: throughput and latency of authd's hot paths on PGlite and PostgreSQL, each
// next to a ceiling measured in the same run on the same machine (see bench/README.md).
import { spawnSync } from 'node:child_process'
import { cpus, loadavg, totalmem } from 'node:os'
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type autocannon from 'autocannon'
import { loginMany, registerAccounts, type Account, type Tokens } from './lib/accounts.js'
import { runLoad, type LoadResult } from './lib/load.js'
import { readOptions, type BenchOptions, type ScenarioName, type StoreKind } from './lib/options.js'
import { authdEnv, repoRoot, resultsDir, startAuthd, startHelloWorld, usePorts, type LoopDelay, type RunningProcess } from './lib/processes.js'
import { formatStartupTable, formatTable, mb } from './lib/report.js'
import { npmStartScenario, startupScenario, type StartupResult, type StartupSettings } from './lib/startup.js'
import { createStore, postgresReachable, type Store } from './lib/stores.js'
import { TokenQueue } from './lib/token-queue.js'

/** bcrypt cost of the server that runs every scenario except login: bcrypt is not on their path. */
const FAST_BCRYPT_COST = 4
/**
 * Access-token lifetime of the bench servers: a slow scenario (a memory round on a busy machine)
 * must not run into expired tokens. The lifetime changes no work on any path.
 */
const ACCESS_TOKEN_TTL = '3600'
const JSON_HEADERS = { 'content-type': 'application/json' }

export interface ScenarioRow extends LoadResult {
  scenario: string
  store: StoreKind | '-'
  /** Event-loop delay p99 of the server during the measurement (ms). */
  loopP99: number | null
  /** The lowest applicable ceiling, and the scenario's share of it. */
  ceiling: string
  ceilingRate: number | null
  ratio: number | null
  /** Ratio to every applicable ceiling. */
  ratios: Record<string, number>
}

interface Rate { perSecond: number, concurrency: number }

/** Each by connection count: measured with as much in flight as that many connections can have. */
interface Ceilings {
  /** Bare Fastify hello-world, same autocannon settings. */
  hello: Record<number, LoadResult>
  alg: string
  /** Raw signatures/s with `connections` in flight. */
  sign: Record<number, Rate>
  /** Raw verifications/s (synchronous, one at a time). */
  verifyPerSecond?: number
  bcryptCost: number
  /** Raw bcrypt.compare/s with min(connections, UV_THREADPOOL_SIZE) in flight. */
  bcrypt: Record<number, Rate>
}

interface StormResult {
  store: StoreKind
  loginConnections: number
  /** /users/me at one connection with the server otherwise idle, then during the storm. */
  meAlone: LoadResult
  meDuringStorm: LoadResult
  /** Event-loop delay during meAlone and meDuringStorm. */
  loopAlone: LoopDelay
  loopDuringStorm: LoopDelay
  /** Refresh at one connection, idle and during the storm (it signs on the thread pool bcrypt fills). */
  refreshAlone: LoadResult
  refreshDuringStorm: LoadResult
  /** The login load itself (warm-up included: informational). */
  login: LoadResult
}

export interface MemoryResult {
  store: StoreKind
  requestsPerRound: number
  rssAfterStart: number | null
  rssAfterRounds: Array<number | null>
  /** V8 heap in use after each round (from the probe; no forced GC, so noisy). */
  heapAfterRounds: number[]
  rounds: LoadResult[]
}

const log = (message: string): void => { process.stderr.write(`[bench] ${message}\n`) }
const selected = (options: BenchOptions, ...names: ScenarioName[]): boolean => names.some((name) => options.scenarios.includes(name))
const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` })

const runStamp = new Date().toISOString().replace(/[:.]/g, '-')
const profiles: string[] = []

/**
 * Warm-up (not recorded), then the measured run, in one load run (see LoadSpec.warmup), with
 * the server's loop delay over the measured part and, with BENCH_CPU_PROF, a CPU profile of
 * the measured part only (named `profileName`).
 */
async function measure (options: BenchOptions, server: RunningProcess, spec: Omit<Parameters<typeof runLoad>[0], 'duration' | 'url' | 'warmup' | 'onMeasureStart'>, profileName?: string): Promise<LoadResult & { loop: LoopDelay | null }> {
  let stopProfile: ((file: string) => Promise<void>) | undefined
  const result = await runLoad({
    ...spec,
    url: server.url,
    warmup: options.warmup,
    duration: options.duration,
    onMeasureStart: async () => {
      // The hello-world server has no probe: its loop delay is null.
      await server.loopDelay().catch(() => null)
      if (options.cpuProf && profileName !== undefined) stopProfile = await server.profile()
    }
  })
  const loop = await server.loopDelay().catch(() => null)
  if (stopProfile !== undefined) {
    const directory = path.join(resultsDir, 'profiles', runStamp)
    await mkdir(directory, { recursive: true })
    const file = path.join(directory, `${profileName as string}.cpuprofile`)
    await stopProfile(file)
    profiles.push(path.relative(repoRoot, file))
  }
  return { ...result, loop }
}

function row (scenario: string, store: StoreKind | '-', result: LoadResult & { loop?: LoopDelay | null }, ceilings: Array<[string, number | undefined]>): ScenarioRow {
  const ratios: Record<string, number> = {}
  let ceiling = '-'
  let ceilingRate: number | null = null
  for (const [name, rate] of ceilings) {
    if (rate === undefined || rate <= 0) continue
    ratios[name] = result.rps / rate
    if (ceilingRate === null || rate < ceilingRate) { ceiling = name; ceilingRate = rate }
  }
  const { loop, ...load } = result
  return { scenario, store, ...load, loopP99: loop?.p99 ?? null, ceiling, ceilingRate, ratio: ceilingRate === null ? null : result.rps / ceilingRate, ratios }
}

async function child (args: string[]): Promise<unknown> {
  const result = spawnSync(process.execPath, ['--import', 'tsx', ...args], { cwd: repoRoot, encoding: 'utf8', maxBuffer: 1 << 20 })
  if (result.status !== 0) throw new Error(`${args.join(' ')} failed: ${result.stderr}`)
  return JSON.parse(result.stdout.trim().split('\n').pop() as string)
}

async function measureCeilings (options: BenchOptions): Promise<Ceilings> {
  const ceilings: Ceilings = { hello: {}, alg: options.accessTokenAlg, sign: {}, bcryptCost: options.bcryptCost, bcrypt: {} }
  const seconds = Math.max(2, options.duration)
  if (selected(options, 'jwks', 'me', 'verify', 'refresh')) {
    log('ceiling: bare Fastify hello-world')
    const hello = await startHelloWorld()
    try {
      for (const connections of options.connections) {
        ceilings.hello[connections] = await measure(options, hello, { connections, requests: [{ method: 'GET', path: '/' }] })
      }
    } finally {
      await hello.stop()
    }
  }
  if (selected(options, 'refresh')) {
    for (const connections of options.connections) {
      log(`ceiling: raw ${options.accessTokenAlg} signatures, ${connections} in flight`)
      ceilings.sign[connections] = await child(['bench/ceilings.ts', 'sign', options.accessTokenAlg, String(seconds), String(connections)]) as Rate
    }
  }
  if (selected(options, 'me', 'verify', 'refresh')) {
    log(`ceiling: raw ${options.accessTokenAlg} verifications`)
    ceilings.verifyPerSecond = (await child(['bench/ceilings.ts', 'verify', options.accessTokenAlg, String(seconds)]) as Rate).perSecond
  }
  if (selected(options, 'login')) {
    const threads = Number(process.env.UV_THREADPOOL_SIZE ?? 4)
    const byConcurrency = new Map<number, Rate>()
    for (const connections of options.connections) {
      const concurrency = Math.min(connections, threads)
      let rate = byConcurrency.get(concurrency)
      if (rate === undefined) {
        log(`ceiling: raw bcrypt.compare at cost ${options.bcryptCost}, ${concurrency} in flight`)
        rate = await child(['bench/ceilings.ts', 'bcrypt', String(options.bcryptCost), String(Math.max(5, seconds)), String(concurrency)]) as Rate
        byConcurrency.set(concurrency, rate)
      }
      ceilings.bcrypt[connections] = rate
    }
  }
  return ceilings
}

interface RefreshCheck {
  store: StoreKind
  tokensTaken: number
  /**
   * Answers that handed back a refresh token already seen: a token presented twice (the grace
   * window replays its child). 0 proves every request carried a distinct token.
   */
  repeated: number
}

interface StoreResults { rows: ScenarioRow[], storms: StormResult[], memory: MemoryResult[], refreshChecks: RefreshCheck[], startup: StartupResult[] }

/** What the startup scenario needs for `kind`: the token server's settings, on its own stores. */
function startupSettings (options: BenchOptions, kind: StoreKind): StartupSettings {
  return {
    kind,
    runs: options.startupRuns,
    postgresAdminUrl: options.postgresAdminUrl,
    postgresDatabasePrefix: options.postgresDatabasePrefix,
    envFor: (store) => authdEnv({ dataDir: store.dataDir, databaseUrl: store.databaseUrl, bcryptCost: FAST_BCRYPT_COST, accessTokenAlg: options.accessTokenAlg, env: { ACCESS_TOKEN_TTL } }),
    log
  }
}

async function withServer<T> (options: BenchOptions, kind: StoreKind, label: string, bcryptCost: number, run: (server: RunningProcess, store: Store) => Promise<T>): Promise<T> {
  const store: Store = await createStore(kind, options.postgresAdminUrl, label, options.postgresDatabasePrefix)
  let server: RunningProcess | undefined
  try {
    server = await startAuthd({ dataDir: store.dataDir, databaseUrl: store.databaseUrl, bcryptCost, accessTokenAlg: options.accessTokenAlg, env: { ACCESS_TOKEN_TTL } })
    return await run(server, store)
  } catch (error) {
    // A server that died mid-run explains the failure better than the refused connection does.
    const ended = server?.exitStatus()
    if (server !== undefined && ended !== null && ended !== undefined) {
      throw new Error(`authd (${kind}, ${label}) ended with ${ended}; its last output:\n${server.output().slice(-4000)}`, { cause: error })
    }
    throw error
  } finally {
    await server?.stop()
    await store.dispose()
  }
}

/** RSS after start and after each round of `memoryRequests` requests (me/verify/jwks). */
async function memoryScenario (options: BenchOptions, kind: StoreKind, server: RunningProcess): Promise<MemoryResult> {
  const rssAfterStart = await server.rss()
  const accounts = await registerAccounts(server.url, options.users, 'mem')
  const rounds: LoadResult[] = []
  const rssAfterRounds: Array<number | null> = []
  const heapAfterRounds: number[] = []
  for (let round = 1; round <= options.memoryRounds; round++) {
    log(`${kind}: memory round ${round} of ${options.memoryRounds} (${options.memoryRequests} requests)`)
    // Fresh access tokens each round, so none expires during a slow round.
    const requests: autocannon.Request[] = (await loginMany(server.url, accounts, accounts.length)).flatMap(({ access }) => [
      { method: 'GET', path: '/v1/users/me', headers: bearer(access) },
      { method: 'POST', path: '/v1/auth/verify', headers: JSON_HEADERS, body: JSON.stringify({ token: access }) },
      { method: 'GET', path: '/.well-known/jwks.json' }
    ])
    rounds.push(await runLoad({ url: server.url, connections: 8, amount: options.memoryRequests, requests }))
    rssAfterRounds.push(await server.rss())
    heapAfterRounds.push((await server.loopDelay()).heapUsedBytes)
  }
  return { store: kind, requestsPerRound: options.memoryRequests, rssAfterStart, rssAfterRounds, heapAfterRounds, rounds }
}

/**
 * Refresh requests for autocannon's per-connection lists: each takes a token nobody has presented
 * yet; the new token its answer carries (also never presented) joins the back of the queue.
 * See bench/README.md, "Two servers per store, and the refresh-token pool".
 */
function refreshRequests (queue: TokenQueue): () => autocannon.Request[] {
  return () => [{
    method: 'POST',
    path: '/v1/app/auth/refresh',
    headers: JSON_HEADERS,
    setupRequest: (request) => ({ ...request, body: JSON.stringify({ refresh: queue.take() ?? 'pool-empty' }) }),
    onResponse: (status, body) => {
      if (status === 200) queue.put((JSON.parse(body) as { tokens: Tokens }).tokens.refresh)
    }
  }]
}

async function tokenPathScenarios (options: BenchOptions, kind: StoreKind, ceilings: Ceilings, results: StoreResults): Promise<void> {
  await withServer(options, kind, 'tokens', FAST_BCRYPT_COST, async (server, store) => {
    if (selected(options, 'memory')) results.memory.push(await memoryScenario(options, kind, server))
    const accounts = await registerAccounts(server.url, options.users, 'tok')
    const hello = (connections: number): [string, number | undefined] => ['hello-world', ceilings.hello[connections]?.rps]
    // Fresh access tokens for each scenario: a long run must not outlive ACCESS_TOKEN_TTL.
    const accessTokens = async (): Promise<Tokens[]> => await loginMany(server.url, accounts, accounts.length)

    const simple: Array<[ScenarioName, (tokens: Tokens[]) => autocannon.Request[]]> = [
      ['jwks', () => [{ method: 'GET', path: '/.well-known/jwks.json' }]],
      ['me', (tokens) => tokens.map(({ access }) => ({ method: 'GET', path: '/v1/users/me', headers: bearer(access) }))],
      ['verify', (tokens) => tokens.map(({ access }) => ({ method: 'POST', path: '/v1/auth/verify', headers: JSON_HEADERS, body: JSON.stringify({ token: access }) }))]
    ]
    for (const [scenario, requestsFor] of simple) {
      if (!selected(options, scenario)) continue
      const requests = requestsFor(await accessTokens())
      for (const connections of options.connections) {
        log(`${kind}: ${scenario} at ${connections} connection(s)`)
        results.rows.push(row(scenario, kind, await measure(options, server, { connections, requests }, `${kind}-${scenario}-c${connections}`), [hello(connections)]))
      }
    }

    if (selected(options, 'refresh')) {
      log(`${kind}: making a pool of ${options.refreshPool} refresh tokens by login`)
      const queue = new TokenQueue((await loginMany(server.url, accounts, options.refreshPool)).map((tokens) => tokens.refresh))
      const perConnection = refreshRequests(queue)
      for (const connections of options.connections) {
        log(`${kind}: refresh at ${connections} connection(s)`)
        const result = await measure(options, server, { connections, perConnection }, `${kind}-refresh-c${connections}`)
        results.rows.push(row('refresh', kind, result, [hello(connections), [`${options.accessTokenAlg} sign`, ceilings.sign[connections]?.perSecond]]))
      }
      results.refreshChecks.push({ store: kind, tokensTaken: queue.taken, repeated: queue.repeated })
      log(`${kind}: refresh took ${queue.taken} tokens from the queue, each once`)
    }
  })
}

async function loginScenarios (options: BenchOptions, kind: StoreKind, ceilings: Ceilings, results: StoreResults): Promise<void> {
  await withServer(options, kind, 'login', options.bcryptCost, async (server) => {
    log(`${kind}: registering ${options.users} users at bcrypt cost ${options.bcryptCost}`)
    const accounts: Account[] = await registerAccounts(server.url, options.users, 'login')
    const requests: autocannon.Request[] = accounts.map((account) => ({
      method: 'POST', path: '/v1/app/auth/login', headers: JSON_HEADERS, body: JSON.stringify({ login: account.email, password: account.password })
    }))
    // A login waits in line behind every bcrypt in flight: seconds at high cost and many connections.
    const timeout = 120
    // /users/me and refresh (one connection each) with the server otherwise idle, for comparison
    // with the storm; first, while no login is left in the bcrypt queue.
    const sessions = selected(options, 'storm') ? await loginMany(server.url, accounts, 10) : []
    const me: autocannon.Request[] = sessions.slice(0, 1).map(({ access }) => ({ method: 'GET', path: '/v1/users/me', headers: bearer(access) }))
    const refresh = refreshRequests(new TokenQueue(sessions.map((tokens) => tokens.refresh)))
    let alone: { me: LoadResult, loop: LoopDelay, refresh: LoadResult } | undefined
    if (sessions.length > 0) {
      log(`${kind}: /users/me, then refresh, at one connection, server otherwise idle`)
      await server.loopDelay()
      const meAlone = await runLoad({ url: server.url, connections: 1, duration: options.duration, requests: me })
      const loop = await server.loopDelay()
      alone = { me: meAlone, loop, refresh: await runLoad({ url: server.url, connections: 1, duration: options.duration, perConnection: refresh }) }
    }
    if (selected(options, 'login')) {
      for (const connections of options.connections) {
        log(`${kind}: login at ${connections} connection(s)`)
        results.rows.push(row('login', kind, await measure(options, server, { connections, requests, timeout }, `${kind}-login-c${connections}`), [[`bcrypt ${options.bcryptCost}`, ceilings.bcrypt[connections]?.perSecond]]))
      }
    }
    if (alone !== undefined) {
      const connections = options.stormConnections
      log(`${kind}: /users/me, then refresh, at one connection while ${connections} connections hammer login`)
      const storm = runLoad({ url: server.url, connections, duration: options.warmup + 2 * options.duration + 1, requests, timeout })
      await new Promise((resolve) => setTimeout(resolve, options.warmup * 1000))
      await server.loopDelay()
      const meDuringStorm = await runLoad({ url: server.url, connections: 1, duration: options.duration, requests: me, timeout })
      const loopDuringStorm = await server.loopDelay()
      const refreshDuringStorm = await runLoad({ url: server.url, connections: 1, duration: options.duration, perConnection: refresh, timeout })
      const login = await storm
      results.storms.push({ store: kind, loginConnections: connections, meAlone: alone.me, meDuringStorm, loopAlone: alone.loop, loopDuringStorm, refreshAlone: alone.refresh, refreshDuringStorm, login })
      results.rows.push(row(`me (login storm ×${connections})`, kind, { ...meDuringStorm, loop: loopDuringStorm }, []))
      results.rows.push(row(`refresh (login storm ×${connections})`, kind, refreshDuringStorm, []))
    }
  })
}

async function main (): Promise<void> {
  const options = readOptions()
  usePorts(options.ports)
  const startedAt = new Date()
  if (options.build) {
    log('npm run build')
    const build = spawnSync('npm', ['run', 'build'], { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit'] })
    if (build.status !== 0) throw new Error('npm run build failed (BENCH_BUILD=false runs the existing dist/)')
  }
  const skipped: Array<{ store: StoreKind, reason: string }> = []
  const results: StoreResults = { rows: [], storms: [], memory: [], refreshChecks: [], startup: [] }
  const ceilings = await measureCeilings(options)
  for (const hello of Object.values(ceilings.hello)) results.rows.push(row('hello-world (ceiling)', '-', hello, []))

  for (const kind of options.stores) {
    if (kind === 'postgres') {
      const problem = await postgresReachable(options.postgresAdminUrl)
      if (problem !== null) {
        const reason = `PostgreSQL not reachable at ${options.postgresAdminUrl.replace(/\/\/[^@]*@/, '//…@')}: ${problem}`
        skipped.push({ store: kind, reason })
        log(`SKIPPED the postgres store: ${reason}`)
        if (process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false') throw new Error(reason)
        continue
      }
    }
    // First, while the machine has run nothing else of this bench.
    if (selected(options, 'startup')) results.startup.push(await startupScenario(startupSettings(options, kind)))
    if (selected(options, 'jwks', 'me', 'verify', 'refresh', 'memory')) await tokenPathScenarios(options, kind, ceilings, results)
    if (selected(options, 'login', 'storm')) await loginScenarios(options, kind, ceilings, results)
  }
  // Last: its prestart step may rebuild dist/, which every other scenario must run as it was.
  for (const startup of results.startup) startup.npmStart = await npmStartScenario(startupSettings(options, startup.store))

  const report = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryBytes: totalmem(), loadAverageAtEnd: loadavg(), node: process.version },
    options,
    ceilings,
    scenarios: results.rows,
    storms: results.storms,
    memory: results.memory,
    startup: results.startup,
    refreshChecks: results.refreshChecks,
    profiles,
    skipped
  }
  await mkdir(resultsDir, { recursive: true })
  const file = path.join(resultsDir, `${runStamp}.json`)
  await writeFile(file, JSON.stringify(report, null, 2) + '\n')

  const out: string[] = []
  if (results.rows.length > 0) out.push(formatTable(results.rows), '')
  const rates = (byConnections: Record<number, Rate>, digits: number): string =>
    Object.entries(byConnections).map(([connections, rate]) => `${rate.perSecond.toFixed(digits)}/s with ${rate.concurrency} in flight (for ${connections} connections)`).join(', ')
  if (Object.keys(ceilings.sign).length > 0) out.push(`ceiling: raw ${ceilings.alg} signatures (node:crypto, as authd signs): ${rates(ceilings.sign, 0)}`)
  if (ceilings.verifyPerSecond !== undefined) out.push(`ceiling: raw ${ceilings.alg} verifications (fast-jwt, no cache): ${ceilings.verifyPerSecond.toFixed(0)}/s`)
  if (Object.keys(ceilings.bcrypt).length > 0) out.push(`ceiling: raw bcrypt.compare at cost ${ceilings.bcryptCost}: ${rates(ceilings.bcrypt, 2)}`)
  for (const storm of results.storms) {
    out.push(`storm (${storm.store}, login ×${storm.loginConnections}): event-loop delay p99 ${storm.loopDuringStorm.p99.toFixed(1)} ms (server otherwise idle: ${storm.loopAlone.p99.toFixed(1)} ms); ` +
      `/users/me p99 ${storm.meDuringStorm.p99 ?? '- (no answer)'} ms (alone: ${storm.meAlone.p99 ?? '-'} ms); ` +
      `refresh p99 ${storm.refreshDuringStorm.p99 ?? '- (no answer)'} ms (alone: ${storm.refreshAlone.p99 ?? '-'} ms); login ${storm.login.rps.toFixed(1)}/s`)
  }
  for (const memory of results.memory) {
    const after = memory.rssAfterRounds.map((rss, index) => `${(index + 1) * memory.requestsPerRound / 1000}k ${mb(rss)}`).join(', ')
    const first = memory.rssAfterRounds[0]
    const last = memory.rssAfterRounds[memory.rssAfterRounds.length - 1]
    const growth = memory.rssAfterRounds.length < 2 || first == null || last == null ? '?' : mb(last - first)
    const failed = memory.rounds.reduce((sum, round) => sum + round.errors + round.non2xx, 0)
    out.push(`memory (${memory.store}): RSS after start ${mb(memory.rssAfterStart)}; after ${after}; growth after the first round ${growth}; ` +
      `V8 heap used after each round ${memory.heapAfterRounds.map(mb).join(', ')}; errors/non-2xx ${failed}`)
  }
  if (results.startup.length > 0 || results.memory.length > 0) out.push('', formatStartupTable(options.stores, results.startup, results.memory), '')
  for (const check of results.refreshChecks) {
    out.push(`refresh (${check.store}): ${check.tokensTaken} tokens taken, ${check.repeated} answers repeated a token already seen`)
  }
  for (const skip of skipped) out.push(`SKIPPED ${skip.store}: ${skip.reason}`)
  if (profiles.length > 0) out.push(`CPU profiles (npx tsx bench/profile-top.ts <file>):\n  ${profiles.join('\n  ')}`)
  out.push(`written: ${path.relative(repoRoot, file)}`)
  process.stdout.write(out.join('\n') + '\n')
}

await main()
