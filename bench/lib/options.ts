// Benchmark options: environment variables, each also accepted as a flag
// (BENCH_DURATION=3 or --duration 3 / --duration=3; flags win).
import { parseArgs } from 'node:util'

export type StoreKind = 'pglite' | 'postgres'

export const SCENARIOS = ['jwks', 'me', 'verify', 'refresh', 'login', 'storm', 'memory', 'startup'] as const
export type ScenarioName = typeof SCENARIOS[number]

export interface BenchOptions {
  /** Seconds measured per scenario and connection count. */
  duration: number
  /** Seconds of load before each measurement, not recorded. */
  warmup: number
  connections: number[]
  stores: StoreKind[]
  scenarios: ScenarioName[]
  /** bcrypt cost of the login server (production default 12). */
  bcryptCost: number
  accessTokenAlg: string
  /** Refresh tokens made by logins before the refresh scenario (see bench/README.md, "the refresh-token pool"). */
  refreshPool: number
  /** Users registered on each server. */
  users: number
  /** Connections hammering login during the event-loop storm. */
  stormConnections: number
  /** Requests per memory round. */
  memoryRequests: number
  memoryRounds: number
  /** First start + restart cycles of the startup scenario, each on a fresh store. */
  startupRuns: number
  /** Run `npm run build` first. */
  build: boolean
  /** A V8 CPU profile of every measured authd run (bench/results/profiles/<run>/). */
  cpuProf: boolean
  postgresAdminUrl: string
  /** Name prefix of the databases the bench creates (then a random suffix). */
  postgresDatabasePrefix: string
  /** Ports for the processes the bench starts ([first, last]); null: any free port. */
  ports: [number, number] | null
}

const FLAGS = {
  duration: 'BENCH_DURATION',
  warmup: 'BENCH_WARMUP',
  connections: 'BENCH_CONNECTIONS',
  stores: 'BENCH_STORES',
  scenarios: 'BENCH_SCENARIOS',
  'bcrypt-cost': 'BENCH_BCRYPT_COST',
  alg: 'ACCESS_TOKEN_ALG',
  'refresh-pool': 'BENCH_REFRESH_POOL',
  users: 'BENCH_USERS',
  'storm-connections': 'BENCH_STORM_CONNECTIONS',
  'memory-requests': 'BENCH_MEMORY_REQUESTS',
  'memory-rounds': 'BENCH_MEMORY_ROUNDS',
  'startup-runs': 'BENCH_STARTUP_RUNS',
  build: 'BENCH_BUILD',
  'cpu-prof': 'BENCH_CPU_PROF',
  'postgres-url': 'BENCH_POSTGRES_ADMIN_URL',
  'postgres-db-prefix': 'BENCH_POSTGRES_DB_PREFIX',
  ports: 'BENCH_PORTS'
} as const

function list (value: string): string[] {
  return value.split(',').map((item) => item.trim()).filter((item) => item !== '')
}

function positiveNumber (name: string, value: string, integer = true): number {
  const number = Number(value)
  if (!Number.isFinite(number) || number < 0 || (integer && !Number.isInteger(number))) {
    throw new Error(`${name}="${value}": must be a ${integer ? 'non-negative integer' : 'non-negative number'}`)
  }
  return number
}

/** `4200-4299` → [4200, 4299]; empty → null. */
function portRange (value: string): [number, number] | null {
  if (value === '') return null
  const match = /^(\d+)-(\d+)$/.exec(value)
  const first = Number(match?.[1])
  const last = Number(match?.[2])
  if (match === null || first < 1 || last > 65535 || first > last) throw new Error(`BENCH_PORTS="${value}": must be <first>-<last>, e.g. 4200-4299`)
  return [first, last]
}

function bool (value: string): boolean {
  return value === 'true' || value === '1' || value === ''
}

export function readOptions (argv = process.argv.slice(2), env = process.env): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: Object.fromEntries(Object.keys(FLAGS).map((flag) => [flag, { type: 'string' as const }])),
    allowPositionals: false
  })
  const get = (flag: keyof typeof FLAGS, fallback: string): string => {
    const fromFlag = values[flag]
    if (typeof fromFlag === 'string') return fromFlag
    const fromEnv = env[FLAGS[flag]]
    return fromEnv === undefined || fromEnv === '' ? fallback : fromEnv
  }

  const stores = list(get('stores', 'pglite,postgres'))
  for (const store of stores) if (store !== 'pglite' && store !== 'postgres') throw new Error(`BENCH_STORES: unknown store "${store}" (pglite, postgres)`)
  const scenarios = list(get('scenarios', SCENARIOS.join(',')))
  for (const scenario of scenarios) {
    if (!(SCENARIOS as readonly string[]).includes(scenario)) throw new Error(`BENCH_SCENARIOS: unknown scenario "${scenario}" (${SCENARIOS.join(', ')})`)
  }
  const connections = list(get('connections', '1,8,32')).map((value) => positiveNumber('BENCH_CONNECTIONS', value))
  if (connections.some((value) => value < 1)) throw new Error('BENCH_CONNECTIONS: every count must be at least 1')

  const postgresDatabasePrefix = get('postgres-db-prefix', 'authd_bench_')
  // The name goes into CREATE DATABASE unquoted.
  if (!/^[a-z_][a-z0-9_]{0,40}$/.test(postgresDatabasePrefix)) throw new Error(`BENCH_POSTGRES_DB_PREFIX="${postgresDatabasePrefix}": a-z or _, then a-z, 0-9 or _, at most 41 characters`)

  return {
    duration: positiveNumber('BENCH_DURATION', get('duration', '10'), false),
    warmup: positiveNumber('BENCH_WARMUP', get('warmup', '3'), false),
    connections,
    stores: stores as StoreKind[],
    scenarios: scenarios as ScenarioName[],
    bcryptCost: positiveNumber('BENCH_BCRYPT_COST', get('bcrypt-cost', '12')),
    accessTokenAlg: get('alg', 'ES256'),
    refreshPool: Math.max(100, positiveNumber('BENCH_REFRESH_POOL', get('refresh-pool', '1000'))),
    users: Math.max(1, positiveNumber('BENCH_USERS', get('users', '20'))),
    stormConnections: positiveNumber('BENCH_STORM_CONNECTIONS', get('storm-connections', '50')),
    memoryRequests: positiveNumber('BENCH_MEMORY_REQUESTS', get('memory-requests', '100000')),
    memoryRounds: Math.max(1, positiveNumber('BENCH_MEMORY_ROUNDS', get('memory-rounds', '3'))),
    startupRuns: Math.max(1, positiveNumber('BENCH_STARTUP_RUNS', get('startup-runs', '3'))),
    build: bool(get('build', 'true')),
    cpuProf: bool(get('cpu-prof', 'false')),
    postgresAdminUrl: get('postgres-url', 'postgresql://postgres@127.0.0.1:5432/postgres'),
    postgresDatabasePrefix,
    ports: portRange(get('ports', ''))
  }
}
