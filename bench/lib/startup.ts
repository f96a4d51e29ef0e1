// The startup scenario: how long authd takes from process start to its first 200 from
// GET /healthz, and how much memory it holds on the way (see bench/README.md, "Start-up").
// It spawns its processes itself rather than through startAuthd: the event-loop probe must not
// be preloaded (it would cost start time and memory of its own), `npm start` is measured too,
// and the readiness polling is finer (25 ms, not 100 ms).
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { loadavg } from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { sleep } from '../../test/support/processes.js'
import { benchPort, peakRssOf, repoRoot, treeCpuSecondsOf, treeRssOf } from './processes.js'
import { mb } from './report.js'
import type { StoreKind } from './options.js'
import { createStore, type Store } from './stores.js'

const HEALTH_POLL_MS = 25
const RSS_SAMPLE_MS = 20
const START_TIMEOUT_MS = 180_000
const STOP_TIMEOUT_MS = 20_000
/**
 * Idle time after the restart before the steady RSS is read: V8 gives back the memory of the
 * start (its memory reducer runs some 30 s after the last activity), which it keeps until then.
 */
const STEADY_AFTER_MS = 35_000

export interface StartSample {
  /** Seconds from spawn to the first 200 from GET /healthz. */
  healthySeconds: number
  /**
   * CPU seconds (user + system, all threads) the process and its descendants used until healthy:
   * unlike healthySeconds, it hardly moves with the machine's load (more than wall time when
   * threads run in parallel).
   */
  cpuSeconds: number | null
  /** The machine's 1-minute load average at spawn: a slow start on a busy shared machine shows here. */
  loadAverage: number
  /** VmRSS of the process and its descendants right after healthy (bytes). */
  rssAfterStart: number | null
  /** max(peakSampled, hwm): the most resident during the start (bytes). */
  peakRss: number | null
  /** Largest sum of VmRSS over the process and its descendants, sampled every ~20 ms until healthy. */
  peakSampled: number | null
  /** VmHWM of the spawned process at healthy (for `npm start`, of npm itself: not used there). */
  hwm: number | null
  /** RSS samples taken until healthy. */
  samples: number
  /** Seconds from SIGTERM to the exit of every process of the start. */
  stopSeconds: number
  /** How the spawned process ended after SIGTERM ("exit code 0" is the graceful end). */
  exit: string
}

export interface StartupRun {
  /** Fresh, empty DATA_DIR (and fresh database for postgres). */
  first: StartSample
  /** The same DATA_DIR and database again. */
  restart: StartSample
  /** RSS after the restart and 35 s idle (bytes). */
  steadyRss: number | null
}

export interface StartupResult {
  store: StoreKind
  runs: StartupRun[]
  /** Medians over the runs; peaks are the largest of any run. */
  summary: {
    firstSeconds: number
    restartSeconds: number
    firstCpuSeconds: number | null
    restartCpuSeconds: number | null
    rssAfterFirst: number | null
    rssAfterRestart: number | null
    steadyRss: number | null
    peakFirst: number | null
    peakRestart: number | null
  }
  /** `npm start` on a fresh store, once (filled in after every other scenario: it rebuilds dist/). */
  npmStart?: StartSample
}

export interface StartupSettings {
  kind: StoreKind
  runs: number
  postgresAdminUrl: string
  postgresDatabasePrefix: string
  /** The environment of the server on `store` (PORT aside): the same as every bench server. */
  envFor: (store: Store) => NodeJS.ProcessEnv
  log: (message: string) => void
}

export function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle] as number : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
}

const medianOrNull = (values: Array<number | null>): number | null => values.some((value) => value === null) ? null : median(values as number[])
const maxOrNull = (values: Array<number | null>): number | null => values.some((value) => value === null) ? null : Math.max(...values as number[])

interface Started {
  sample: Omit<StartSample, 'stopSeconds' | 'exit'>
  pid: number
  /** SIGTERM (to the whole group for `npm start`), SIGKILL after 20 s; resolves when all are gone. */
  stop: () => Promise<{ stopSeconds: number, exit: string }>
}

