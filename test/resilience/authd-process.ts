// A real authd process for the resilience tests: `node --import tsx src/server.ts` (no build
// step, so the suite runs the sources under test), on 127.0.0.1 and a free port, with its
// output kept for failure messages. Killed at teardown if still running.
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

/** A TCP port that was free a moment ago. */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

export const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

export interface Exit { code: number | null, signal: NodeJS.Signals | null }

export interface AuthdProcess {
  readonly url: string
  readonly port: number
  readonly child: ChildProcess
  /** Resolves when the process has exited. */
  readonly exited: Promise<Exit>
  /** stdout + stderr so far. */
  output (): string
  /** Resolves with the exit, or rejects after `ms`. */
  waitExit (ms: number): Promise<Exit>
  /** SIGKILL and wait for the exit. */
  kill (): Promise<Exit>
  /** SIGTERM (graceful shutdown); wait with waitExit. */
  terminate (): void
}

interface HasTeardown { teardown (fn: () => unknown): void }

/** Variables every authd of the suite gets unless the test overrides them. */
const BASE_ENV: Record<string, string> = {
  NODE_ENV: 'development',
  HOST: '127.0.0.1',
  LOG_LEVEL: 'warn',
  BCRYPT_COST: '4',
  RATE_LIMIT_ENABLED: 'false',
  REDIS_URL: '',
  HOUSEKEEPING_INTERVAL: '0',
  SIGNING_KEYS_RELOAD_INTERVAL: '0'
}

/**
 * Starts authd with `env` (DATA_DIR is required: keys and, without DATABASE_URL, the PGlite
 * store live there) and waits until /healthz answers. Fails if it exits first.
 */
export async function startAuthd (t: HasTeardown, env: Record<string, string> & { DATA_DIR: string }, options: { port?: number, readyTimeoutMs?: number } = {}): Promise<AuthdProcess> {
  const port = options.port ?? await freePort()
  // The test runner's own variables (TEST_DATABASE_URL…) and any authd setting from the shell
  // stay out: the server sees exactly BASE_ENV + env.
  const inherited = Object.fromEntries(['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ'].flatMap((k) => process.env[k] === undefined ? [] : [[k, process.env[k] as string]]))
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src/server.ts')], {
    cwd: repoRoot,
    env: { ...inherited, ...BASE_ENV, PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  const keep = (chunk: Buffer) => { out = (out + chunk.toString()).slice(-200_000) }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  let done = false
  let stopping = false
  void exited.then((exit) => {
    done = true
    // A crash nobody asked for: its output is the only clue, so show it.
    if (!stopping) process.stderr.write(`authd on port ${port} exited on its own (${JSON.stringify(exit)}); its output:\n${out.slice(-8000)}\n`)
  })

  const proc: AuthdProcess = {
    url: `http://127.0.0.1:${port}`,
    port,
    child,
    exited,
    output: () => out,
    async waitExit (ms) {
      let timer: NodeJS.Timeout | undefined
      try {
        return await Promise.race([exited, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`authd did not exit within ${ms} ms\n${out.slice(-4000)}`)), ms) })])
      } finally {
        clearTimeout(timer)
      }
    },
    async kill () {
      stopping = true
      if (!done) child.kill('SIGKILL')
      return await exited
    },
    terminate () {
      stopping = true
      child.kill('SIGTERM')
    }
  }
  t.teardown(async () => { await proc.kill() })
  // Should the test process die without its teardown, take the server along.
  const onExit = (): void => { if (!done) child.kill('SIGKILL') }
  process.once('exit', onExit)
  void exited.then(() => process.removeListener('exit', onExit))

  const deadline = Date.now() + (options.readyTimeoutMs ?? 90_000)
  while (true) {
    if (done) throw new Error(`authd exited before it was ready (${JSON.stringify(await exited)}):\n${out.slice(-4000)}`)
    try {
      const res = await fetch(`${proc.url}/healthz`, { signal: AbortSignal.timeout(2_000) })
      if (res.status === 200) return proc
    } catch {}
    if (Date.now() > deadline) {
      await proc.kill()
      throw new Error(`authd did not answer /healthz within the timeout:\n${out.slice(-4000)}`)
    }
    await sleep(100)
  }
}

export interface HttpResult {
  status: number
  /** 0 for a network error or timeout (no answer). */
  body: any
  contentType: string
  ms: number
  error?: string
}

/** One JSON request that never throws: a network failure or timeout is status 0. */
export async function call (base: string, method: string, url: string, body?: unknown, headers: Record<string, string> = {}, timeoutMs = 30_000): Promise<HttpResult> {
  const started = Date.now()
  try {
    const res = await fetch(`${base}${url}`, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs)
    })
    const text = await res.text()
    let parsed: unknown = text
    try { parsed = text === '' ? null : JSON.parse(text) } catch {}
    return { status: res.status, body: parsed, contentType: res.headers.get('content-type') ?? '', ms: Date.now() - started }
  } catch (error) {
    const e = error as Error & { cause?: { code?: string } }
    return { status: 0, body: null, contentType: '', ms: Date.now() - started, error: e.cause?.code ?? e.name }
  }
}

/** Polls until `check` is true; throws with `what` after `ms`. */
export async function waitFor (what: string, check: () => Promise<boolean> | boolean, ms = 30_000, every = 100): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(every)
  }
}
