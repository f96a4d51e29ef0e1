// GET /metrics: Prometheus text that counts what a user of the service would count — requests
// by route template and status, logins, refreshes, reuse detections, rate-limit refusals —
// plus the database pool and Node's own metrics; protected by METRICS_TOKEN when set.
import { randomBytes, randomUUID } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { listenMetrics } from '../../src/metrics-server.js'
import { assertProblem, build, login, onPostgres, refresh, register } from '../helper.js'

const TOKEN = 'metrics-token-0123456789abcdef'
const auth = { authorization: `Bearer ${TOKEN}` }

interface Sample { name: string, labels: Record<string, string>, value: number }

/** The samples of a text exposition (format 0.0.4). */
function parse (text: string): Sample[] {
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (match === null) throw new Error(`not a sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const [, key, value] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[key as string] = value as string
    samples.push({ name: match[1] as string, labels, value: Number(match[3]) })
  }
  return samples
}

/** The value of the sample with exactly these labels (0 when the series does not exist yet). */
function value (samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const wanted = JSON.stringify(Object.entries(labels).sort())
  const found = samples.find((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === wanted)
  return found?.value ?? 0
}

async function scrape (app: FastifyInstance): Promise<Sample[]> {
  const res = await app.inject({ method: 'GET', url: '/metrics', headers: auth })
  if (res.statusCode !== 200) throw new Error(`scrape failed: ${res.statusCode} ${res.body}`)
  return parse(res.body)
}

/** A client address of its own: rate-limit counters in Redis outlive a run. */
const freshIp = (): string => `10.${[...randomBytes(3)].join('.')}`

t.test('counts requests, logins, refreshes, reuse and rate-limit refusals', async (t) => {
  const app = await build(t, { METRICS_TOKEN: TOKEN, RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_LOGIN: '3', REFRESH_GRACE_SECONDS: '0' })
  const before = await scrape(app)

  const s = await register(app)
  t.equal((await login(app, s.email, s.password)).statusCode, 200)
  t.equal((await login(app, s.email, 'not the password')).statusCode, 401)
  // Three logins from one address are allowed, the fourth is refused before any password check.
  const ip = freshIp()
  for (let i = 0; i < 3; i++) {
    t.equal((await app.inject({ method: 'POST', url: '/v1/app/auth/login', remoteAddress: ip, payload: { login: s.email, password: 'wrong again' } })).statusCode, 401)
  }
  t.equal((await app.inject({ method: 'POST', url: '/v1/app/auth/login', remoteAddress: ip, payload: { login: s.email, password: s.password } })).statusCode, 429)
  // Not a login attempt: a malformed request.
  t.equal((await app.inject({ method: 'POST', url: '/v1/app/auth/login', remoteAddress: freshIp(), payload: { login: s.email } })).statusCode, 400)

  const rotated = await refresh(app, s.tokens.refresh)
  t.equal(rotated.statusCode, 200)
  // The rotated token again, with no grace window: reuse, the session is revoked.
  const reused = await refresh(app, s.tokens.refresh)
  assertProblem(t, reused, 401, 'token_reused')
  t.equal((await refresh(app, 'not-a-token')).statusCode, 401)

  const sessionId = randomUUID()
  const fresh = await login(app, s.email, s.password)
  t.equal(fresh.statusCode, 200, fresh.body)
  t.equal((await app.inject({ method: 'DELETE', url: `/v1/sessions/${sessionId}`, headers: { authorization: `Bearer ${fresh.json().tokens.access}` } })).statusCode, 404)
  t.equal((await app.inject({ method: 'GET', url: `/no/such/page/${sessionId}` })).statusCode, 404)

  const after = await scrape(app)
  const delta = (name: string, labels: Record<string, string> = {}) => value(after, name, labels) - value(before, name, labels)

  t.equal(delta('authd_logins_total', { result: 'success' }), 2, 'two successful logins')
  t.equal(delta('authd_logins_total', { result: 'failure' }), 4, 'four wrong passwords (not the refused or malformed requests)')
  t.equal(delta('authd_refreshes_total', { result: 'success' }), 1, 'one refresh')
  t.equal(delta('authd_refreshes_total', { result: 'failure' }), 2, 'two refused refreshes')
  t.equal(delta('authd_refresh_reuse_detected_total'), 1, 'one reuse detected')
  t.equal(delta('authd_rate_limited_total', { route: '/v1/app/auth/login' }), 1, 'one login refused by the rate limit')

  const login200 = { method: 'POST', route: '/v1/app/auth/login', status: '200' }
  t.equal(delta('http_requests_total', login200), 2, 'requests by route template and status')
  t.equal(delta('http_requests_total', { method: 'POST', route: '/v1/app/auth/login', status: '401' }), 4)
  t.equal(delta('http_requests_total', { method: 'POST', route: '/v1/app/auth/login', status: '429' }), 1)
  t.equal(delta('http_requests_total', { method: 'POST', route: '/v1/app/auth/register', status: '201' }), 1)
  t.equal(delta('http_requests_total', { method: 'DELETE', route: '/v1/sessions/:id', status: '404' }), 1, 'the route label is the template')
  t.equal(delta('http_requests_total', { method: 'GET', route: 'unmatched', status: '404' }), 1, 'unmatched URLs share one label')
  const text = (await app.inject({ method: 'GET', url: '/metrics', headers: auth })).body
  t.notOk(text.includes(sessionId), 'no raw URL (or id) in any label')

  t.equal(delta('http_request_duration_seconds_count', login200), 2, 'latency histogram observed each request')
  t.equal(delta('http_request_duration_seconds_bucket', { ...login200, le: '+Inf' }), 2)
  t.ok(delta('http_request_duration_seconds_sum', login200) > 0, 'with a positive duration')
  const buckets = after.filter((x) => x.name === 'http_request_duration_seconds_bucket' && x.labels.route === '/v1/app/auth/login' && x.labels.status === '200')
  t.ok(buckets.length > 5, 'several buckets')
  for (let i = 1; i < buckets.length; i++) t.ok((buckets[i] as Sample).value >= (buckets[i - 1] as Sample).value, 'buckets are cumulative')
})

t.test('Node, event-loop and database pool metrics', async (t) => {
  const app = await build(t, { METRICS_TOKEN: TOKEN })
  // A query first: the pool opens connections on demand.
  t.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200)
  const samples = await scrape(app)
  const names = new Set(samples.map((s) => s.name))
  for (const name of ['nodejs_eventloop_lag_seconds', 'nodejs_eventloop_lag_p99_seconds', 'process_cpu_user_seconds_total', 'nodejs_heap_size_used_bytes']) {
    t.ok(names.has(name), name)
  }
  if (onPostgres) {
    t.equal(value(samples, 'authd_db_pool_max_connections'), 30, 'the pool limit (the tests open pools of 30)')
    t.ok(value(samples, 'authd_db_pool_connections') >= 1, 'the connection /readyz used is open')
    t.ok(names.has('authd_db_pool_idle_connections') && names.has('authd_db_pool_waiting_requests'), 'idle and waiting')
  } else {
    t.notOk([...names].some((n) => n.startsWith('authd_db_pool_')), 'PGlite has no pool to report')
  }
})

t.test('METRICS_TOKEN protects /metrics', async (t) => {
  const app = await build(t, { METRICS_TOKEN: TOKEN })
  const none = await app.inject({ method: 'GET', url: '/metrics' })
  assertProblem(t, none, 401, 'authentication_required')
  t.match(none.headers['www-authenticate'], /^Bearer/)
  t.notMatch(none.body, /http_requests_total/)
  assertProblem(t, await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${TOKEN}x` } }), 401, 'token_invalid')
  assertProblem(t, await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` } }), 401, 'authentication_required')
  const ok = await app.inject({ method: 'GET', url: '/metrics', headers: auth })
  t.equal(ok.statusCode, 200)
  t.match(ok.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  t.match(ok.body, /^# HELP /m)
})

t.test('without METRICS_TOKEN /metrics is open in development and test', async (t) => {
  for (const NODE_ENV of ['test', 'development']) {
    const app = await build(t, { NODE_ENV })
    const res = await app.inject({ method: 'GET', url: '/metrics' })
    t.equal(res.statusCode, 200, NODE_ENV)
    t.match(res.body, /# TYPE http_requests_total counter/)
  }
})

// Production settings that are not the subject here: no mail, keys accepted as given.
const PRODUCTION = { NODE_ENV: 'production', EMAIL_VERIFICATION: 'none', ALLOW_GENERATED_KEYS: 'true', PUBLIC_URL: 'https://auth.example.com' }

t.test('production without METRICS_TOKEN: /metrics does not exist (404, like any unknown path)', async (t) => {
  const app = await build(t, PRODUCTION)
  for (const headers of [{}, auth]) {
    const res = await app.inject({ method: 'GET', url: '/metrics', headers })
    assertProblem(t, res, 404, 'not_found')
    t.notMatch(res.body, /http_requests_total/)
    t.same(res.json().detail, (await app.inject({ method: 'GET', url: '/no-such-path' })).json().detail, 'the same answer as an unknown path')
  }
  const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, unknown> }
  t.notOk('/metrics' in doc.paths, 'not in the OpenAPI document either')
})

t.test('production with METRICS_TOKEN: /metrics answers the token only', async (t) => {
  const app = await build(t, { ...PRODUCTION, METRICS_TOKEN: TOKEN })
  assertProblem(t, await app.inject({ method: 'GET', url: '/metrics' }), 401, 'authentication_required')
  assertProblem(t, await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${TOKEN}x` } }), 401, 'token_invalid')
  const ok = await app.inject({ method: 'GET', url: '/metrics', headers: auth })
  t.equal(ok.statusCode, 200)
  t.match(ok.body, /# TYPE http_requests_total counter/)
})

