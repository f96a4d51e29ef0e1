// Email verification and password reset: the tokens sent by mail and what they unlock.
//
// Requests that name an address (resend, forgot) must not reveal whether it has an account,
// neither in the answer nor in its timing. So the route answers 202 at once and the work —
// lookup, token, mail — runs after the reply, in the background (`later`); its failures are
// logged without the token. Each address gets at most one mail of a kind per
// MAIL_THROTTLE_SECONDS; requests in between send nothing, silently (no mail-bombing).
//
// Tokens are opaque-tokens.ts's: 32 random bytes, only their SHA-256 stored.
import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../config.js'
import { AppError } from '../errors.js'
import { mailLink, siteName } from '../mail/links.js'
import { passwordResetMail, verificationMail } from '../mail/templates.js'
import type { TokenPurpose } from '../repositories/one-time-tokens.js'
import type { Repositories, UnitOfWork } from '../repositories/unit-of-work.js'
import type { ClientMeta } from './client-meta.js'
import type { Mailer } from './mailer.js'
import type { Passwords } from './passwords.js'
import { OPAQUE_TOKEN_FORMAT as TOKEN_FORMAT, hashToken, newOpaqueToken as newToken } from './opaque-tokens.js'

export type EmailFlowsConfig = Pick<Config,
  'EMAIL_VERIFICATION' | 'EMAIL_VERIFICATION_TTL' | 'PASSWORD_RESET_TTL' | 'MAIL_THROTTLE_SECONDS' |
  'FRONTEND_URL' | 'EMAIL_VERIFY_URL_PATH' | 'PASSWORD_RESET_URL_PATH'>

export interface EmailFlowsOptions {
  db: UnitOfWork
  passwords: Passwords
  /** null: no mail transport (production without SMTP_URL): every flow is off. */
  mailer: Mailer | null
  config: EmailFlowsConfig
  log: FastifyBaseLogger
}

/** What may be logged of a failure: never the message's content or a token. */
function loggable (error: unknown): Record<string, unknown> {
  const e = error as { name?: string, code?: string, responseCode?: number, message?: string }
  return { name: e.name, code: e.code, responseCode: e.responseCode, message: e.message }
}

