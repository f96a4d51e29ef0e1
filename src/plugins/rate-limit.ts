// Per-IP rate limits on the routes that invite abuse (register, login, refresh, the email routes).
// Counters live in memory by default and in Redis when REDIS_URL is set, so that every
// instance behind a load balancer shares one budget per client.
import type { FastifyInstance, FastifyRequest, onRequestHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import rateLimit, { normalizeIP } from '@fastify/rate-limit'
import type { Redis } from 'ioredis'
import { AppError } from '../errors.js'

/**
 * 'email': the mail-sending and mail-token routes (verify, resend, forgot, reset); 'oauth': the
 * client-authenticated OAuth endpoints (token, introspect, revoke).
 */
export type LimitedAction = 'login' | 'register' | 'refresh' | 'email' | 'oauth'

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest hooks that count a request against its action's per-IP budget. */
    rateLimitHooks: (action: LimitedAction) => onRequestHookHandler[]
  }
}

/**
 * The counter a request draws on: one per action and client address. normalizeIP masks IPv6 to
 * its /64 (as the plugin's default key does): one host can hop through every address of its
 * /64, so per-address counting would not limit it.
 *
 * A request whose client has already gone has no address (`request.ip` is undefined once the
 * socket is closed) and normalizeIP would throw on it, turning the request into a logged 500.
 * Such requests share one counter under a key no address can produce (`!` instead of `:`); the
 * client is not there to be answered anyway.
 */
export function rateLimitKey (action: LimitedAction, ip: string | undefined): string {
  return ip === undefined || ip === '' ? `${action}!no-address` : `${action}:${normalizeIP(ip)}`
}

async function rateLimitPlugin (app: FastifyInstance): Promise<void> {
  const { config } = app
  let redis: Redis | undefined
  if (config.REDIS_URL !== '') {
    // Settings the plugin recommends: fail fast rather than queue requests behind a dead Redis.
    // commandTimeout bounds each check: without it a request waits ~10 s while Redis is down.
    // Loaded only when configured: the embedded default does without its memory (issue 18).
    const { Redis } = await import('ioredis')
    redis = new Redis(config.REDIS_URL, { connectTimeout: 1_000, maxRetriesPerRequest: 1, enableOfflineQueue: true, commandTimeout: 500 })
    redis.on('error', (err) => { app.log.warn({ err: { message: err.message } }, 'redis error') })
    // quit() alone leaves an unreachable Redis reconnecting forever, which keeps the process alive.
    app.addHook('onClose', async () => {
      await redis?.quit().catch(() => {})
      redis?.disconnect()
    })
  }

  await app.register(rateLimit, {
    global: false,
    ...(redis === undefined ? {} : { redis, nameSpace: config.RATE_LIMIT_NAMESPACE }),
    // If Redis is unreachable, serve rather than refuse every login; bcrypt cost still slows
    // guessing. The warning above makes the outage visible.
    skipOnError: true,
    errorResponseBuilder: (_request, context) => new AppError('rate_limited', `Too many requests; retry in ${Math.ceil(context.ttl / 1000)} s`)
  })

  const max: Record<LimitedAction, number> = {
    login: config.RATE_LIMIT_LOGIN,
    register: config.RATE_LIMIT_REGISTER,
    refresh: config.RATE_LIMIT_REFRESH,
    email: config.RATE_LIMIT_EMAIL,
    oauth: config.RATE_LIMIT_OAUTH
  }
  // One counter per action and IP, shared by every route of that action (the app and
  // browser variants of login draw on one budget), hence the plugin's shared store rather
  // than per-route configs, which would count each URL separately.
  const hooks = new Map<LimitedAction, onRequestHookHandler[]>()
  for (const action of Object.keys(max) as LimitedAction[]) {
    hooks.set(action, config.RATE_LIMIT_ENABLED
      ? [app.rateLimit({
          max: max[action],
          timeWindow: config.RATE_LIMIT_WINDOW * 1000,
          keyGenerator: (request: FastifyRequest) => rateLimitKey(action, request.ip)
        })]
      : [])
  }
  app.decorate('rateLimitHooks', (action: LimitedAction) => hooks.get(action) ?? [])
}

export default fp(rateLimitPlugin, { name: 'rate-limit', dependencies: ['config', 'error-handler'] })