t.test('METRICS_PORT: the metrics on a port of their own, none on PORT', async (t) => {
  for (const env of [PRODUCTION, { NODE_ENV: 'development' }]) {
    const app = await build(t, { ...env, METRICS_PORT: '9464' })
    assertProblem(t, await app.inject({ method: 'GET', url: '/metrics' }), 404, 'not_found')
    // src/start-server.ts passes METRICS_PORT and HOST; a free port here.
    const server = await listenMetrics(app, { host: '127.0.0.1', port: 0 })
    t.teardown(async () => await server.close())
    const base = `http://127.0.0.1:${(server.server.address() as AddressInfo).port}`
    t.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200)
    const res = await fetch(`${base}/metrics`)
    t.equal(res.status, 200, `${env.NODE_ENV}: no token needed on the metrics port`)
    t.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/)
    const samples = parse(await res.text())
    t.ok(value(samples, 'http_requests_total', { method: 'GET', route: '/healthz', status: '200' }) >= 1, 'the main app\'s registry: its requests are counted')
    const other = await fetch(`${base}/healthz`)
    t.equal(other.status, 404, 'nothing else is served there')
    t.match(other.headers.get('content-type'), /^application\/problem\+json/)
  }
})

t.test('METRICS_PORT with METRICS_TOKEN: the token is asked for there too', async (t) => {
  const app = await build(t, { ...PRODUCTION, METRICS_PORT: '9464', METRICS_TOKEN: TOKEN })
  const server = await listenMetrics(app, { host: '127.0.0.1', port: 0 })
  t.teardown(async () => await server.close())
  const url = `http://127.0.0.1:${(server.server.address() as AddressInfo).port}/metrics`
  const refused = await fetch(url)
  t.equal(refused.status, 401)
  t.match(await refused.json(), { code: 'authentication_required' })
  t.equal((await fetch(url, { headers: auth })).status, 200)
})

t.test('a short METRICS_TOKEN stops the start', async (t) => {
  await t.rejects(build(t, { METRICS_TOKEN: 'short' }), /METRICS_TOKEN: must be at least 16 bytes/)
})
