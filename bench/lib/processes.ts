// Child processes the benchmarks measure: authd itself (built, `node dist/server.js`, with the
// event-loop probe preloaded) and the bare-Fastify ceiling. Each gets its own free port (of
// BENCH_PORTS when set); the starting, readiness polling and stopping are the tests'
// (test/support/processes.ts). The startup scenario spawns its own (bench/lib/startup.ts).
import { spawnSync } from 'node:child_process'
import { readdir, readFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { freePort, repoRoot, startAuthd as startAuthdProcess, startServer, type ServerProcess } from '../../test/support/processes.js'

export { repoRoot }
export const resultsDir = path.join(repoRoot, 'bench', 'results')

let portRange: [number, number] | null = null
let nextPort = 0

/** Every process the bench starts from now on listens on a port of [first, last] (BENCH_PORTS). */
export function usePorts (range: [number, number] | null): void {
  portRange = range
  nextPort = range?.[0] ?? 0
}

async function canListen (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

/** A port that was free a moment ago: the next one of BENCH_PORTS, or any. */
export async function benchPort (): Promise<number> {
  if (portRange === null) return await freePort()
  const [first, last] = portRange
  for (let tried = 0; tried <= last - first; tried++) {
    // Round robin, so a port just given out (its server not listening yet) is not given again.
    const port = nextPort
    nextPort = port >= last ? first : port + 1
    if (await canListen(port)) return port
  }
  throw new Error(`BENCH_PORTS: no free port in ${first}-${last}`)
}

/** A field of /proc/<pid>/status in bytes (VmRSS, VmHWM), or null (gone, or not Linux). */
async function statusBytes (pid: number, field: 'VmRSS' | 'VmHWM'): Promise<number | null> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8')
    const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status)
    return match === null ? null : Number(match[1]) * 1024
  } catch {
    return null
  }
}

/** Resident set size of a process in bytes (VmRSS from /proc), or null off Linux. */
export async function rssOf (pid: number): Promise<number | null> {
  return await statusBytes(pid, 'VmRSS')
}

/** The most the process was ever resident (VmHWM), in bytes, or null. */
export async function peakRssOf (pid: number): Promise<number | null> {
  return await statusBytes(pid, 'VmHWM')
}

/** The process and all its descendants (children of each of its threads, recursively). */
async function processTree (pid: number): Promise<number[]> {
  const children: number[] = []
  try {
    for (const task of await readdir(`/proc/${pid}/task`)) {
      const list = await readFile(`/proc/${pid}/task/${task}/children`, 'utf8').catch(() => '')
      for (const child of list.split(' ')) if (child.trim() !== '') children.push(Number(child))
    }
  } catch {
    return []
  }
  const below = await Promise.all(children.map(processTree))
  return [pid, ...below.flat()]
}

let clockTicks: number | undefined

/** Clock ticks per second of /proc/<pid>/stat times (100 on every usual Linux). */
function ticksPerSecond (): number {
  if (clockTicks === undefined) {
    const answer = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout)
    clockTicks = Number.isInteger(answer) && answer > 0 ? answer : 100
  }
  return clockTicks
}

/** CPU seconds (user + system) of the process and of its children it has reaped, or null. */
async function cpuSecondsOf (pid: number): Promise<number | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    // The command name in parentheses may hold spaces: count the fields after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // Fields 14–17 of proc(5) (utime, stime, cutime, cstime); fields[0] is field 3.
    const ticks = [11, 12, 13, 14].reduce((sum, index) => sum + Number(fields[index]), 0)
    return ticks / ticksPerSecond()
  } catch {
    return null
  }
}

/**
 * CPU seconds used so far by the process and all its descendants (those already ended count
 * through their parent), or null when the process is gone or off Linux. On a busy machine wall
 * time stretches; this does not.
 */
export async function treeCpuSecondsOf (pid: number): Promise<number | null> {
  return await sumOverTree(pid, cpuSecondsOf)
}

/**
 * VmRSS of the process plus all its descendants, in bytes (a process that ends while being
 * read counts 0); null when the process itself is gone or off Linux.
 */