/**
 * Spawns `command args` on `port` and measures until GET /healthz answers 200. With `group`
 * the process leads a process group of its own (npm → sh → node), which stop() ends whole.
 */
async function timedStart (command: string, args: string[], options: { cwd: string, env: NodeJS.ProcessEnv, group: boolean }): Promise<Started> {
  const port = await benchPort()
  const url = `http://127.0.0.1:${port}/healthz`
  const loadAverage = loadavg()[0] as number
  const startedAt = performance.now()
  const child = spawn(command, args, { cwd: options.cwd, env: { ...options.env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'], detached: options.group })
  const pid = child.pid as number
  let out = ''
  const keep = (chunk: Buffer): void => {
    out += chunk.toString()
    if (out.length > 200_000) out = out.slice(-100_000)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(code !== null ? `exit code ${code}` : `signal ${signal as string}`)))
  // Written by callbacks: an object, so no narrowing of the compiler hides their writes.
  const state = { ended: null as string | null, healthy: false, peakSampled: null as number | null, samples: 0 }
  void exited.then((how) => { state.ended = how })
  const signalAll = (signal: NodeJS.Signals): void => {
    try {
      process.kill(options.group ? -pid : pid, signal)
    } catch {}
  }
  // Should the bench die mid-start, take the server along.
  const onExit = (): void => { signalAll('SIGKILL') }
  process.once('exit', onExit)

  const sampler = (async () => {
    while (!state.healthy && state.ended === null) {
      const rss = await treeRssOf(pid)
      if (rss !== null) {
        state.samples++
        state.peakSampled = Math.max(state.peakSampled ?? 0, rss)
      }
      await sleep(RSS_SAMPLE_MS)
    }
  })()

  let healthySeconds: number
  try {
    while (true) {
      if (state.ended !== null) throw new Error(`${command} ${args.join(' ')} ended (${state.ended}) before ${url} answered:\n${out.slice(-4000)}`)
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(2_000) })
        await response.arrayBuffer()
        if (response.status === 200) {
          healthySeconds = (performance.now() - startedAt) / 1000
          break
        }
      } catch {}
      if (performance.now() - startedAt > START_TIMEOUT_MS) throw new Error(`${url} did not answer 200 within ${START_TIMEOUT_MS} ms:\n${out.slice(-4000)}`)
      await sleep(HEALTH_POLL_MS)
    }
  } catch (error) {
    signalAll('SIGKILL')
    process.removeListener('exit', onExit)
    throw error
  } finally {
    state.healthy = true
    await sampler
  }
  const cpuSeconds = await treeCpuSecondsOf(pid)
  const rssAfterStart = await treeRssOf(pid)
  const hwm = await peakRssOf(pid)
  // The sampled peak also counts what is resident at healthy.
  const peakSampled = rssAfterStart === null ? state.peakSampled : Math.max(state.peakSampled ?? 0, rssAfterStart)
  const peakRss = peakSampled === null && hwm === null ? null : Math.max(peakSampled ?? 0, hwm ?? 0)

  const groupGone = (): boolean => {
    try {
      process.kill(-pid, 0)
      return false
    } catch {
      return true
    }
  }
  const stop = async (): Promise<{ stopSeconds: number, exit: string }> => {
    const stopAt = performance.now()
    signalAll('SIGTERM')
    const killer = setTimeout(() => signalAll('SIGKILL'), STOP_TIMEOUT_MS)
    const exit = await exited
    // npm can end before the server it started has finished its graceful shutdown.
    while (options.group && !groupGone()) {
      if (performance.now() - stopAt > STOP_TIMEOUT_MS + 5_000) signalAll('SIGKILL')
      await sleep(25)
    }
    clearTimeout(killer)
    process.removeListener('exit', onExit)
    return { stopSeconds: (performance.now() - stopAt) / 1000, exit }
  }
  return { sample: { healthySeconds, cpuSeconds, loadAverage, rssAfterStart, peakRss, peakSampled, hwm, samples: state.samples }, pid, stop }
}

