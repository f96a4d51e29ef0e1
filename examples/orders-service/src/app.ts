// The orders service: one public route and one that needs an authd access token. It builds the
// app and never listens (src/server.ts does), so its test can start it on any port.
//
// It imports authd's verifier from this repository's source so that it runs without an install
// of its own; a service elsewhere would `import { authdVerifier } from 'authd/verifier/fastify'`.
import Fastify, { type FastifyInstance } from 'fastify'
import { authdVerifier } from '../../../src/verifier/fastify.js'

export interface OrdersServiceOptions {
  /** Where authd listens, e.g. http://127.0.0.1:3000; its JWKS is fetched from there. */
  authdUrl: string
  /** authd's JWT_ISSUER and JWT_AUDIENCE (both 'authd' unless authd was configured otherwise). */
  issuer?: string
  audience?: string
  logLevel?: string
}

export async function buildOrdersService (options: OrdersServiceOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: { level: options.logLevel ?? 'silent' } })

  await app.register(authdVerifier, {
    jwksUrl: `${options.authdUrl.replace(/\/+$/, '')}/.well-known/jwks.json`,
    issuer: options.issuer ?? 'authd',
    audience: options.audience ?? 'authd',
    realm: 'orders'
  })

  app.get('/health', async () => ({ status: 'ok' }))

  // Verified from the token alone: no call to authd per request.
  app.get('/orders', { onRequest: app.requireAuthd }, async (request) => {
    const { sub, roles } = request.authd
    return { sub, roles, orders: [] }
  })

  return app
}
