// The login / token life cycle, independent of how a client carries its tokens
// (JSON bodies for apps, cookies for browsers): transports in routes/auth shape the replies.
import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { AppError } from '../errors.js'
import { loginFailureKey, type LockoutPolicy } from '../repositories/login-failures.js'
import type { Challenge } from '../repositories/mfa.js'
import type { SessionAuth } from '../repositories/sessions.js'
import type { Repositories, UnitOfWork } from '../repositories/unit-of-work.js'
import type { User } from '../repositories/users.js'
import type { ClientMeta } from './client-meta.js'
import { AMR_PASSWORD_AND_OTP, afterFirstFactor, proofInvalid, proofMethod, type FactorProof, type MfaService } from './mfa-service.js'
import { OPAQUE_TOKEN_FORMAT, hashToken, newOpaqueToken } from './opaque-tokens.js'
import type { Passwords } from './passwords.js'
import { countFailure, lockedError, lockoutPolicy } from './lockout.js'
import type { TokenService } from './token-service.js'
import type { DeviceTokens, IssuedDeviceToken } from './device-tokens.js'
import type { PasskeyService } from './passkey-service.js'
import type { EmailCodeService } from './email-codes.js'

export interface TokenPair {
  sessionId: string
  access: string
  accessExpiresIn: number
  refresh: string
  refreshExpiresIn: number
}

export interface AuthServiceOptions {
  db: UnitOfWork
  passwords: Passwords
  /** The second factor: whether a login needs one, and the check of its proof. */
  mfa: MfaService
  /** MFA_TOKEN_TTL and MFA_MAX_ATTEMPTS: how long and for how many wrong codes an mfaToken lives. */
  mfaTokenTtl: number
  mfaMaxAttempts: number
  /** MFA_REQUIRED_ROLES: users with any of these roles must enrol a second factor to log in. */
  mfaRequiredRoles: string[]
  tokens: TokenService
  /** Known-device tokens: the owner's way past a lock an attacker keeps renewing. */
  devices: DeviceTokens
  graceSeconds: number
  /** SESSION_MAX_LIFETIME: no refresh succeeds this long after the session's login. */
  maxLifetimeSeconds: number
  /** Per-identifier lockout after failed logins (threshold 0: off). */
  lockout: LockoutPolicy
  log: FastifyBaseLogger
  /** mandatory: register opens no session and login waits for a verified address. */
  emailVerification?: 'none' | 'optional' | 'mandatory'
  /** Called after a registration is stored (sends the verification mail, after the reply). */
  onRegistered?: (user: User, meta: ClientMeta) => void
  /** Passkeys: the check of a passwordless login's assertion. */
  passkeys: PasskeyService
  /** Login by a mailed code: the check of the code. */
  emailCodes: EmailCodeService
}

/**
 * The proof of POST …/auth/mfa: exactly one of `code`, `recoveryCode` and `webauthn` (the
 * schema lets each be optional; this is where "exactly one" is checked).
 */
export function mfaInput<T extends { code?: string, recoveryCode?: string, webauthn?: unknown }> (body: T): Omit<T, 'code' | 'recoveryCode' | 'webauthn'> & FactorProof {
  const { code, recoveryCode, webauthn, ...rest } = body
  const given = [code, recoveryCode, webauthn].filter((value) => value !== undefined).length
  if (given !== 1) {
    throw new AppError('validation_failed', 'Give exactly one of code, recoveryCode and webauthn', {
      errors: [{ field: code === undefined ? 'code' : 'recoveryCode', code: given === 0 ? 'required' : 'invalid_value', message: 'exactly one of code, recoveryCode and webauthn' }]
    })
  }
  return { ...rest, ...(code !== undefined ? { code } : recoveryCode !== undefined ? { recoveryCode } : { webauthn }) }
}

/** A login: tokens, or (a second factor is on) the mfaToken that completes it with POST …/auth/mfa. */
export type LoginResult =
  | { mfaRequired: false, user: User, tokens: TokenPair, deviceToken: IssuedDeviceToken | null }
  | { mfaRequired: true, mfaToken: string, methods: SecondStep[], enrollment: boolean }

