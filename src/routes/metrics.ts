// GET /metrics: the Prometheus text exposition of this process (plugins/metrics.ts).
// Where it is served (metricsOnMainPort):
// - METRICS_PORT set: only there (src/metrics-server.ts), never on PORT;
// - otherwise on PORT: with METRICS_TOKEN the scraper must send `Authorization: Bearer <token>`;
//   without one it is open in development and test, and not there at all (404, like any unknown
//   path) in production — counters and route names are no business of the public internet.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import type { Config } from '../config.js'
import { AppError } from '../errors.js'
import { problemResponse } from '../schemas/responses.js'

const digest = (value: string): Buffer => createHash('sha256').update(value).digest()

/** Whether GET /metrics is a route of the main port (src/app.ts registers it only then). */
export function metricsOnMainPort (config: Pick<Config, 'NODE_ENV' | 'METRICS_TOKEN' | 'METRICS_PORT'>): boolean {
  if (config.METRICS_PORT !== 0) return false
  return config.NODE_ENV !== 'production' || config.METRICS_TOKEN !== ''
}

/**
 * The METRICS_TOKEN check, shared by the route and the metrics port: null when the request may
 * have the metrics (or no token is configured), else the error to answer.
 */
export function metricsTokenCheck (token: string): (authorization: string | undefined) => AppError | null {
  if (token === '') return () => null
  // Compared as SHA-256 digests: equal lengths for timingSafeEqual, and the time taken says
  // nothing about the token's length or its first matching bytes.
  const expected = digest(token)
  return (authorization) => {
    const match = /^Bearer +(\S+) *$/i.exec(authorization ?? '')
    if (match === null) return new AppError('authentication_required', 'Send "Authorization: Bearer <METRICS_TOKEN>"')
    if (!timingSafeEqual(digest(match[1] as string), expected)) return new AppError('token_invalid', 'This is not the metrics token')
    return null
  }
}

const metricsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const protectedByToken = app.config.METRICS_TOKEN !== ''
  const check = metricsTokenCheck(app.config.METRICS_TOKEN)

  app.get('/metrics', {
    // A scrape is cheap but not free; it is still counted in http_requests_total like any route.
    schema: {
      tags: ['operations'],
      summary: 'Prometheus metrics',
      description: 'Prometheus text format 0.0.4: `http_requests_total` and `http_request_duration_seconds` by method, route template and status; ' +
        '`authd_logins_total{result}`, `authd_refreshes_total{result}`, `authd_refresh_reuse_detected_total`, `authd_rate_limited_total{route}`; ' +
        'PostgreSQL pool gauges (`authd_db_pool_*`); Node defaults (`nodejs_eventloop_lag_*`, heap, GC, `process_*`). ' +
        'Needs `Authorization: Bearer <METRICS_TOKEN>` when METRICS_TOKEN is set. With NODE_ENV=production and no METRICS_TOKEN, or when METRICS_PORT serves the metrics, this route does not exist (404).',
      ...(protectedByToken ? { security: [{ metricsToken: [] }] } : {}),
      response: {
        200: {
          description: 'The metrics.',
          content: {
            'text/plain': {
              schema: Type.String(),
              example: '# HELP authd_logins_total Login attempts…\n# TYPE authd_logins_total counter\nauthd_logins_total{result="success"} 42\n'
            }
          }
        },
        ...(protectedByToken ? { 401: problemResponse(401, 'METRICS_TOKEN is set and the request did not send it: `authentication_required` (no token) or `token_invalid` (another one).') } : {})
      }
    }
  }, async (request, reply) => {
    const refused = check(request.headers.authorization)
    if (refused !== null) throw refused
    const text = await app.metrics.metrics()
    return await reply.type(app.metrics.contentType).send(text)
  })
}

export default metricsRoutes
