import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { createAccountService, type AccountService } from '../services/account-service.js'
import { createAuthService, type AuthService } from '../services/auth-service.js'
import { createEmailFlows, type EmailFlows } from '../services/email-flows.js'
import { createPasswordHasher, type PasswordHasher } from '../services/password-hasher.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Register, login, refresh, logout. */
    auth: AuthService
    /** Password change and account deletion by the signed-in user. */
    accounts: AccountService
    /** Email verification and password reset (mailed single-use tokens). */
    emailFlows: EmailFlows
  }
}

export interface AuthServicePluginOptions {
  /** A hasher of the caller's (tests); otherwise bcrypt at BCRYPT_COST. */
  hasher?: PasswordHasher
}

async function authServicePlugin (app: FastifyInstance, options: AuthServicePluginOptions): Promise<void> {
  const { config } = app
  const hasher = options.hasher ?? createPasswordHasher({ cost: config.BCRYPT_COST })
  await hasher.warmUp()
  const passwordPolicy = {
    minLength: config.PASSWORD_MIN_LENGTH,
    maxLength: config.PASSWORD_MAX_LENGTH,
    checkCommon: config.PASSWORD_CHECK_COMMON,
    checkSimilarity: config.PASSWORD_CHECK_SIMILARITY,
    checkNumeric: config.PASSWORD_CHECK_NUMERIC
  }
  const lockout = { threshold: config.LOCKOUT_THRESHOLD, cooloffSeconds: config.LOCKOUT_COOLOFF, windowSeconds: config.LOCKOUT_WINDOW }
  app.decorate('accounts', createAccountService({ prisma: app.db.prisma, sql: app.db.sql, hasher, passwordPolicy, lockout, maxLifetimeSeconds: config.SESSION_MAX_LIFETIME }))
  const emailFlows = createEmailFlows({ prisma: app.db.prisma, hasher, passwordPolicy, mailer: app.mailer, config, log: app.log })
  app.decorate('emailFlows', emailFlows)
  // Mail work runs after its reply; let it finish before the database closes (onClose).
  app.addHook('preClose', async () => { await emailFlows.idle() })
  app.decorate('auth', createAuthService({
    prisma: app.db.prisma,
    sql: app.db.sql,
    hasher,
    tokens: app.tokens,
    devices: app.devices,
    passwordPolicy,
    graceSeconds: config.REFRESH_GRACE_SECONDS,
    maxLifetimeSeconds: config.SESSION_MAX_LIFETIME,
    lockout,
    log: app.log,
    emailVerification: config.EMAIL_VERIFICATION,
    onRegistered: emailFlows.afterRegister
  }))
}

export default fp(authServicePlugin, { name: 'auth-service', dependencies: ['config', 'database', 'tokens', 'mailer'] })