/** The proofs a login's second step accepts from this account. */
export type SecondStep = 'totp' | 'recovery_code' | 'webauthn'

export interface RegisterInput {
  email: string
  password: string
  username?: string
  fullName?: string
  bio?: string
}

/**
 * Why a login failed, for the audit trail only: the client always gets one answer.
 * `password_changed`: the password was right when checked, but a reset, change or deactivation
 * committed before the login could open its session.
 */
type LoginFailureReason = 'unknown_login' | 'wrong_password' | 'inactive' | 'locked' | 'password_changed'

/** A login whose every step so far checked out, as openSession and finishLogin take it. */
interface LoginStep {
  found: User
  /** A rehash of the password just verified (a login with a password of another cost). */
  newHash?: string
  /** The lockout key the login counts under (null: lockout off). */
  key: string | null
  client: ClientMeta
  /** RFC 8176 amr of the steps so far. */
  amr: string[]
  /** Facts for the audit events. */
  detail: Record<string, string | boolean>
  /** Single-use parts of the steps, used up in the transaction that stores the outcome. */
  before?: (repos: Repositories) => Promise<void>
}

const INVALID_CREDENTIALS = 'No active account found with the given credentials'

const mfaTokenInvalid = () => new AppError('mfa_token_invalid', 'This login is unknown, used or expired: log in again')

/** RFC 8176 amr of a session opened with a password alone. */
const AMR_PASSWORD = ['pwd']

/**
 * amr of a session opened with a mailed login code. RFC 8176 registers no value for a code
 * sent by mail; `otp` would let it pass for the TOTP factor (a `requireAmr: ['otp']` check), so
 * it gets its own, unregistered value, which RFC 8176 allows (docs/accounts.md).
 */
const AMR_EMAIL_CODE = ['email']

const emailCodeInvalid = () => new AppError('email_code_invalid', 'This code is wrong, expired or used up: ask for a new one', {
  errors: [{ field: 'code', code: 'email_code_invalid', message: 'is not valid' }]
})

/**
 * amr of a session opened through an identity provider. `fed` (federated) is not in RFC 8176's
 * registry; docs/tokens.md documents it. A completed second factor follows it
 * (`['fed', 'otp', 'mfa']`).
 */
const AMR_FEDERATED = ['fed']

