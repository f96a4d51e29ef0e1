// Servers in child processes, for the tests that need a real process (resilience: killed,
// stopped, doubled; the browser tests) and for the benchmarks (which measure one). One copy of
// the free port, the readiness polling and the stopping, so a fix to either reaches both.
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

/** A TCP port on 127.0.0.1 that was free a moment ago. */
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

export const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Polls `url` until it answers 2xx. Throws when `exited()` says the process is gone (its
 * output, from `output()`, in the message) or after `timeoutMs`.
 */
export async function waitUntilHealthy (url: string, options: { exited: () => string | null, output: () => string, timeoutMs: number }): Promise<void> {
  const deadline = Date.now() + options.timeoutMs
  while (true) {
    const exit = options.exited()
    if (exit !== null) throw new Error(`the process ended (${exit}) before ${url} answered:\n${options.output().slice(-4000)}`)
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) })
      await response.arrayBuffer()
      if (response.ok) return
    } catch {}
    if (Date.now() > deadline) throw new Error(`${url} did not answer within ${options.timeoutMs} ms:\n${options.output().slice(-4000)}`)
    await sleep(100)
  }
}

export interface Exit { code: number | null, signal: NodeJS.Signals | null }

export interface ServerProcess {
  readonly url: string
  readonly port: number
  readonly pid: number
  readonly child: ChildProcess
  /** Resolves when the process has exited. */
  readonly exited: Promise<Exit>
  /** stdout + stderr so far (the last 500 kB at least: a long soak must not grow the caller). */
  output (): string
  /** How it ended ("exit code 1", "signal SIGKILL"), or null while it runs. */
  exitStatus (): string | null
  /** Resolves with the exit, or rejects after `ms`. */
  waitExit (ms: number): Promise<Exit>
  /** SIGKILL and wait for the exit. */
  kill (): Promise<Exit>
  /** SIGTERM (graceful shutdown) without waiting; see waitExit. */
  terminate (): void
  /** SIGTERM, SIGKILL if still running after 20 s, and wait for the exit. */
  stop (): Promise<void>
}

export interface ServerOptions {
  /** Node's arguments: the script and what to preload (run with this process's node). */
  args: string[]
  /** The child's whole environment; PORT is added. */
  env: NodeJS.ProcessEnv
  /** Where it runs; authd reads a .env from there. Default: the repository. */
  cwd?: string
  /** Default: a free one. */
  port?: number
  /** What to poll until it answers 2xx. Default /healthz. */
  readyPath?: string
  /** Default 90 s (a cold tsx compile of authd on a busy machine takes a while). */
  readyTimeoutMs?: number
  /** A tap test: the process is killed at its teardown. */
  t?: { teardown: (fn: () => unknown) => void }
}

/** Starts `node <args>` on 127.0.0.1:<port> and waits until `readyPath` answers. */
export async function startServer (options: ServerOptions): Promise<ServerProcess> {
  const port = options.port ?? await freePort()
  const child = spawn(process.execPath, options.args, {
    cwd: options.cwd ?? repoRoot,
    env: { ...options.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  const keep = (chunk: Buffer): void => {
    out += chunk.toString()
    if (out.length > 1_000_000) out = out.slice(-500_000)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  let stopping = false
  void exited.then((exit) => {
    // A crash nobody asked for: its output is the only clue, so show it.
    if (!stopping) process.stderr.write(`the server on port ${port} exited on its own (${JSON.stringify(exit)}); its output:\n${out.slice(-8000)}\n`)
  })
  const exitStatus = (): string | null => child.exitCode !== null ? `exit code ${child.exitCode}` : child.signalCode !== null ? `signal ${child.signalCode}` : null

  const server: ServerProcess = {
    url: `http://127.0.0.1:${port}`,
    port,
    pid: child.pid as number,
    child,
    exited,
    output: () => out,
    exitStatus,
    async waitExit (ms) {
      let timer: NodeJS.Timeout | undefined
      try {
        return await Promise.race([exited, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`the server did not exit within ${ms} ms\n${out.slice(-4000)}`)), ms) })])
      } finally {
        clearTimeout(timer)
      }
    },
    async kill () {
      stopping = true
      if (exitStatus() === null) child.kill('SIGKILL')
      return await exited
    },
    terminate () {
      stopping = true
      child.kill('SIGTERM')
    },
    async stop () {
      if (exitStatus() !== null) return
      server.terminate()
      const killer = setTimeout(() => child.kill('SIGKILL'), 20_000)
      await exited
      clearTimeout(killer)
    }
  }
  options.t?.teardown(async () => { await server.kill() })
  // Should this process end without its teardown (a test timeout), take the server along.
  const onExit = (): void => { if (exitStatus() === null) child.kill('SIGKILL') }
  process.once('exit', onExit)
  void exited.then(() => process.removeListener('exit', onExit))

  try {
    await waitUntilHealthy(server.url + (options.readyPath ?? '/healthz'), { exited: exitStatus, output: () => out, timeoutMs: options.readyTimeoutMs ?? 90_000 })
  } catch (error) {
    await server.kill()
    throw error
  }
  return server
}

/**
 * Starts authd. By default from its sources (`node --import tsx src/server.ts`: no build step,
 * so tests run the code under test); the benchmarks pass `args` for the built dist/server.js.
 */
export async function startAuthd (options: Omit<ServerOptions, 'args'> & { args?: string[] }): Promise<ServerProcess> {
  return await startServer({ ...options, args: options.args ?? ['--import', 'tsx', path.join(repoRoot, 'src/server.ts')] })
}
