// The mail transport (src/services/mailer.ts): SMTP, the development console, the test sink,
// or none (production without SMTP_URL). Closed with the app.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { createMailer, type Mailer } from '../services/mailer.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** null when authd has no way to send mail (production without SMTP_URL). */
    mailer: Mailer | null
  }
}

async function mailerPlugin (app: FastifyInstance): Promise<void> {
  const mailer = createMailer(app.config)
  app.decorate('mailer', mailer)
  app.addHook('onClose', async () => { mailer?.close() })
}

export default fp(mailerPlugin, { name: 'mailer', dependencies: ['config'] })
