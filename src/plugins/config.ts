import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { allowedOrigins, type Config } from '../config.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
    /**
     * CORS_ORIGINS, parsed once: the exact origins (as browsers send them in `Origin`) that
     * CORS answers and that the browser client's CSRF check accepts.
     */
    corsOrigins: ReadonlySet<string>
  }
}

async function configPlugin (app: FastifyInstance, options: { config: Config }): Promise<void> {
  app.decorate('config', options.config)
  app.decorate('corsOrigins', new Set(allowedOrigins(options.config.CORS_ORIGINS)))
}

export default fp(configPlugin, { name: 'config' })
