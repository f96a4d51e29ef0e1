// Prometheus metrics (prom-client), served by routes/metrics.ts: request counts and latencies
// per route template and status, authentication events, rate-limit refusals, the PostgreSQL
// pool, and Node's default metrics (event-loop delay, heap, GC, CPU).
// Each app has its own Registry, not prom-client's global one, so that a process may build
// several apps (tests) without "metric already registered" errors.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { PoolStats } from '../db/database.js'

/** Routes whose outcome is counted as an authentication event (route config `metricsEvent`). */
export type MetricsEvent = 'login' | 'refresh'

declare module 'fastify' {
  interface FastifyInstance {
    /** This app's metrics registry (GET /metrics renders it). */
    metrics: Registry
  }
  interface FastifyContextConfig {
    metricsEvent?: MetricsEvent
  }
}

/** The label of requests that matched no route: raw URLs would make the label set unbounded. */
export const UNMATCHED_ROUTE = 'unmatched'

async function metricsPlugin (app: FastifyInstance): Promise<void> {
  const registry = new Registry()
  // Event-loop delay sampled every 10 ms (nodejs_eventloop_lag_* gauges).
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 10 })

  const labelNames = ['method', 'route', 'status'] as const
  const requests = new Counter({ name: 'http_requests_total', help: 'HTTP requests answered, by method, route template and status', labelNames, registers: [registry] })
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time from receiving a request to sending the last byte of its reply, by method, route template and status',
    labelNames,
    // Login and register hash a password (bcrypt, ~0.25 s at cost 12): buckets reach well past it.
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry]
  })
  const logins = new Counter({ name: 'authd_logins_total', help: 'Login attempts with a well-formed request: success, or failure (wrong login or password, inactive or locked account)', labelNames: ['result'] as const, registers: [registry] })
  const refreshes = new Counter({ name: 'authd_refreshes_total', help: 'Refresh attempts with a well-formed request: success, or failure (invalid, expired, reused or missing token, CSRF failure)', labelNames: ['result'] as const, registers: [registry] })
  const reuse = new Counter({ name: 'authd_refresh_reuse_detected_total', help: 'Rotated refresh tokens presented again after the grace window (each revoked its session)', registers: [registry] })
  const limited = new Counter({ name: 'authd_rate_limited_total', help: 'Requests refused by the per-IP rate limits (429 rate_limited), by route template', labelNames: ['route'] as const, registers: [registry] })
  // Initialised at 0, so that rate() and alerts see the series before the first event.
  for (const result of ['success', 'failure']) {
    logins.inc({ result }, 0)
    refreshes.inc({ result }, 0)
  }

  // PostgreSQL pool, read at scrape time. PGlite is one in-process connection with no pool:
  // no gauges then, rather than constants. The database opens after this plugin, hence onReady.
  app.addHook('onReady', async () => {
    const poolStats = app.db.poolStats
    if (poolStats === undefined) return
    const pool = (name: string, help: string, pick: (s: PoolStats) => number) => new Gauge({
      name,
      help,
      registers: [registry],
      collect () { this.set(pick(poolStats())) }
    })
    pool('authd_db_pool_connections', 'Open PostgreSQL connections, idle or in use', (s) => s.size)
    pool('authd_db_pool_idle_connections', 'Open PostgreSQL connections not in use', (s) => s.idle)
    pool('authd_db_pool_waiting_requests', 'Queries waiting for a free PostgreSQL connection', (s) => s.waiting)
    pool('authd_db_pool_max_connections', 'The pool\'s limit (DATABASE_POOL_SIZE)', (s) => s.max)
  })

  app.decorate('metrics', registry)

  function observe (request: FastifyRequest, reply: FastifyReply): void {
    const route = request.routeOptions.url ?? UNMATCHED_ROUTE
    const status = reply.statusCode
    const labels = { method: request.method, route, status: String(status) }
    requests.inc(labels)
    duration.observe(labels, reply.elapsedTime / 1000)

    const code = reply.problemCode
    if (code === 'rate_limited') limited.inc({ route })
    if (code === 'token_reused') reuse.inc()
    // Malformed requests (400/413/415) and rate-limit refusals are not attempts; 5xx are the
    // server's failures. A locked account (429 account_locked) is a refused login.
    const result = status < 300 ? 'success' : status === 401 || status === 403 || code === 'account_locked' ? 'failure' : null
    if (result === null) return
    const event = request.routeOptions.config.metricsEvent
    if (event === 'login') logins.inc({ result })
    if (event === 'refresh') refreshes.inc({ result })
  }
  app.addHook('onResponse', async (request, reply) => { observe(request, reply) })
}

export default fp(metricsPlugin, { name: 'metrics', dependencies: ['error-handler'] })