export function createAuthService (options: AuthServiceOptions) {
  const { db, passwords, mfa, tokens, devices, graceSeconds, maxLifetimeSeconds, lockout, log } = options
  const { hasher } = passwords
  const verifiedOnly = options.emailVerification === 'mandatory'
  const { users, rotation, sessions, audit, loginFailures: failures } = db.repos

  /**
   * The reply's pair. `refreshExpiresIn` counts down to whichever comes first: the refresh
   * token's exp or the session's absolute end (SESSION_MAX_LIFETIME), so that a client (and a
   * browser cookie's Max-Age) knows when it must log in again.
   */
  async function pair (user: { id: string, roles: string[] }, sessionId: string, refresh: { token: string, exp: number, iat?: number }, sessionEndsAt: Date, auth: SessionAuth): Promise<TokenPair> {
    // From the token's own iat when it is new (so it reports REFRESH_TOKEN_TTL exactly, even
    // when a second ticks over meanwhile), else from now (a replay has less time left).
    const now = refresh.iat ?? Math.floor(Date.now() / 1000)
    const endsAt = Math.min(refresh.exp, Math.floor(sessionEndsAt.getTime() / 1000))
    return {
      sessionId,
      access: await tokens.signAccess(user, sessionId, auth),
      accessExpiresIn: tokens.accessTtl,
      refresh: refresh.token,
      refreshExpiresIn: Math.max(1, endsAt - now)
    }
  }

  /** Where a session opened with its first refresh token ends at the latest. */
  const newSessionEnd = (first: { iat: number }): Date => new Date((first.iat + maxLifetimeSeconds) * 1000)

  /** Ends a session that outlived SESSION_MAX_LIFETIME and answers 401 session_expired. */
  async function expireSession (claims: { sub: string, sid: string }, meta: ClientMeta): Promise<never> {
    await db.transaction(async (repos) => {
      if (await repos.sessions.revoke(claims.sid, 'expired')) {
        await repos.audit.record({ type: 'session_expired', userId: claims.sub, ...meta, detail: { sessionId: claims.sid } })
      }
    })
    throw new AppError('session_expired', 'This session has reached its maximum lifetime; log in again')
  }

  /**
   * The mfaToken's challenge while it can still complete a login, and its user — unchanged:
   * a password change or a deactivation since the login's first step kills it (401).
   */
  async function liveChallenge (mfaToken: string): Promise<{ tokenHash: string, challenge: Challenge, found: User }> {
    if (!OPAQUE_TOKEN_FORMAT.test(mfaToken)) throw mfaTokenInvalid()
    const tokenHash = hashToken(mfaToken)
    const challenge = await db.repos.mfa.findChallenge(tokenHash, options.mfaMaxAttempts)
    if (challenge === null) throw mfaTokenInvalid()
    const found = await users.findById(challenge.userId)
    if (found === null || !found.isActive || hashToken(found.passwordHash) !== challenge.passwordFingerprint) throw mfaTokenInvalid()
    return { tokenHash, challenge, found }
  }

  /**
   * Opens the session of a login whose every factor checked out, in one transaction: first
   * `before` (a second factor's single-use steps), then the login is recorded only while the
   * password hash is still the one verified (null otherwise: a reset, change or deactivation
   * committed since then wins), the key's failures are forgiven, the session created with
   * `amr`, the event recorded.
   */
  async function openSession (args: LoginStep): Promise<{ user: User, tokens: TokenPair, deviceToken: IssuedDeviceToken | null } | null> {
    const { found, key, client } = args
    const sessionId = randomUUID()
    const refresh = tokens.issueRefresh(found.id, sessionId)
    const user = await db.transaction(async (repos) => {
      await args.before?.(repos)
      // The UPDATE also locks the user's row until this transaction ends, so a reset that
      // commits after it waits for the session below and then revokes it. A rehash can
      // therefore never write a hash of the old password over a new one.
      const user = await repos.users.recordLogin({ id: found.id, expectedHash: found.passwordHash, newHash: args.newHash })
      if (user === null) return null
      if (key !== null) {
        // A success forgets the failures (a known device's own, never the name's: the owner
        // logging in must not reset an attacker's lock), unless concurrent failures locked
        // the key after this request was let in: then it is refused like any other (rolled back).
        const stillLocked = await repos.loginFailures.clearOnSuccess(key)
        if (stillLocked !== null) throw lockedError(stillLocked)
      }
      await repos.sessions.create({ id: sessionId, userId: found.id, ...client, refresh, maxLifetimeSeconds, amr: args.amr })
      await repos.audit.record({ type: 'login_succeeded', userId: found.id, ...client, detail: { sessionId, ...args.detail } })
      return user
    })
    if (user === null) return null
    return {
      user,
      tokens: await pair(user, sessionId, refresh, newSessionEnd(refresh), { amr: args.amr, authTime: new Date(refresh.iat * 1000) }),
      deviceToken: devices.enabled ? devices.issue(user.id) : null
    }
  }

  /**
   * The end of a login whose first step checked out (a password, a mailed code): with a second
   * factor on, or one to enrol (MFA_REQUIRED_ROLES), the mfaToken of the second step; else the
   * session (openSession; null as it answers). `before` (the first step's single-use parts) runs
   * in the transaction that stores either; `amr` is the first step's.
   */
  async function finishLogin (args: LoginStep): Promise<LoginResult | null> {
    const { found, key, client } = args
    // A second factor is on: the first step alone opens nothing. Nor does it forgive the
    // key's failures (only a completed second factor does): else a thief with the password
    // could alternate it with code guesses for ever.
    // MFA_REQUIRED_ROLES: a user with such a role and no factor enrols one before any token.
    const factors = await mfa.factors(found.id)
    const mustEnrol = !factors.totp && found.roles.some((role) => options.mfaRequiredRoles.includes(role))
    if (factors.totp || mustEnrol) {
      const purpose = factors.totp ? 'verify' : 'enroll'
      const mfaToken = newOpaqueToken()
      await db.transaction(async (repos) => {
        await args.before?.(repos)
        await repos.mfa.createChallenge({ purpose, tokenHash: hashToken(mfaToken), userId: found.id, lockoutKey: key ?? '', passwordFingerprint: hashToken(found.passwordHash), firstAmr: args.amr, ttlSeconds: options.mfaTokenTtl })
        await repos.audit.record({ type: 'mfa_challenged', userId: found.id, ...client, detail: { ...args.detail, purpose } })
      })
      const methods: SecondStep[] = ['totp']
      if (factors.recoveryCodesLeft > 0) methods.push('recovery_code')
      if (factors.passkeys > 0) methods.push('webauthn')
      return { mfaRequired: true, mfaToken, methods, enrollment: mustEnrol }
    }
    const opened = await openSession(args)
    return opened === null ? null : { mfaRequired: false, ...opened }
  }

  return {
    /** `tokens` is null when email verification is mandatory: no session until verified. */
    async register (input: RegisterInput, meta: ClientMeta): Promise<{ user: User, tokens: TokenPair | null }> {
      passwords.requireAcceptable(input.password, 'password', { email: input.email, username: input.username, fullName: input.fullName })
      const passwordHash = await hasher.hash(input.password)
      const userId = randomUUID()
      const sessionId = randomUUID()
      const refresh = tokens.issueRefresh(userId, sessionId)
      // User and first session together: a failure (email_taken, username_taken) leaves neither behind.
      const user = await db.transaction(async (repos) => {
        const created = await repos.users.create({ ...input, id: userId, passwordHash })
        await repos.audit.record({ type: 'user_registered', userId, ...meta, detail: { sessionId: verifiedOnly ? null : sessionId } })
        if (verifiedOnly) return created
        await repos.sessions.create({ id: sessionId, userId, ...meta, refresh, maxLifetimeSeconds, amr: AMR_PASSWORD })
        const loggedIn = await repos.users.recordLogin({ id: created.id, expectedHash: passwordHash })
        if (loggedIn === null) throw new Error('a user created in this transaction was not found')
        return loggedIn
      })
      options.onRegistered?.(user, meta)
      return { user, tokens: verifiedOnly ? null : await pair(user, sessionId, refresh, newSessionEnd(refresh), { amr: AMR_PASSWORD, authTime: new Date(refresh.iat * 1000) }) }
    },

    /**
     * `deviceToken`: the known-device token this browser or app got at its last successful
     * login (device-tokens.ts), if it sent one. The reply carries a new one.
     */
    async login (input: { login: string, password: string }, meta: ClientMeta, deviceToken?: string): Promise<LoginResult> {
      const client = meta
      // The lockout counts per identifier as typed (docs/accounts.md "Lockout after failed logins"), known or not…
      const identifierKey = lockout.threshold > 0 ? loginFailureKey(input.login) : null
      const device = lockout.threshold > 0 ? devices.check(deviceToken) : null
      const [found, identifierLock, deviceLock] = await Promise.all([
        users.findByLogin(input.login),
        identifierKey === null ? null : failures.lockedFor(identifierKey),
        device === null ? null : failures.lockedFor(device.lockoutKey)
      ])
      // …except from a known device of this very account: it answers to its own lock, so an
      // attacker who keeps the name locked does not keep its owner out.
      const knownDevice = device !== null && found !== null && device.userId === found.id
      const key = knownDevice ? device.lockoutKey : identifierKey
      const lockedFor = knownDevice ? deviceLock : identifierLock
      // Refused before bcrypt: even the right password is refused while locked, so there is
      // nothing to learn from trying.
      if (lockedFor !== null) {
        await audit.record({ type: 'login_failed', userId: found?.id ?? null, ...client, detail: { reason: 'locked', knownDevice } })
        throw lockedError(lockedFor)
      }
      // Unknown users cost the same bcrypt work as a wrong password (verify uses a dummy hash).
      const check = await hasher.verify(input.password, found?.passwordHash ?? null)
      // Unknown user, wrong password and inactive account get one answer, as simplejwt gives.
      if (found === null || !check.ok || !found.isActive) {
        const reason: LoginFailureReason = found === null ? 'unknown_login' : !check.ok ? 'wrong_password' : 'inactive'
        // The count and its audit events land together.
        const count = await db.transaction(async (repos) => await countFailure(repos, {
          key,
          lockout,
          event: { type: 'login_failed', userId: found?.id ?? null, ...client, detail: { reason, knownDevice } },
          lockedDetail: { knownDevice }
        }))
        if (count?.lockedFor != null) throw lockedError(count.lockedFor)
        throw new AppError('invalid_credentials', INVALID_CREDENTIALS)
      }
      // Only after the password check, so it tells nothing to someone without the password.
      if (verifiedOnly && !found.emailVerified) throw new AppError('email_not_verified', 'Confirm your email address first (follow the link in the mail, or ask for another)')
      const newHash = check.needsRehash ? await hasher.hash(input.password) : undefined
      const result = await finishLogin({ found, newHash, key, client, amr: AMR_PASSWORD, detail: { knownDevice } })
      if (result === null) {
        await audit.record({ type: 'login_failed', userId: found.id, ...client, detail: { reason: 'password_changed' satisfies LoginFailureReason, knownDevice } })
        throw new AppError('invalid_credentials', INVALID_CREDENTIALS)
      }
      return result
    },

    /**
     * POST …/auth/code/confirm: a login with the code mailed to `email` (email-codes.ts).
     * Answers as a password login, second step included. Every try counts against the code
     * (EMAIL_CODE_MAX_ATTEMPTS); a wrong one, and any try at an address without a live code,
     * also counts under the address's lockout key, as a wrong password does. The code is used
     * up, and the address marked verified (the code proved it), in the transaction that opens
     * the session or the second step. No account is created: that is register's job.
     */
    async loginWithEmailCode (input: { email: string, code: string }, meta: ClientMeta): Promise<LoginResult> {
      const client = meta
      const key = lockout.threshold > 0 ? loginFailureKey(input.email) : null
      const [found, lockedFor] = await Promise.all([users.findByLogin(input.email), key === null ? null : failures.lockedFor(key)])
      if (lockedFor !== null) {
        await audit.record({ type: 'login_failed', userId: found?.id ?? null, ...client, detail: { reason: 'locked', method: 'email_code' } })
        throw lockedError(lockedFor)
      }
      const checked = found === null || !found.isActive ? null : await options.emailCodes.check(found, input.code)

      /** A wrong, dead or replayed code: counted under the lockout key and audited. */
      async function failed (reason: 'no_code' | 'wrong_code' | 'code_reused'): Promise<never> {
        const count = await db.transaction(async (repos) => await countFailure(repos, {
          key,
          lockout,
          event: { type: 'login_failed', userId: found?.id ?? null, ...client, detail: { reason, method: 'email_code' } }
        }))
        if (count?.lockedFor != null) throw lockedError(count.lockedFor)
        throw emailCodeInvalid()
      }

      if (found === null || checked === null) return await failed('no_code')
      if (!checked.right) return await failed('wrong_code')
      const replayed = new Error('the code was used meanwhile')
      let result: LoginResult | null
      try {
        result = await finishLogin({
          found,
          key,
          client,
          amr: AMR_EMAIL_CODE,
          detail: { method: 'email_code' },
          before: async (repos) => {
            // Used once; and only while the account still has the address the code went to.
            if (!await checked.use(repos) || !await repos.users.markEmailVerified(found.id, found.email)) throw replayed
          }
        })
      } catch (error) {
        if (error === replayed) return await failed('code_reused')
        throw error
      }
      // A password change or a deactivation committed meanwhile: the code is spent, log in again.
      if (result === null) throw emailCodeInvalid()
      return result
    },

    /**
     * A sign-in through an identity provider (services/provider-service.ts found or created the
     * account from the provider's verified identity): as a login whose first factor is the
     * provider (amr `fed`), so a second factor still applies. `before` runs in the session's
     * transaction (the provider's audit event).
     */
    async loginWithProvider (found: User, provider: string, meta: ClientMeta, before: (repos: Repositories) => Promise<void>): Promise<LoginResult> {
      if (!found.isActive) throw new AppError('account_inactive', 'This account is deactivated')
      if (verifiedOnly && !found.emailVerified) throw new AppError('email_not_verified', 'Confirm your email address first (follow the link in the mail, or ask for another)')
      const result = await finishLogin({ found, key: null, client: meta, amr: AMR_FEDERATED, detail: { method: 'provider', provider }, before })
      // The account was deactivated (or its password changed) between the read and the session.
      if (result === null) throw new AppError('account_inactive', 'The account changed while signing in: try again')
      return result
    },

    /**
     * The second step of a login with a second factor: the mfaToken of the first step and a
     * TOTP code or a recovery code. Answers as a login. Wrong codes count against the mfaToken
     * (MFA_MAX_ATTEMPTS) and under the lockout key the login counted under.
     */
    /**
     * MFA_REQUIRED_ROLES: the first step of the enrolment a login asked for
     * (`mfaEnrollmentRequired`): a new TOTP secret for the mfaToken's user. The login then
     * completes with POST …/auth/mfa and a first code, which also turns TOTP on.
     */
    async startEnrolment (mfaToken: string): Promise<{ secret: string, otpauthUri: string }> {
      const { challenge, found } = await liveChallenge(mfaToken)
      if (challenge.purpose !== 'enroll') throw new AppError('mfa_already_enabled', 'This account has a second factor already: complete the login with a code')
      return await mfa.startTotp(found)
    },

    async completeMfa (input: { mfaToken: string } & FactorProof, meta: ClientMeta): Promise<{ user: User, tokens: TokenPair, deviceToken: IssuedDeviceToken | null, recoveryCodes?: string[] }> {
      const client = meta
      const { tokenHash, challenge, found } = await liveChallenge(input.mfaToken)
      const key = challenge.lockoutKey === '' ? null : challenge.lockoutKey
      const proof: FactorProof = 'code' in input ? { code: input.code } : 'recoveryCode' in input ? { recoveryCode: input.recoveryCode } : { webauthn: input.webauthn }
      const method = proofMethod(proof)
      const lockedFor = key === null ? null : await failures.lockedFor(key)
      if (lockedFor !== null) {
        await audit.record({ type: 'mfa_failed', userId: found.id, ...client, detail: { method, reason: 'locked' } })
        throw lockedError(lockedFor)
      }

      /** A wrong (or replayed) code: counted against the token and the lockout key, audited. */
      async function failed (reason: 'wrong_code' | 'code_reused'): Promise<never> {
        const counted = await db.transaction(async (repos) => {
          await repos.mfa.failChallenge(tokenHash)
          return await countFailure(repos, { key, lockout, event: { type: 'mfa_failed', userId: found?.id ?? null, ...client, detail: { method, reason } } })
        })
        if (counted?.lockedFor != null) throw lockedError(counted.lockedFor)
        throw proofInvalid(proof)
      }

      if (challenge.purpose === 'enroll') {
        // The first code of the authenticator enrolled with this mfaToken: confirming it turns
        // TOTP on, issues the recovery codes and completes the login, in one transaction.
        const step = 'code' in proof ? await mfa.checkPending(found.id, proof.code) : null
        if (step === null) return await failed('wrong_code')
        let recoveryCodes: string[] = []
        const opened = await openSession({
          found,
          key,
          client,
          amr: afterFirstFactor(challenge.firstAmr, AMR_PASSWORD_AND_OTP),
          detail: { mfa: 'totp', enrolled: true },
          before: async (repos) => {
            if (!await repos.mfa.consumeChallenge(tokenHash, options.mfaMaxAttempts)) throw mfaTokenInvalid()
            recoveryCodes = await mfa.enrol(repos, found.id, step, client, null)
          }
        })
        if (opened === null) throw mfaTokenInvalid()
        return { ...opened, recoveryCodes }
      }
      const checked = await mfa.check(found.id, proof)
      if (checked === null) return await failed('wrong_code')
      const replayed = new Error('the code was used meanwhile')
      let opened: Awaited<ReturnType<typeof openSession>>
      try {
        opened = await openSession({
          found,
          key,
          client,
          amr: afterFirstFactor(challenge.firstAmr, checked.amr),
          detail: { mfa: method },
          // In the session's transaction: the mfaToken completes one login, the code works once.
          before: async (repos) => {
            if (!await repos.mfa.consumeChallenge(tokenHash, options.mfaMaxAttempts)) throw mfaTokenInvalid()
            const used = await checked.consume(repos)
            if (!used.ok) throw replayed
            await repos.audit.record({ type: 'mfa_succeeded', userId: found.id, ...client, detail: { method } })
            if (used.left !== undefined) await repos.audit.record({ type: 'recovery_code_used', userId: found.id, ...client, detail: { left: used.left } })
            if (method === 'webauthn') await repos.audit.record({ type: 'passkey_used', userId: found.id, ...client, detail: { asSecondFactor: true } })
          }
        })
      } catch (error) {
        if (error === replayed) return await failed('code_reused')
        throw error
      }
      if (opened === null) throw mfaTokenInvalid()
      return opened
    },

    /**
     * A passwordless login with a passkey (POST …/auth/passkey): the assertion is checked by
     * the passkey service, then a session opens whose amr says a key and a verified user (two
     * factors, so no second step even with TOTP on). The signature counter is checked in the
     * session's transaction: a counter that did not grow opens nothing.
     */
    async loginWithPasskey (response: unknown, meta: ClientMeta): Promise<{ user: User, tokens: TokenPair, deviceToken: IssuedDeviceToken | null }> {
      const checked = await options.passkeys.verifyAuthentication(response)
      const found = await users.findById(checked.userId)
      if (found === null || !found.isActive) throw new AppError('webauthn_failed', 'This passkey is not known here')
      if (verifiedOnly && !found.emailVerified) throw new AppError('email_not_verified', 'Confirm your email address first (follow the link in the mail, or ask for another)')
      const cloned = new Error('the signature counter did not grow')
      let opened: Awaited<ReturnType<typeof openSession>>
      try {
        opened = await openSession({
          found,
          key: null,
          client: meta,
          amr: checked.amr,
          detail: { method: 'passkey', passkeyId: checked.passkeyId },
          before: async (repos) => {
            if (!await checked.consume(repos)) throw cloned
            await repos.audit.record({ type: 'passkey_used', userId: found.id, ...meta, detail: { passkeyId: checked.passkeyId } })
          }
        })
      } catch (error) {
        if (error !== cloned) throw error
        await audit.record({ type: 'login_failed', userId: found.id, ...meta, detail: { reason: 'passkey_counter', passkeyId: checked.passkeyId } })
        throw new AppError('webauthn_failed', 'The passkey\'s signature counter did not grow: it may be cloned')
      }
      if (opened === null) throw new AppError('webauthn_failed', 'The account changed while logging in: try again')
      return opened
    },

    /**
     * Rotation with grace window, reuse detection and the absolute session lifetime (API.md,
     * refresh-token rules). A session has exactly one live refresh token at any moment: inside
     * the grace window a rotated token is answered with the very child its rotation issued.
     */
    async refresh (token: string, meta: ClientMeta): Promise<TokenPair> {
      const claims = tokens.verifyRefresh(token)
      const child = tokens.issueRefresh(claims.sub, claims.sid)
      const result = await rotation.rotate({ jti: claims.jti, sessionId: claims.sid, child, maxLifetimeSeconds })
      if (result.outcome === 'rotated') return await pair({ id: result.userId, roles: result.roles }, claims.sid, child, result.sessionEndsAt, result.auth)
      if (result.outcome === 'session_expired') return await expireSession(claims, meta)
      if (result.outcome !== 'blacklisted') throw new AppError('token_invalid')
      // Already blacklisted. Rotated within the grace window (two tabs at once, or a reply the
      // client lost): the same child again, with a new access token.
      const replay = await rotation.rotatedChild({ jti: claims.jti, sessionId: claims.sid, graceSeconds, maxLifetimeSeconds })
      if (replay !== null) {
        const again = { sub: claims.sub, sid: claims.sid, ...replay.child }
        // No iat: the replayed token is older than this reply, so its time left counts from now.
        return await pair({ id: replay.userId, roles: replay.roles }, claims.sid, { token: tokens.signRefresh(again), exp: again.exp }, replay.sessionEndsAt, replay.auth)
      }
      // Not a replay: find out why, off the hot path.
      const session = await sessions.findTokenSession(claims.jti, claims.sid)
      // Ended by a logout or a revocation (perhaps a moment ago, inside the window): that is
      // not theft evidence, so no token_reused and no reuse alarm.
      // (A session past its lifetime never gets here: ROTATE reports that first.)
      if (session === null || session.revoked) throw new AppError('token_invalid', 'This refresh token has been revoked')
      if (session.blacklistReason !== 'rotated') throw new AppError('token_invalid', 'This refresh token has been revoked')
      // A rotated token presented again after the grace window: assume it was stolen and
      // end the whole family, so neither the thief nor the victim keeps a live token. The
      // only write refresh makes beyond rotation, and only here.
      await db.transaction(async (repos) => {
        await repos.sessions.revoke(claims.sid, 'reuse_detected')
        await repos.audit.record({ type: 'refresh_reuse_detected', userId: claims.sub, ...meta, detail: { sessionId: claims.sid } })
      })
      log.warn({ sessionId: claims.sid, userId: claims.sub }, 'refresh token reuse detected; session revoked')
      throw new AppError('token_reused', 'This refresh token was already used; the session has been revoked')
    },

    async logout (token: string, meta: ClientMeta): Promise<void> {
      const claims = tokens.verifyRefresh(token)
      const session = await sessions.findTokenSession(claims.jti, claims.sid)
      if (session === null) throw new AppError('token_invalid')
      // A repeated logout of an ended session changes nothing and records nothing.
      if (session.revoked) return
      await db.transaction(async (repos) => {
        if (await repos.sessions.revoke(claims.sid, 'logout')) {
          await repos.audit.record({ type: 'logged_out', userId: session.userId, ...meta, detail: { sessionId: claims.sid } })
        }
      })
    }
  }
}

