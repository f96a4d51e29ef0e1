// METRICS_PORT: GET /metrics on a port of its own, so the scraper reaches it over a network the
// public never does (a pod port left out of the Service/Ingress, a port the load balancer does not
// forward) and needs no token. It is a second, tiny Fastify instance with the very same route and
// error replies as the main app, reading the main app's registry; PORT then has no /metrics at all.
// Listening is the process entry's business (start-server.ts), like the main port's.
import { randomUUID } from 'node:crypto'
import Fastify, { type FastifyInstance } from 'fastify'
import errorHandler from './plugins/error-handler.js'
import metricsRoutes from './routes/metrics.js'
import { ProblemSchema } from './schemas/common.js'

export async function listenMetrics (app: FastifyInstance, options: { host: string, port: number }): Promise<FastifyInstance> {
  // A scrape every few seconds is not worth a log line (requests log at info); warnings and
  // errors still reach the main log, unless LOG_LEVEL asks for even less.
  const level = ['fatal', 'error', 'warn', 'silent'].includes(app.log.level) ? app.log.level : 'warn'
  const server = Fastify({
    loggerInstance: app.log.child({ listener: 'metrics' }, { level }),
    genReqId: () => randomUUID(),
    requestIdHeader: false
  })
  server.decorate('config', app.config)
  server.decorate('metrics', app.metrics)
  // The route's error replies are serialized through the shared Problem schema (openapi.ts adds it to the main app).
  server.addSchema({ ...ProblemSchema, $id: 'Problem' })
  await server.register(errorHandler)
  // METRICS_TOKEN, when set, is still asked for here: an operator who set both wants both.
  await server.register(metricsRoutes)
  await server.listen({ host: options.host, port: options.port })
  return server
}
