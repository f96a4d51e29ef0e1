// The orders service: one public route and one that needs an authd access token. It builds the
// app and never listens (src/server.ts does), so its test can start it on any port.
//
// It imports authd's verifier from this repository's source (packages/verifier) so that it runs
// without an install or a build of its own; a service elsewhere installs @authd/verifier and
// would `import { authdVerifier } from '@authd/verifier/fastify'`.
import Fastify, { type FastifyInstance } from 'fastify'
import { authdVerifier } from '../../../packages/verifier/src/fastify.js'

export interface OrdersServiceOptions {
  /** Where authd listens, e.g. http://127.0.0.1:3000; its JWKS is fetched from there. */
  authdUrl: string
  /**
   * authd's issuer: its PUBLIC_URL (the `issuer` of its /.well-known/openid-configuration), or its
   * JWT_ISSUER when set. Default: `authdUrl`, right when the service reaches authd at its public URL.
   */
  issuer?: string
  /** This service's audience: one of authd's JWT_AUDIENCE (default 'authd'). */
  audience?: string
  logLevel?: string
}

export async function buildOrdersService (options: OrdersServiceOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: { level: options.logLevel ?? 'silent' } })

  const authdUrl = options.authdUrl.replace(/\/+$/, '')
  await app.register(authdVerifier, {
    jwksUrl: `${authdUrl}/.well-known/jwks.json`,
    issuer: options.issuer ?? authdUrl,
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
