// Starting the service: read config, build the app, listen, and shut down gracefully on
// signals. Both process entries run exactly this: `node dist/server.js` (npm start) and
// `authd serve`.
import closeWithGrace from 'close-with-grace'
import type { FastifyInstance } from 'fastify'
import { buildApp } from './app.js'
import { ConfigError, loadConfig } from './config.js'
import { listenMetrics } from './metrics-server.js'

export async function startServer (): Promise<void> {
  let app
  try {
    // Bad settings stop the start with a message: from the config itself, or found while
    // loading what it points at (signing keys).
    const config = loadConfig()
    app = await buildApp(config)
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`)
      process.exit(1)
    }
    throw error
  }
  const { config } = app
  let metricsServer: FastifyInstance | undefined
  closeWithGrace({ delay: 10_000 }, async ({ err }) => {
    if (err !== undefined) app.log.error({ err }, 'shutting down after an error')
    await Promise.all([app.close(), metricsServer?.close()])
  })
  await app.listen({ host: config.HOST, port: config.PORT })
  if (config.METRICS_PORT !== 0) metricsServer = await listenMetrics(app, { host: config.HOST, port: config.METRICS_PORT })
}