/** `node dist/server.js`, what `npm start` runs after its prestart step, in DATA_DIR (no developer .env). */
async function startNode (store: Store, env: NodeJS.ProcessEnv): Promise<Started> {
  return await timedStart(process.execPath, [path.join(repoRoot, 'dist', 'server.js')], { cwd: store.dataDir, env, group: false })
}

async function stopped (started: Started): Promise<StartSample> {
  return { ...started.sample, ...await started.stop() }
}

const seconds = (value: number): string => `${value.toFixed(2)} s`
const cpu = (value: number | null): string => value === null ? '?' : seconds(value)

/** BENCH_STARTUP_RUNS × (first start on a fresh store, restart on the same store, steady RSS). */
export async function startupScenario (settings: StartupSettings): Promise<StartupResult> {
  const { kind, log } = settings
  const runs: StartupRun[] = []
  for (let run = 1; run <= settings.runs; run++) {
    const store = await createStore(kind, settings.postgresAdminUrl, 'startup', settings.postgresDatabasePrefix)
    try {
      const env = settings.envFor(store)
      const first = await stopped(await startNode(store, env))
      log(`${kind}: startup ${run}/${settings.runs}: first start healthy after ${seconds(first.healthySeconds)} (CPU ${cpu(first.cpuSeconds)}), RSS ${mb(first.rssAfterStart)}, peak ${mb(first.peakRss)}; stopped in ${seconds(first.stopSeconds)} (${first.exit})`)
      const again = await startNode(store, env)
      await sleep(STEADY_AFTER_MS)
      const steadyRss = await treeRssOf(again.pid)
      const restart = await stopped(again)
      log(`${kind}: startup ${run}/${settings.runs}: restart healthy after ${seconds(restart.healthySeconds)} (CPU ${cpu(restart.cpuSeconds)}), RSS ${mb(restart.rssAfterStart)}, peak ${mb(restart.peakRss)}, ${STEADY_AFTER_MS / 1000} s later ${mb(steadyRss)}; stopped in ${seconds(restart.stopSeconds)} (${restart.exit})`)
      runs.push({ first, restart, steadyRss })
    } finally {
      await store.dispose()
    }
  }
  return {
    store: kind,
    runs,
    summary: {
      firstSeconds: median(runs.map((run) => run.first.healthySeconds)),
      restartSeconds: median(runs.map((run) => run.restart.healthySeconds)),
      firstCpuSeconds: medianOrNull(runs.map((run) => run.first.cpuSeconds)),
      restartCpuSeconds: medianOrNull(runs.map((run) => run.restart.cpuSeconds)),
      rssAfterFirst: medianOrNull(runs.map((run) => run.first.rssAfterStart)),
      rssAfterRestart: medianOrNull(runs.map((run) => run.restart.rssAfterStart)),
      steadyRss: medianOrNull(runs.map((run) => run.steadyRss)),
      peakFirst: maxOrNull(runs.map((run) => run.first.peakRss)),
      peakRestart: maxOrNull(runs.map((run) => run.restart.peakRss))
    }
  }
}

/**
 * `npm start` end to end on a fresh store: its prestart step (whatever package.json says
 * today), then the server. It runs in the repository (npm runs scripts there), so a .env
 * there is read by authd: the caller is told.
 */
export async function npmStartScenario (settings: StartupSettings): Promise<StartSample> {
  const store = await createStore(settings.kind, settings.postgresAdminUrl, 'npmstart', settings.postgresDatabasePrefix)
  try {
    if (existsSync(path.join(repoRoot, '.env'))) settings.log(`${settings.kind}: npm start: NOTE ${path.join(repoRoot, '.env')} exists and authd reads it under npm start (settings not in the bench's environment apply)`)
    const sample = await stopped(await timedStart('npm', ['start'], { cwd: repoRoot, env: settings.envFor(store), group: true }))
    settings.log(`${settings.kind}: npm start healthy after ${seconds(sample.healthySeconds)} (CPU ${cpu(sample.cpuSeconds)}); stopped in ${seconds(sample.stopSeconds)} (${sample.exit})`)
    return sample
  } finally {
    await store.dispose()
  }
}