export function createEmailFlows (options: EmailFlowsOptions) {
  const { db, passwords, mailer, config, log } = options
  const { users, oneTimeTokens } = db.repos
  const site = siteName(config.FRONTEND_URL)
  const verificationOn = mailer !== null && config.EMAIL_VERIFICATION !== 'none'
  const resetOn = mailer !== null

  const pending = new Set<Promise<void>>()

  /** Runs `task` after the current reply has gone out; not awaited by the request. */
  function later (what: string, task: () => Promise<void>): void {
    const run: Promise<void> = new Promise<void>((resolve) => { setImmediate(resolve) })
      .then(task)
      .catch((error: unknown) => { log.error({ err: loggable(error) }, `${what} failed`) })
      .finally(() => { pending.delete(run) })
    pending.add(run)
  }

  /**
   * Stores a new token for the user unless one of this purpose went out less than
   * MAIL_THROTTLE_SECONDS ago, under a lock on the user's row (so concurrent requests for one
   * address cannot both pass the throttle). `eligible` decides on the locked row.
   * Returns the token and address to mail, or null.
   */
  async function issue (userId: string, purpose: TokenPurpose, ttlSeconds: number, eligible: (user: { emailVerified: boolean }) => boolean, onIssued?: (repos: Repositories, throttled: boolean) => Promise<void>): Promise<{ token: string, email: string } | null> {
    const token = newToken()
    return await db.transaction(async (repos) => {
      const tokens = repos.oneTimeTokens
      const user = await tokens.lockUser(userId)
      if (user === null || !user.isActive || !eligible(user)) return null
      await tokens.deleteSpent(userId, config.MAIL_THROTTLE_SECONDS)
      const stored = await tokens.issueUnlessRecent({ id: randomUUID(), userId, purpose, tokenHash: hashToken(token), email: user.email, ttlSeconds }, config.MAIL_THROTTLE_SECONDS)
      await onIssued?.(repos, !stored)
      return stored ? { token, email: user.email } : null
    })
  }

  async function sendVerification (userId: string, meta: ClientMeta): Promise<void> {
    if (mailer === null) return
    const issued = await issue(userId, 'email_verification', config.EMAIL_VERIFICATION_TTL, (user) => !user.emailVerified)
    if (issued === null) return
    const link = mailLink(config.FRONTEND_URL, config.EMAIL_VERIFY_URL_PATH, issued.token)
    await mailer.send({ to: issued.email, ...verificationMail({ email: issued.email, site, link, ttlSeconds: config.EMAIL_VERIFICATION_TTL }) })
    await db.repos.audit.record({ type: 'email_verification_sent', userId, ...meta })
  }

  async function sendPasswordReset (email: string, meta: ClientMeta): Promise<void> {
    if (mailer === null) return
    const user = await users.findByLogin(email)
    if (user === null || !user.isActive) return
    const issued = await issue(user.id, 'password_reset', config.PASSWORD_RESET_TTL, () => true, async (repos, throttled) => {
      await repos.audit.record({ type: 'password_reset_requested', userId: user.id, ...meta, detail: { throttled } })
    })
    if (issued === null) return
    const link = mailLink(config.FRONTEND_URL, config.PASSWORD_RESET_URL_PATH, issued.token)
    await mailer.send({ to: issued.email, ...passwordResetMail({ email: issued.email, site, link, ttlSeconds: config.PASSWORD_RESET_TTL }) })
  }

  const verificationInvalid = () => new AppError('verification_token_invalid', 'This verification link is invalid, has expired or was already used')
  const resetInvalid = () => new AppError('reset_token_invalid', 'This password-reset link is invalid, has expired or was already used')

  return {
    /** Whether /v1/auth/email/* exist: EMAIL_VERIFICATION is not none (and mail can be sent). */
    verificationOn,
    /** Whether /v1/auth/password/* exist: there is a mail transport. */
    resetOn,

    /** After a registration: the first verification mail, sent after the reply. */
    afterRegister (user: { id: string }, meta: ClientMeta): void {
      if (verificationOn) later('verification mail', async () => { await sendVerification(user.id, meta) })
    },

    /** POST /email/resend: a new verification mail if the address has an unverified account. */
    requestVerification (email: string, meta: ClientMeta): void {
      if (!verificationOn) return
      later('verification mail', async () => {
        const user = await users.findByLogin(email)
        if (user !== null) await sendVerification(user.id, meta)
      })
    },

    /** POST /password/forgot: a reset mail if the address has an active account. */
    requestPasswordReset (email: string, meta: ClientMeta): void {
      if (!resetOn) return
      later('password-reset mail', async () => { await sendPasswordReset(email, meta) })
    },

    /** POST /email/verify: consumes the token and marks the address verified. */
    async verifyEmail (token: string, meta: ClientMeta): Promise<void> {
      if (!TOKEN_FORMAT.test(token)) throw verificationInvalid()
      const verified = await db.transaction(async (repos) => {
        const tokens = repos.oneTimeTokens
        const consumed = await tokens.consume('email_verification', hashToken(token))
        if (consumed === null) return false
        // consume() checked the address in the same statement; this write is conditional on it too.
        if (!await repos.users.markEmailVerified(consumed.userId, consumed.email)) throw verificationInvalid()
        await tokens.invalidateOthers(consumed.userId, 'email_verification', consumed.tokenId)
        await repos.audit.record({ type: 'email_verified', userId: consumed.userId, ...meta })
        return true
      })
      if (!verified) throw verificationInvalid()
    },

    /**
     * POST /password/reset: checks the token and the new password, then in one transaction
     * consumes the token, stores the new hash (and marks the address verified), ends the
     * user's other reset tokens and revokes every session.
     */
    async resetPassword (input: { token: string, newPassword: string }, meta: ClientMeta): Promise<void> {
      if (!TOKEN_FORMAT.test(input.token)) throw resetInvalid()
      const tokenHash = hashToken(input.token)
      // Looked up first (nothing changes): a bad token costs no bcrypt work, and the policy
      // sees whose password it is. A policy failure leaves the token usable for another try.
      const owner = await oneTimeTokens.findUsable('password_reset', tokenHash)
      if (owner === null) throw resetInvalid()
      passwords.requireAcceptable(input.newPassword, 'newPassword', { email: owner.email, username: owner.username, fullName: owner.fullName })
      const passwordHash = await passwords.hasher.hash(input.newPassword)
      const done = await db.transaction(async (repos) => {
        const tokens = repos.oneTimeTokens
        // Conditional again: a concurrent reset with the same token may have won meanwhile.
        const consumed = await tokens.consume('password_reset', tokenHash)
        if (consumed === null) return false
        await repos.users.resetPassword(consumed.userId, passwordHash)
        await tokens.invalidateOthers(consumed.userId, 'password_reset', consumed.tokenId)
        const sessionsRevoked = await repos.sessions.revokeAllForUser(consumed.userId, 'password_reset')
        // Following the mailed link proves the owner is back: a lockout an attacker keeps
        // renewing on the email or username ends here (docs/accounts.md "Lockout after failed logins").
        await repos.loginFailures.clearForAccount({ email: owner.email, username: owner.username })
        await repos.audit.record({ type: 'password_reset', userId: consumed.userId, ...meta, detail: { sessionsRevoked } })
        return true
      })
      if (!done) throw resetInvalid()
    },

    /**
     * Runs `task` after the current reply has gone out (the mail work of every flow, the login
     * code's and the email change's too, so that idle() waits for all of it); its failures are
     * logged without the message or a token.
     */
    later,

    /** Resolves when no background mail work is left (shutdown; tests). */
    async idle (): Promise<void> {
      while (pending.size > 0) await Promise.allSettled([...pending])
    }
  }
}

export type EmailFlows = ReturnType<typeof createEmailFlows>

declare module 'fastify' {
  interface FastifyInstance {
    /** Email verification and password reset (mailed single-use tokens). */
    emailFlows: EmailFlows
  }
}

async function emailFlowsPlugin (app: FastifyInstance): Promise<void> {
  const emailFlows = createEmailFlows({ db: app.db, passwords: app.passwords, mailer: app.mailer, config: app.config, log: app.log })
  app.decorate('emailFlows', emailFlows)
  // Mail work runs after its reply; let it finish before the database closes (onClose).
  app.addHook('preClose', async () => { await emailFlows.idle() })
}

export default fp(emailFlowsPlugin, { name: 'email-flows', dependencies: ['config', 'database', 'passwords', 'mailer'] })