export async function treeRssOf (pid: number): Promise<number | null> {
  return await sumOverTree(pid, rssOf)
}

/** `read` of the process plus all its descendants (one that ends while being read counts 0); null when the process itself is gone. */
async function sumOverTree (pid: number, read: (pid: number) => Promise<number | null>): Promise<number | null> {
  const pids = await processTree(pid)
  if (pids.length === 0) return null
  const values = await Promise.all(pids.map(read))
  if (values[0] === null) return null
  return values.reduce<number>((sum, value) => sum + (value ?? 0), 0)
}

export interface LoopDelay { p50: number, p99: number, max: number, mean: number, count: number, resolutionMs: number, rssBytes: number, heapUsedBytes: number }

export interface RunningProcess extends ServerProcess {
  /** Event-loop delay since the last reset; resets it (authd only). */
  loopDelay: () => Promise<LoopDelay>
  /** Starts a CPU profile; the returned function stops it and writes it to `file` (authd only). */
  profile: () => Promise<(file: string) => Promise<void>>
  rss: () => Promise<number | null>
}

export interface AuthdOptions {
  dataDir: string
  databaseUrl: string
  bcryptCost: number
  accessTokenAlg: string
  /** Extra or overriding settings. */
  env?: Record<string, string>
}

/**
 * The environment of every authd the bench starts (PORT aside): the settings the issue
 * prescribes, the store, and `options.env` last.
 */
export function authdEnv (options: AuthdOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOST: '127.0.0.1',
    DATA_DIR: options.dataDir,
    DATABASE_URL: options.databaseUrl,
    RATE_LIMIT_ENABLED: 'false',
    LOG_LEVEL: 'warn',
    HOUSEKEEPING_INTERVAL: '0',
    BCRYPT_COST: String(options.bcryptCost),
    ACCESS_TOKEN_ALG: options.accessTokenAlg,
    ...options.env
  }
  if (options.accessTokenAlg === 'HS256' && (env.ACCESS_TOKEN_SECRET ?? '') === '') {
    env.ACCESS_TOKEN_SECRET = 'bench-access-secret-' + 'x'.repeat(32)
  }
  return env
}

/** Starts the built authd (dist/server.js) with the loop probe preloaded. */
export async function startAuthd (options: AuthdOptions): Promise<RunningProcess> {
  const probePort = await benchPort()
  const env: NodeJS.ProcessEnv = { ...authdEnv(options), LOOP_PROBE_PORT: String(probePort) }
  // cwd is the data directory: authd reads a .env from its working directory, and a
  // developer's .env must not change what is measured.
  const running = await startAuthdProcess({
    args: ['--import', pathToFileURL(path.join(repoRoot, 'bench', 'loop-probe.mjs')).href, path.join(repoRoot, 'dist', 'server.js')],
    env,
    cwd: options.dataDir,
    port: await benchPort(),
    readyPath: '/readyz',
    readyTimeoutMs: 120_000
  })
  const probe = async (path: string): Promise<unknown> => {
    const response = await fetch(`http://127.0.0.1:${probePort}${path}`)
    const body = await response.json() as { error?: string }
    if (!response.ok) throw new Error(`loop probe ${path}: ${body.error ?? response.status}`)
    return body
  }
  return Object.assign(running, {
    rss: async () => await rssOf(running.pid),
    loopDelay: async () => await probe('/reset') as LoopDelay,
    profile: async () => {
      await probe('/profile/start')
      return async (file: string) => { await probe(`/profile/stop?file=${encodeURIComponent(file)}`) }
    }
  })
}

export async function startHelloWorld (): Promise<RunningProcess> {
  const running = await startServer({ args: [path.join(repoRoot, 'bench', 'hello-server.mjs')], env: process.env, port: await benchPort(), readyPath: '/', readyTimeoutMs: 120_000 })
  const noProbe = async (): Promise<never> => { throw new Error('the hello-world server has no probe') }
  return Object.assign(running, { rss: async () => await rssOf(running.pid), loopDelay: noProbe, profile: noProbe })
}
