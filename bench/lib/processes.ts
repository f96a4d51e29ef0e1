// Child processes the benchmarks measure: authd itself (built, `node dist/server.js`, with the
// event-loop probe preloaded) and the bare-Fastify ceiling. Each gets its own free port; the
// starting, readiness polling and stopping are the tests' (test/support/processes.ts).
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { freePort, repoRoot, startAuthd as startAuthdProcess, startServer, type ServerProcess } from '../../test/support/processes.js'

export { repoRoot }
export const resultsDir = path.join(repoRoot, 'bench', 'results')

/** Resident set size of a process in bytes (VmRSS from /proc), or null off Linux. */
export async function rssOf (pid: number): Promise<number | null> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8')
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)
    return match === null ? null : Number(match[1]) * 1024
  } catch {
    return null
  }
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

/** Starts the built authd (dist/server.js) with the settings the issue prescribes. */
export async function startAuthd (options: AuthdOptions): Promise<RunningProcess> {
  const probePort = await freePort()
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
    LOOP_PROBE_PORT: String(probePort),
    ...options.env
  }
  if (options.accessTokenAlg === 'HS256' && (env.ACCESS_TOKEN_SECRET ?? '') === '') {
    env.ACCESS_TOKEN_SECRET = 'bench-access-secret-' + 'x'.repeat(32)
  }
  // cwd is the data directory: authd reads a .env from its working directory, and a
  // developer's .env must not change what is measured.
  const running = await startAuthdProcess({
    args: ['--import', pathToFileURL(path.join(repoRoot, 'bench', 'loop-probe.mjs')).href, path.join(repoRoot, 'dist', 'server.js')],
    env,
    cwd: options.dataDir,
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
  const running = await startServer({ args: [path.join(repoRoot, 'bench', 'hello-server.mjs')], env: process.env, readyPath: '/', readyTimeoutMs: 120_000 })
  const noProbe = async (): Promise<never> => { throw new Error('the hello-world server has no probe') }
  return Object.assign(running, { rss: async () => await rssOf(running.pid), loopDelay: noProbe, profile: noProbe })
}
