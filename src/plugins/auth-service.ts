import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { createAuthService, type AuthService } from '../services/auth-service.js'
import { createPasswordHasher } from '../services/password-hasher.js'

declare module 'fastify' {
  interface FastifyInstance {
    auth: AuthService
  }
}

async function authServicePlugin (app: FastifyInstance): Promise<void> {
  const { config } = app
  app.decorate('auth', createAuthService({
    prisma: app.db.prisma,
    hasher: createPasswordHasher({ cost: config.BCRYPT_COST }),
    tokens: app.tokens,
    passwordPolicy: { minLength: config.PASSWORD_MIN_LENGTH, maxLength: config.PASSWORD_MAX_LENGTH },
    graceSeconds: config.REFRESH_GRACE_SECONDS,
    log: app.log
  }))
}

export default fp(authServicePlugin, { name: 'auth-service', dependencies: ['config', 'database', 'tokens'] })
