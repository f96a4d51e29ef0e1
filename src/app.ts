// Builds the authd application. It never listens: src/server.ts does, and tests call
// buildApp() with their own config and use app.inject().
//
// Plugins load in this order: capabilities (config, errors, security headers, CORS, cookies,
// database, rate limit, tokens, mailer) → application services (src/services: each a named
// plugin with its dependencies declared) and the hooks built on them (authenticate,
// current-user) → routes, which parse, call one service method and shape the reply.
import { randomUUID } from 'node:crypto'
import type { Server } from 'node:http'
import Fastify, { type FastifyHttpOptions, type FastifyInstance, type FastifyPluginAsync, type FastifyServerOptions } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { Config } from './config.js'
import type { Database } from './db/database.js'
import type { KeyMaterial } from './services/keys.js'
import type { PasswordHasher } from './services/password-hasher.js'
import { loggerOptions } from './logger.js'
import configPlugin from './plugins/config.js'
import errorHandler, { clientErrorHandler, frameworkError, requireHost } from './plugins/error-handler.js'
import textGuard from './plugins/text-guard.js'
import metricsPlugin from './plugins/metrics.js'
import securityHeadersPlugin from './plugins/security-headers.js'
import corsPlugin from './plugins/cors.js'
import cookiesPlugin from './plugins/cookies.js'
import databasePlugin from './plugins/database.js'
import rateLimitPlugin from './plugins/rate-limit.js'
import mailerPlugin from './plugins/mailer.js'
import tokensPlugin from './plugins/tokens.js'
import passwordsPlugin from './services/passwords.js'
import sessionServicePlugin from './services/session-service.js'
import emailFlowsPlugin from './services/email-flows.js'
import authServicePlugin from './services/auth-service.js'
import accountServicePlugin from './services/account-service.js'
import adminServicePlugin from './services/admin-service.js'
import auditServicePlugin from './services/audit-service.js'
import oauthClientServicePlugin from './services/oauth-clients.js'
import oauthServicePlugin from './services/oauth-service.js'
import mfaServicePlugin from './services/mfa-service.js'
import passkeyServicePlugin from './services/passkey-service.js'
import emailCodeServicePlugin from './services/email-codes.js'
import emailChangeServicePlugin from './services/email-change.js'
import providerServicePlugin from './services/provider-service.js'
import authenticatePlugin from './plugins/authenticate.js'
import currentUserPlugin from './plugins/current-user.js'
import housekeepingPlugin from './plugins/housekeeping.js'
import openapiPlugin from './plugins/openapi.js'
import healthRoutes from './routes/health.js'
import metricsRoutes, { metricsOnMainPort } from './routes/metrics.js'
import jwksRoutes from './routes/jwks.js'
import discoveryRoutes from './routes/discovery.js'
import appAuthRoutes from './routes/auth/app-client.js'
import browserAuthRoutes from './routes/auth/browser-client.js'
import providerRoutes from './routes/auth/providers.js'
import appProviderRoutes from './routes/auth/app-providers.js'
import identityRoutes from './routes/users/identities.js'
import verifyRoutes from './routes/verify.js'
import emailRoutes from './routes/auth/email.js'
import passwordResetRoutes from './routes/auth/password-reset.js'
import emailChangeConfirmRoutes from './routes/auth/email-change.js'
import emailChangeRoutes from './routes/users/email.js'
import meRoutes from './routes/users/me.js'
import passwordRoutes from './routes/users/password.js'
import accountRoutes from './routes/users/account.js'
import mfaRoutes from './routes/users/mfa.js'
import passkeyRoutes from './routes/users/passkeys.js'
import sessionRoutes from './routes/sessions.js'
import adminUserRoutes from './routes/admin/users.js'
import adminEventRoutes from './routes/admin/events.js'
import adminClientRoutes from './routes/admin/clients.js'
import oauthRoutes from './routes/oauth.js'

export interface BuildOptions {
  /** Use this database instead of opening one from the config (tests, CLI). */
  database?: Database
  /** Use these keys instead of loading them (tests). */
  keys?: KeyMaterial
  /** Overrides for Fastify's own options (e.g. a test logger). */
  fastify?: FastifyServerOptions
  /** Use this password hasher instead of one made from the config (tests hold a login at its check). */
  passwordHasher?: PasswordHasher
}

