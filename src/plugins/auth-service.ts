import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { createAccountService, type AccountService } from '../services/account-service.js'
import { createAuthService, type AuthService } from '../services/auth-service.js'
import { createPasswordHasher } from '../services/password-hasher.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Register, login, refresh, logout. */
    auth: AuthService
    /** Password change and account deletion by the signed-in user. */
    accounts: AccountService
  }
}

async function authServicePlugin (app: FastifyInstance): Promise<void> {
  const { config } = app
  const hasher = createPasswordHasher({ cost: config.BCRYPT_COST })
  await hasher.warmUp()
  const passwordPolicy = { minLength: config.PASSWORD_MIN_LENGTH, maxLength: config.PASSWORD_MAX_LENGTH }
  app.decorate('accounts', createAccountService({ prisma: app.db.prisma, hasher, passwordPolicy }))
  app.decorate('auth', createAuthService({
    prisma: app.db.prisma,
    hasher,
    tokens: app.tokens,
    passwordPolicy,
    graceSeconds: config.REFRESH_GRACE_SECONDS,
    log: app.log
  }))
}

export default fp(authServicePlugin, { name: 'auth-service', dependencies: ['config', 'database', 'tokens'] })
