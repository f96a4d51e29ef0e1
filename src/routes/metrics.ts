// GET /metrics: the Prometheus text exposition of this process (plugins/metrics.ts).
// Open when METRICS_TOKEN is empty (keep it off the public network then); otherwise the scraper
// must send `Authorization: Bearer <METRICS_TOKEN>`.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { AppError } from '../errors.js'
import { problemResponse } from '../schemas/responses.js'

const digest = (value: string): Buffer => createHash('sha256').update(value).digest()

const metricsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const token = app.config.METRICS_TOKEN
  // Compared as SHA-256 digests: equal lengths for timingSafeEqual, and the time taken says
  // nothing about the token's length or its first matching bytes.
  const expected = token === '' ? null : digest(token)

  app.get('/metrics', {
    // A scrape is cheap but not free; it is still counted in http_requests_total like any route.
    schema: {
      tags: ['operations'],
      summary: 'Prometheus metrics',
      description: 'Prometheus text format 0.0.4: `http_requests_total` and `http_request_duration_seconds` by method, route template and status; ' +
        '`authd_logins_total{result}`, `authd_refreshes_total{result}`, `authd_refresh_reuse_detected_total`, `authd_rate_limited_total{route}`; ' +
        'PostgreSQL pool gauges (`authd_db_pool_*`); Node defaults (`nodejs_eventloop_lag_*`, heap, GC, `process_*`). ' +
        'Needs `Authorization: Bearer <METRICS_TOKEN>` when METRICS_TOKEN is set.',
      ...(expected === null ? {} : { security: [{ metricsToken: [] }] }),
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
        ...(expected === null ? {} : { 401: problemResponse(401, 'METRICS_TOKEN is set and the request did not send it: `authentication_required` (no token) or `token_invalid` (another one).') })
      }
    }
  }, async (request, reply) => {
    if (expected !== null) {
      const match = /^Bearer +(\S+) *$/i.exec(request.headers.authorization ?? '')
      if (match === null) throw new AppError('authentication_required', 'Send "Authorization: Bearer <METRICS_TOKEN>"')
      if (!timingSafeEqual(digest(match[1] as string), expected)) throw new AppError('token_invalid', 'This is not the metrics token')
    }
    const text = await app.metrics.metrics()
    return await reply.type(app.metrics.contentType).send(text)
  })
}

export default metricsRoutes
