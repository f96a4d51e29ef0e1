// Passwordless login by a code mailed to the account's address (allauth's "login by code",
// Supabase's email OTP): POST …/auth/code/request mails a code and a link carrying it; the
// auth service's loginWithEmailCode (auth-service.ts) checks it here and opens the session.
//
// The request, like a password reset's, must not tell whether the address has an account: the
// route answers 202 at once and the lookup, the code and the mail run after the reply (the
// email flows' `later`). An unknown or inactive address gets nothing; an address gets at most
// one code per MAIL_THROTTLE_SECONDS, and each new code replaces the previous one.
//
// A code is 8 Crockford base32 symbols (40 bits, shown XXXX-XXXX; typing is forgiving: case,
// dashes, o/0, i/l/1), stored only as a keyed hash bound to its user and address
// (crockford-codes.ts), compared in constant time. It dies after EMAIL_CODE_TTL, its first use
// or EMAIL_CODE_MAX_ATTEMPTS tries (each counted before its comparison,
// repositories/email-codes.ts); wrong ones also count toward the address's lockout (the auth
// service). 40 bits against 5 tries a code and the lockout: online guessing gets nowhere.
import { randomUUID, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../config.js'
import { fragmentLink, siteName } from '../mail/links.js'
import { loginCodeMail } from '../mail/templates.js'
import type { Repositories, UnitOfWork } from '../repositories/unit-of-work.js'
import { normalizeEmail, type User } from '../repositories/users.js'
import type { ClientMeta } from './client-meta.js'
import { keyedHash, normalizeCrockford, randomCrockford } from './crockford-codes.js'
import type { EmailFlows } from './email-flows.js'
import type { Mailer } from './mailer.js'

/** 8 symbols × 5 bits = 40 bits. */
const CODE_LENGTH = 8
const HASH_LABEL = 'authd email login code v1'

export type EmailCodeConfig = Pick<Config, 'EMAIL_CODE_LOGIN' | 'EMAIL_CODE_TTL' | 'EMAIL_CODE_MAX_ATTEMPTS' | 'EMAIL_CODE_URL_PATH' | 'MAIL_THROTTLE_SECONDS' | 'FRONTEND_URL'>

export interface EmailCodeOptions {
  db: UnitOfWork
  /** null: no mail transport, so no login by code either. */
  mailer: Mailer | null
  /** The background runner the mail work shares with the other mail flows. */
  flows: Pick<EmailFlows, 'later'>
  /** The MFA key: the code hashes' key is derived from it. */
  key: Buffer
  config: EmailCodeConfig
}

/** A try at a code: whether it was right, and (in the session's transaction) using it up. */
export interface CheckedCode {
  right: boolean
  /** Uses the code up; false when another request used it first or a newer code replaced it. */
  use: (repos: Repositories) => Promise<boolean>
}

/** The code as mailed: upper case, two groups of four. */
const display = (code: string): string => `${code.slice(0, 4)}-${code.slice(4)}`.toUpperCase()

export function createEmailCodeService ({ db, mailer, flows, key, config }: EmailCodeOptions) {
  const enabled = config.EMAIL_CODE_LOGIN && mailer !== null
  const site = siteName(config.FRONTEND_URL)
  /** The stored form: bound to the user and the address, so a code is worth nothing elsewhere. */
  const hashOf = (userId: string, email: string, normalized: string): string => keyedHash(key, HASH_LABEL, `${userId}\n${email}\n${normalized}`)

  async function send (email: string, meta: ClientMeta): Promise<void> {
    const user = await db.repos.users.findByLogin(email)
    if (user === null || !user.isActive || mailer === null) return
    const code = randomCrockford(CODE_LENGTH)
    const stored = await db.transaction(async (repos) => {
      const issued = await repos.emailCodes.issueUnlessRecent({ id: randomUUID(), userId: user.id, codeHash: hashOf(user.id, user.email, code), email: user.email, ttlSeconds: config.EMAIL_CODE_TTL }, config.MAIL_THROTTLE_SECONDS)
      await repos.audit.record({ type: 'login_code_requested', userId: user.id, ...meta, detail: { throttled: !issued } })
      return issued
    })
    if (!stored) return
    const link = fragmentLink(config.FRONTEND_URL, config.EMAIL_CODE_URL_PATH, { email: user.email, code: display(code) })
    await mailer.send({ to: user.email, ...loginCodeMail({ email: user.email, site, link, code: display(code), ttlSeconds: config.EMAIL_CODE_TTL }) })
  }

  return {
    /** Whether /v1/{client}/auth/code/* exist: EMAIL_CODE_LOGIN, and mail can be sent. */
    enabled,

    /** POST …/code/request: a code mailed after the reply, if the address has an active account. */
    request (email: string, meta: ClientMeta): void {
      flows.later('login-code mail', async () => { await send(normalizeEmail(email), meta) })
    },

    /**
     * One try at `user`'s live code (counted, whatever the outcome): null when there is no code
     * to try (none, used, expired, replaced, out of tries, or sent to another address).
     */
    async check (user: User, code: string): Promise<CheckedCode | null> {
      const live = await db.repos.emailCodes.countTry(user.id, user.email, config.EMAIL_CODE_MAX_ATTEMPTS)
      if (live === null) return null
      const normalized = normalizeCrockford(code, CODE_LENGTH)
      const given = Buffer.from(hashOf(user.id, user.email, normalized ?? ''))
      const right = normalized !== null && timingSafeEqual(given, Buffer.from(live.codeHash))
      return { right, use: async (repos) => await repos.emailCodes.use(live.id) }
    }
  }
}

export type EmailCodeService = ReturnType<typeof createEmailCodeService>

declare module 'fastify' {
  interface FastifyInstance {
    /** Login by a mailed code: the request, and the check the auth service's login uses. */
    emailCodes: EmailCodeService
  }
}

async function emailCodeServicePlugin (app: FastifyInstance): Promise<void> {
  // The code hashes' key comes from the MFA key (tokens plugin), as the recovery codes' does.
  const key = app.mfaKey
  app.decorate('emailCodes', createEmailCodeService({ db: app.db, mailer: app.mailer, flows: app.emailFlows, key, config: app.config }))
}

export default fp(emailCodeServicePlugin, { name: 'email-code-service', dependencies: ['config', 'database', 'tokens', 'mailer', 'email-flows'] })