export function fastifyOptions (config: Config): FastifyHttpOptions<Server> {
  const trustProxy = config.TRUST_PROXY.trim()
  return {
    // JSON or pretty, with secrets kept out (src/logger.ts).
    logger: loggerOptions(config),
    bodyLimit: config.BODY_LIMIT,
    trustProxy: trustProxy === '' ? false : trustProxy.split(',').map((s) => s.trim()),
    genReqId: () => randomUUID(),
    // Clients don't choose request ids: a forged one would confuse log correlation.
    requestIdHeader: false,
    return503OnClosing: true,
    // A path that is not valid percent-encoding, or a too-long parameter: problem JSON too.
    frameworkErrors: frameworkError,
    // Bytes that are not valid HTTP, headers over Node's limit: problem JSON, then a clean close.
    clientErrorHandler,
    // Node would answer a missing Host with an empty 400 of its own; the require-host hook
    // answers it with problem JSON (plugins/error-handler.ts).
    http: { requireHostHeader: false },
    // Opening PGlite for the first time (initdb + migrations) can exceed Fastify's default 10 s
    // on a busy machine; a PostgreSQL that doesn't answer fails on its own 5 s connect timeout.
    pluginTimeout: 120_000,
    ajv: {
      customOptions: {
        // API.md: unknown fields are rejected, types are not coerced, all problems reported.
        removeAdditional: false,
        coerceTypes: false,
        useDefaults: true,
        allErrors: true
      }
    }
  }
}

export async function buildApp (config: Config, options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({ ...fastifyOptions(config), ...options.fastify }).withTypeProvider<TypeBoxTypeProvider>()
  try {
    await assemble(app, config, options)
  } catch (err) {
    // A start that fails half-way (a setting a service checks, a database that refuses) must not
    // leave the connections opened so far (Redis, the pool) holding the process open.
    await app.close().catch(() => {})
    throw err
  }
  return app
}

async function assemble (app: FastifyInstance, config: Config, options: BuildOptions): Promise<void> {
  app.addHook('onSend', async (request, reply) => { reply.header('x-request-id', request.id) })
  // Graceful shutdown: a reply sent after close() began tells the client to drop its
  // keep-alive connection. Otherwise the connection outlives the request, close() waits for
  // it, and close-with-grace ends the process with exit 1 after 10 s.
  let closing = false
  app.addHook('preClose', async () => { closing = true })
  app.addHook('onSend', async (_request, reply) => { if (closing) reply.header('connection', 'close') })
  // JSON in (API.md): without Fastify's default text/plain parser, a text body is a 415
  // unsupported_media_type, not a string that fails validation as "must be object".
  app.removeContentTypeParser('text/plain')

  await app.register(configPlugin, { config })
  await app.register(errorHandler)
  await app.register(textGuard)
  // Early, so that its onResponse hook sees every reply (404s and CORS preflights included).
  await app.register(metricsPlugin)
  // Before anything that can answer, so every reply (a CORS preflight, a 404) gets the headers.
  await app.register(securityHeadersPlugin)
  // The first hook that can answer: an HTTP/1.1 request without Host is not served at all.
  await app.register(requireHost)
  await app.register(corsPlugin)
  await app.register(cookiesPlugin)
  await app.register(databasePlugin, { database: options.database })
  await app.register(rateLimitPlugin)
  await app.register(tokensPlugin, { keys: options.keys })
  await app.register(mailerPlugin)
  await app.register(passwordsPlugin, { hasher: options.passwordHasher })
  // The services, each after the ones it depends on (fastify-plugin checks the declared order).
  for (const service of [sessionServicePlugin, passkeyServicePlugin, mfaServicePlugin, emailFlowsPlugin, emailCodeServicePlugin, authServicePlugin, providerServicePlugin, accountServicePlugin, emailChangeServicePlugin, adminServicePlugin, auditServicePlugin, oauthClientServicePlugin, oauthServicePlugin]) {
    await app.register(service)
  }
  await app.register(authenticatePlugin)
  await app.register(currentUserPlugin)
  await app.register(housekeepingPlugin)
  // Before the routes: it collects them as they are registered.
  await app.register(openapiPlugin)

  await app.register(healthRoutes)
  // Not a route of PORT when METRICS_PORT serves it, or in production without METRICS_TOKEN.
  if (metricsOnMainPort(config)) await app.register(metricsRoutes)
  await app.register(jwksRoutes)
  await app.register(discoveryRoutes)
  // Every API route, under its prefix (API.md's paths).
  const routes: Array<[FastifyPluginAsync<any>, string]> = [
    [appAuthRoutes, '/v1/app/auth'],
    [browserAuthRoutes, '/v1/browser/auth'],
    [providerRoutes, '/v1/browser/auth'],
    [appProviderRoutes, '/v1/app/auth'],
    [identityRoutes, '/v1/users'],
    [verifyRoutes, '/v1/auth'],
    [emailRoutes, '/v1/auth'],
    [passwordResetRoutes, '/v1/auth'],
    [emailChangeConfirmRoutes, '/v1/auth'],
    [meRoutes, '/v1/users'],
    [passwordRoutes, '/v1/users'],
    [accountRoutes, '/v1/users'],
    [emailChangeRoutes, '/v1/users'],
    [mfaRoutes, '/v1/users'],
    [passkeyRoutes, '/v1/users'],
    [sessionRoutes, '/v1/sessions'],
    [adminUserRoutes, '/v1/admin'],
    [adminEventRoutes, '/v1/admin'],
    [adminClientRoutes, '/v1/admin'],
    [oauthRoutes, '/oauth']
  ]
  for (const [plugin, prefix] of routes) await app.register(plugin, { prefix })
}
