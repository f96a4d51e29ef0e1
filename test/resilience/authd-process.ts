// authd for the resilience tests: a real process (test/support/processes.ts) that sees only
// the settings a test gives it on top of the suite's own, and requests that never throw.
import { startAuthd as startAuthdProcess, sleep, type ServerProcess } from '../support/processes.js'

/** Variables every authd of the suite gets unless the test overrides them. */
const BASE_ENV: Record<string, string> = {
  NODE_ENV: 'development',
  HOST: '127.0.0.1',
  LOG_LEVEL: 'warn',
  BCRYPT_COST: '4',
  RATE_LIMIT_ENABLED: 'false',
  REDIS_URL: '',
  HOUSEKEEPING_INTERVAL: '0',
  SIGNING_KEYS_RELOAD_INTERVAL: '0',
  // One issuer for every process of a test, as a deployment's instances share one PUBLIC_URL: the
  // derived default would differ with each instance's port, and each would refuse the others' tokens.
  PUBLIC_URL: 'http://authd.test'
}

/**
 * Starts authd from its sources with `env` (DATA_DIR is required: keys and, without
 * DATABASE_URL, the PGlite store live there), waits until /healthz answers and kills it at
 * teardown. Fails if it exits first.
 */
export async function startAuthd (t: { teardown: (fn: () => unknown) => void }, env: Record<string, string> & { DATA_DIR: string }, options: { port?: number, readyTimeoutMs?: number } = {}): Promise<ServerProcess> {
  // The test runner's own variables (TEST_DATABASE_URL…) and any authd setting from the shell
  // stay out: the server sees exactly BASE_ENV + env. NODE_V8_COVERAGE passes, so that its
  // coverage maps back to the sources (test/support/coverage-sources.mjs).
  return await startAuthdProcess({ t, env: authdEnv(env), ...options })
}

/** The environment of a resilience test's authd: BASE_ENV + `env`, and nothing else of the runner's. */
export function authdEnv (env: Record<string, string>): Record<string, string> {
  const inherited = Object.fromEntries(['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ', 'NODE_V8_COVERAGE'].flatMap((k) => process.env[k] === undefined ? [] : [[k, process.env[k] as string]]))
  return { ...inherited, ...BASE_ENV, ...env }
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
