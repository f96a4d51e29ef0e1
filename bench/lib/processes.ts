// Child processes the benchmarks measure: authd itself (built, `node dist/server.js`, with the
// event-loop probe preloaded) and the bare-Fastify ceiling. Each gets its own free port.
import { spawn, type ChildProcess } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url))
export const resultsDir = path.join(repoRoot, 'bench', 'results')

export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => { typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port')) })
    })
  })
}

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

export interface RunningProcess {
  url: string
  pid: number
  /** Everything the process wrote (stdout and stderr), for error reports and log checks. */
  output: () => string
  /** The exit code or signal once the process has ended, else null. */
  exitStatus: () => string | null
  /** Event-loop delay since the last reset; resets it (authd only). */
  loopDelay: () => Promise<LoopDelay>
  /** Starts a CPU profile; the returned function stops it and writes it to `file` (authd only). */
  profile: () => Promise<(file: string) => Promise<void>>
  rss: () => Promise<number | null>
  stop: () => Promise<void>
}

async function waitUntilReady (child: ChildProcess, url: string, output: () => string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the process exited with code ${child.exitCode}:\n${output().slice(-4000)}`)
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) })
      await response.arrayBuffer()
      if (response.ok) return
    } catch {}
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`not ready after ${timeoutMs} ms:\n${output().slice(-4000)}`)
}

async function startProcess (args: string[], env: NodeJS.ProcessEnv, port: number, readyPath: string, cwd: string): Promise<Omit<RunningProcess, 'loopDelay' | 'profile'>> {
  const child = spawn(process.execPath, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  let log = ''
  const keep = (chunk: Buffer): void => {
    log += chunk.toString()
    // Keep the tail only: a long soak must not grow the bench process.
    if (log.length > 1_000_000) log = log.slice(-500_000)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const url = `http://127.0.0.1:${port}`
  try {
    await waitUntilReady(child, url + readyPath, () => log)
  } catch (error) {
    child.kill('SIGKILL')
    throw error
  }
  return {
    url,
    pid: child.pid as number,
    output: () => log,
    exitStatus: () => child.exitCode !== null ? `exit code ${child.exitCode}` : child.signalCode !== null ? `signal ${child.signalCode}` : null,
    rss: async () => await rssOf(child.pid as number),
    stop: async () => {
      if (child.exitCode !== null) return
      child.kill('SIGTERM')
      const killer = setTimeout(() => child.kill('SIGKILL'), 20_000)
      await exited
      clearTimeout(killer)
    }
  }
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
  const port = await freePort()
  const probePort = await freePort()
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOST: '127.0.0.1',
    PORT: String(port),
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
  const args = [
    '--import', pathToFileURL(path.join(repoRoot, 'bench', 'loop-probe.mjs')).href,
    path.join(repoRoot, 'dist', 'server.js')
  ]
  // cwd is the data directory: authd reads a .env from its working directory, and a
  // developer's .env must not change what is measured.
  const running = await startProcess(args, env, port, '/readyz', options.dataDir)
  const probe = async (path: string): Promise<unknown> => {
    const response = await fetch(`http://127.0.0.1:${probePort}${path}`)
    const body = await response.json() as { error?: string }
    if (!response.ok) throw new Error(`loop probe ${path}: ${body.error ?? response.status}`)
    return body
  }
  return {
    ...running,
    loopDelay: async () => await probe('/reset') as LoopDelay,
    profile: async () => {
      await probe('/profile/start')
      return async (file) => { await probe(`/profile/stop?file=${encodeURIComponent(file)}`) }
    }
  }
}

export async function startHelloWorld (): Promise<RunningProcess> {
  const port = await freePort()
  const running = await startProcess([path.join(repoRoot, 'bench', 'hello-server.mjs')], { ...process.env, PORT: String(port) }, port, '/', repoRoot)
  const noProbe = async (): Promise<never> => { throw new Error('the hello-world server has no probe') }
  return { ...running, loopDelay: noProbe, profile: noProbe }
}
