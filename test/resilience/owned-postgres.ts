// A PostgreSQL server that a resilience test owns: its own data directory, port and socket
// directory, so the test can stop, kill and restart it without touching the shared server.
//
// initdb and postgres refuse to run as root; when the test runs as root they run as the
// `postgres` OS user (runuser), in a temporary directory owned by that user. Binaries come
// from PG_BIN, else the newest /usr/lib/postgresql/<version>/bin, else `pg_config --bindir`.
import { execFile, execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { chown, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import { freePort } from '../support/processes.js'

const run = promisify(execFile)

export interface OwnedPostgres {
  readonly port: number
  readonly dataDir: string
  /** postgresql://postgres@127.0.0.1:<port>/<database> */
  url (database?: string): string
  /** Creates a database (the server must be running) and returns its URL. */
  createDatabase (name: string): Promise<string>
  start (): Promise<void>
  /** pg_ctl stop: `fast` rolls back and disconnects clients; `immediate` is a crash without the kill. */
  stop (mode?: 'fast' | 'immediate'): Promise<void>
  /** SIGKILL to the postmaster (its children notice and exit). */
  kill (): Promise<void>
  /**
   * SIGSTOP to the postmaster and its backends: the server keeps its connections open but
   * answers nothing, like a paused VM or a network partition. `resume` sends SIGCONT.
   */
  pause (): Promise<void>
  resume (): Promise<void>
  restart (): Promise<void>
  /** Stops the server (immediate) and removes its directory. */
  destroy (): Promise<void>
  /** The server's log so far (for failure messages). */
  log (): string
}

/** Where initdb, pg_ctl and postgres live, or null. */
export function postgresBinDir (): string | null {
  const candidates: string[] = []
  if (process.env.PG_BIN !== undefined && process.env.PG_BIN !== '') candidates.push(process.env.PG_BIN)
  const base = '/usr/lib/postgresql'
  if (existsSync(base)) {
    const versions = readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a))
    for (const v of versions) candidates.push(path.join(base, v, 'bin'))
  }
  try {
    candidates.push(execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim())
  } catch {}
  return candidates.find((dir) => ['initdb', 'pg_ctl', 'postgres'].every((bin) => existsSync(path.join(dir, bin)))) ?? null
}

interface SkippableTest {
  plan (n: number, reason?: string): void
  teardown (fn: () => unknown): void
}

/**
 * The binaries, or null after skipping the whole test file. With CI=true a missing binary is a
 * failure (thrown), never a skip: CI must not pass without having run the test.
 */
export function requirePostgresBinaries (t: SkippableTest): string | null {
  const dir = postgresBinDir()
  if (dir !== null) return dir
  const message = 'PostgreSQL server binaries (initdb, pg_ctl, postgres) not found; set PG_BIN or install postgresql'
  if (process.env.CI === 'true') throw new Error(`${message} (CI=true: not skipping)`)
  t.plan(0, message)
  return null
}

/** A zombie counts as gone: nothing may reap it inside a container. */
function alive (pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z'
  } catch {
    return false
  }
}

const asRoot = process.getuid?.() === 0

/** Runs a PostgreSQL binary, as the postgres user when we are root. */
async function pgExec (binDir: string, bin: string, args: string[], timeout = 60_000): Promise<string> {
  const file = path.join(binDir, bin)
  const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', file, ...args]] : [file, args]
  try {
    const { stdout } = await run(cmd, argv, { timeout, encoding: 'utf8' })
    return stdout
  } catch (error) {
    const e = error as { stderr?: string, stdout?: string, message: string }
    throw new Error(`${bin} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`)
  }
}

function pgExecSync (binDir: string, bin: string, args: string[]): void {
  const file = path.join(binDir, bin)
  if (asRoot) execFileSync('runuser', ['-u', 'postgres', '--', file, ...args], { stdio: 'ignore', timeout: 30_000 })
  else execFileSync(file, args, { stdio: 'ignore', timeout: 30_000 })
}

/** initdb + start (`settings`: extra `name=value` server settings). Stopped and removed at teardown. */
export async function startOwnedPostgres (t: SkippableTest, binDir: string, settings: string[] = []): Promise<OwnedPostgres> {
  const root = await mkdtemp(path.join(tmpdir(), 'authd-owned-pg-'))
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim())
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim())
    await chown(root, uid, gid)
  }
  const dataDir = path.join(root, 'data')
  const logFile = path.join(root, 'server.log')
  const port = await freePort()
  await pgExec(binDir, 'initdb', ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync'])

  // fsync off: the tests crash clients and the server process, never the machine, so the OS
  // page cache keeps every committed write; it only makes start-up and load faster.
  const options = [`-p ${port} -k ${root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`, ...settings.map((s) => `-c ${s}`)].join(' ')
  let running = false
  let paused: number[] = []
  /** The postmaster and its children, as they are now. */
  const serverProcesses = (): number[] => {
    const pid = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0])
    let children: number[] = []
    try { children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number) } catch {}
    return [pid, ...children]
  }

  const owned: OwnedPostgres = {
    port,
    dataDir,
    url: (database = 'postgres') => `postgresql://postgres@127.0.0.1:${port}/${database}`,
    async createDatabase (name) {
      const client = new pg.Client({ connectionString: owned.url() })
      await client.connect()
      try {
        await client.query(`CREATE DATABASE "${name}"`)
      } finally {
        await client.end()
      }
      return owned.url(name)
    },
    async start () {
      await pgExec(binDir, 'pg_ctl', ['-D', dataDir, '-l', logFile, '-o', options, '-w', '-t', '60', 'start'])
      running = true
    },
    async stop (mode = 'fast') {
      await pgExec(binDir, 'pg_ctl', ['-D', dataDir, '-m', mode, '-w', '-t', '60', 'stop'])
      running = false
    },
    async kill () {
      // Its backends notice the postmaster's death and exit by themselves; a new postmaster
      // refuses to start while they still hold the old shared memory, so wait for them too.
      const processes = serverProcesses()
      process.kill(processes[0] as number, 'SIGKILL')
      for (const p of processes) {
        for (let i = 0; i < 200; i++) {
          if (!alive(p)) break
          await new Promise((resolve) => setTimeout(resolve, 50))
        }
      }
      running = false
    },
    async pause () {
      paused = serverProcesses()
      for (const p of paused) process.kill(p, 'SIGSTOP')
    },
    async resume () {
      for (const p of paused) process.kill(p, 'SIGCONT')
      paused = []
    },
    async restart () {
      if (running) await owned.stop('fast')
      await owned.start()
    },
    async destroy () {
      if (paused.length > 0) await owned.resume()
      if (running) await owned.stop('immediate').catch(() => {})
      await rm(root, { recursive: true, force: true })
    },
    log: () => { try { return readFileSync(logFile, 'utf8') } catch { return '' } }
  }
  t.teardown(async () => { await owned.destroy() })
  // Should the test process die without its teardown (an uncaught error), stop the server
  // anyway: nothing else would, and it would outlive the run.
  const onExit = (): void => {
    try {
      if (paused.length > 0) for (const p of paused) process.kill(p, 'SIGCONT')
      if (running) pgExecSync(binDir, 'pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop'])
      rmSync(root, { recursive: true, force: true })
    } catch {}
  }
  process.once('exit', onExit)
  t.teardown(() => { process.removeListener('exit', onExit) })
  await owned.start()
  return owned
}