export type AuthService = ReturnType<typeof createAuthService>

declare module 'fastify' {
  interface FastifyInstance {
    /** Register, login, refresh, logout. */
    auth: AuthService
  }
}

async function authServicePlugin (app: FastifyInstance): Promise<void> {
  const { config } = app
  app.decorate('auth', createAuthService({
    db: app.db,
    passwords: app.passwords,
    mfa: app.mfa,
    mfaTokenTtl: config.MFA_TOKEN_TTL,
    mfaMaxAttempts: config.MFA_MAX_ATTEMPTS,
    mfaRequiredRoles: config.MFA_REQUIRED_ROLES.split(',').map((role) => role.trim()).filter((role) => role !== ''),
    tokens: app.tokens,
    devices: app.devices,
    graceSeconds: config.REFRESH_GRACE_SECONDS,
    maxLifetimeSeconds: config.SESSION_MAX_LIFETIME,
    lockout: lockoutPolicy(config),
    log: app.log,
    emailVerification: config.EMAIL_VERIFICATION,
    onRegistered: app.emailFlows.afterRegister,
    passkeys: app.passkeys,
    emailCodes: app.emailCodes
  }))
}

export default fp(authServicePlugin, { name: 'auth-service', dependencies: ['config', 'database', 'passwords', 'tokens', 'email-flows', 'mfa-service', 'passkey-service', 'email-code-service'] })
