// Email change (POST /v1/users/me/email, then POST /v1/auth/email/change/confirm): a signed-in
// user who authenticated recently asks for a new address; a link goes to the NEW address
// (only its owner can confirm it) and a notice, with no link, to the OLD one (so a thief with a
// session cannot move the account away unnoticed). Until the link is followed nothing changes:
// the old address still logs in, the new one does not.
//
// The token is a one_time_tokens row of purpose email_change whose `email` is the new address
// (the address the mail went to, as for the other purposes) and whose `session_id` is the
// session that asked. Confirming swaps the address if it is still free (the unique index
// decides a race with a registration: 409 email_taken and nothing written), marks it verified,
// ends the user's other sessions and voids every other mailed token of the user (verification
// and reset links went to the old address).
import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../config.js'
import { AppError } from '../errors.js'
import { mailLink, siteName } from '../mail/links.js'
import { emailChangeMail, emailChangeNoticeMail } from '../mail/templates.js'
import type { UnitOfWork } from '../repositories/unit-of-work.js'
import { emailTaken, normalizeEmail, type User } from '../repositories/users.js'
import type { ClientMeta } from './client-meta.js'
import type { EmailFlows } from './email-flows.js'
import type { Mailer } from './mailer.js'
import { OPAQUE_TOKEN_FORMAT, hashToken, newOpaqueToken } from './opaque-tokens.js'
import type { Caller, SessionService } from './session-service.js'

export type EmailChangeConfig = Pick<Config, 'EMAIL_CHANGE_TTL' | 'EMAIL_CHANGE_URL_PATH' | 'MAIL_THROTTLE_SECONDS' | 'FRONTEND_URL'>

export interface EmailChangeOptions {
  db: UnitOfWork
  sessions: SessionService
  /** null: no mail transport, so no email change either (it is confirmed by mail). */
  mailer: Mailer | null
  flows: Pick<EmailFlows, 'later'>
  config: EmailChangeConfig
}

const tokenInvalid = () => new AppError('email_change_token_invalid', 'This email-change link is invalid, has expired or was already used')

export function createEmailChangeService ({ db, sessions, mailer, flows, config }: EmailChangeOptions) {
  const site = siteName(config.FRONTEND_URL)

  return {
    /** Whether the email-change routes exist: authd can send mail. */
    enabled: mailer !== null,

    /**
     * POST /users/me/email: needs a recent authentication. 409 email_taken when another
     * account has the address; 429 within MAIL_THROTTLE_SECONDS of the previous request. A
     * newer request voids the older link. The mails go out after the reply.
     */
    async request (caller: Caller, user: User, newEmail: string, meta: ClientMeta): Promise<void> {
      await sessions.requireRecentAuthentication(caller)
      const email = normalizeEmail(newEmail)
      if (email === user.email) {
        throw new AppError('validation_failed', 'This is the account\'s address already', { errors: [{ field: 'newEmail', code: 'unchanged', message: 'is the current address' }] })
      }
      if (await db.repos.users.findByLogin(email) !== null) throw emailTaken('newEmail')
      const token = newOpaqueToken()
      const id = randomUUID()
      const issued = await db.transaction(async (repos) => {
        const tokens = repos.oneTimeTokens
        // Serialises this user's requests, so two at once cannot both pass the throttle.
        await tokens.lockUser(user.id)
        await tokens.deleteSpent(user.id, config.MAIL_THROTTLE_SECONDS)
        if (!await tokens.issueUnlessRecent({ id, userId: user.id, purpose: 'email_change', tokenHash: hashToken(token), email, ttlSeconds: config.EMAIL_CHANGE_TTL, sessionId: caller.sid }, config.MAIL_THROTTLE_SECONDS)) return false
        await tokens.invalidateOthers(user.id, 'email_change', id)
        await repos.audit.record({ type: 'email_change_requested', userId: user.id, ...meta, detail: { sessionId: caller.sid, newEmail: email } })
        return true
      })
      if (!issued) {
        throw new AppError('rate_limited', `An email change was asked for less than ${config.MAIL_THROTTLE_SECONDS} seconds ago`, { headers: { 'retry-after': String(config.MAIL_THROTTLE_SECONDS) } })
      }
      flows.later('email-change mail', async () => {
        const link = mailLink(config.FRONTEND_URL, config.EMAIL_CHANGE_URL_PATH, token)
        await mailer?.send({ to: email, ...emailChangeMail({ email, site, link, ttlSeconds: config.EMAIL_CHANGE_TTL }) })
        await mailer?.send({ to: user.email, ...emailChangeNoticeMail({ email: user.email, newEmail: email, site }) })
      })
    },

    /** POST /auth/email/change/confirm: the swap, in one transaction (see the top of this file). */
    async confirm (token: string, meta: ClientMeta): Promise<void> {
      if (!OPAQUE_TOKEN_FORMAT.test(token)) throw tokenInvalid()
      await db.transaction(async (repos) => {
        const change = await repos.oneTimeTokens.consumeEmailChange(hashToken(token))
        if (change === null) throw tokenInvalid()
        // A unique violation (the address was taken meanwhile) throws 409 and rolls all back.
        await repos.users.changeEmail(change.userId, change.newEmail)
        await repos.oneTimeTokens.invalidateAllForUser(change.userId)
        const sessionsRevoked = await repos.sessions.revokeAllForUser(change.userId, 'email_changed', change.sessionId)
        await repos.audit.record({ type: 'email_changed', userId: change.userId, ...meta, detail: { oldEmail: change.oldEmail, newEmail: change.newEmail, sessionId: change.sessionId, sessionsRevoked } })
      })
    }
  }
}

export type EmailChangeService = ReturnType<typeof createEmailChangeService>

declare module 'fastify' {
  interface FastifyInstance {
    /** Email change: the request (step-up, mails) and its confirmation. */
    emailChange: EmailChangeService
  }
}

async function emailChangeServicePlugin (app: FastifyInstance): Promise<void> {
  app.decorate('emailChange', createEmailChangeService({ db: app.db, sessions: app.sessions, mailer: app.mailer, flows: app.emailFlows, config: app.config }))
}

export default fp(emailChangeServicePlugin, { name: 'email-change-service', dependencies: ['config', 'database', 'mailer', 'session-service', 'email-flows'] })
