// The login / token life cycle, independent of how a client carries its tokens
// (JSON bodies for apps, cookies for browsers): transports in routes/auth shape the replies.
import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { AppError } from '../errors.js'
import { loginFailureKey, type LockoutPolicy } from '../repositories/login-failures.js'
import type { UnitOfWork } from '../repositories/unit-of-work.js'
import type { User } from '../repositories/users.js'
import type { ClientMeta } from './client-meta.js'
import type { Passwords } from './passwords.js'
import { lockedError, lockoutPolicy } from './lockout.js'
import type { TokenService } from './token-service.js'
import type { DeviceTokens, IssuedDeviceToken } from './device-tokens.js'

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
}

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

const INVALID_CREDENTIALS = 'No active account found with the given credentials'

export function createAuthService (options: AuthServiceOptions) {
  const { db, passwords, tokens, devices, graceSeconds, maxLifetimeSeconds, lockout, log } = options
  const { hasher } = passwords
  const verifiedOnly = options.emailVerification === 'mandatory'
  const { users, rotation, sessions, audit, loginFailures: failures } = db.repos

  /**
   * The reply's pair. `refreshExpiresIn` counts down to whichever comes first: the refresh
   * token's exp or the session's absolute end (SESSION_MAX_LIFETIME), so that a client (and a
   * browser cookie's Max-Age) knows when it must log in again.
   */
  async function pair (user: { id: string, roles: string[] }, sessionId: string, refresh: { token: string, exp: number, iat?: number }, sessionEndsAt: Date): Promise<TokenPair> {
    // From the token's own iat when it is new (so it reports REFRESH_TOKEN_TTL exactly, even
    // when a second ticks over meanwhile), else from now (a replay has less time left).
    const now = refresh.iat ?? Math.floor(Date.now() / 1000)
    const endsAt = Math.min(refresh.exp, Math.floor(sessionEndsAt.getTime() / 1000))
    return {
      sessionId,
      access: await tokens.signAccess(user, sessionId),
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
        await repos.sessions.create({ id: sessionId, userId, ...meta, refresh, maxLifetimeSeconds })
        const loggedIn = await repos.users.recordLogin({ id: created.id, expectedHash: passwordHash })
        if (loggedIn === null) throw new Error('a user created in this transaction was not found')
        return loggedIn
      })
      options.onRegistered?.(user, meta)
      return { user, tokens: verifiedOnly ? null : await pair(user, sessionId, refresh, newSessionEnd(refresh)) }
    },

    /**
     * `deviceToken`: the known-device token this browser or app got at its last successful
     * login (device-tokens.ts), if it sent one. The reply carries a new one.
     */
    async login (input: { login: string, password: string }, meta: ClientMeta, deviceToken?: string): Promise<{ user: User, tokens: TokenPair, deviceToken: IssuedDeviceToken | null }> {
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
        const count = await db.transaction(async (repos) => {
          const counted = key === null ? null : await repos.loginFailures.recordFailure(key, lockout)
          const events = repos.audit
          await events.record({ type: 'login_failed', userId: found?.id ?? null, ...client, detail: { reason, knownDevice, ...(counted === null ? {} : { failures: counted.failures }) } })
          if (counted?.justLocked === true) {
            await events.record({ type: 'account_locked', userId: found?.id ?? null, ...client, detail: { failures: counted.failures, lockedForSeconds: counted.lockedFor, knownDevice } })
          }
          return counted
        })
        if (count?.lockedFor != null) throw lockedError(count.lockedFor)
        throw new AppError('invalid_credentials', INVALID_CREDENTIALS)
      }
      // Only after the password check, so it tells nothing to someone without the password.
      if (verifiedOnly && !found.emailVerified) throw new AppError('email_not_verified', 'Confirm your email address first (follow the link in the mail, or ask for another)')
      const newHash = check.needsRehash ? await hasher.hash(input.password) : undefined
      const sessionId = randomUUID()
      const refresh = tokens.issueRefresh(found.id, sessionId)
      const user = await db.transaction(async (repos) => {
        // First, and only while the password hash is still the one bcrypt just accepted (and
        // the account still active): a reset, change or deactivation that committed since
        // then wins, and this login fails as if the password were wrong. The UPDATE also
        // locks the user's row until this transaction ends, so one that commits after it
        // waits for the session below and then revokes it. A rehash can therefore never
        // write a hash of the old password over a new one.
        const user = await repos.users.recordLogin({ id: found.id, expectedHash: found.passwordHash, newHash })
        if (user === null) return null
        if (key !== null) {
          // A success forgets the failures (a known device's own, never the name's: the owner
          // logging in must not reset an attacker's lock), unless concurrent failures locked
          // the key after this request was let in: then it is refused like any other (rolled back).
          const stillLocked = await repos.loginFailures.clearOnSuccess(key)
          if (stillLocked !== null) throw lockedError(stillLocked)
        }
        await repos.sessions.create({ id: sessionId, userId: found.id, ...client, refresh, maxLifetimeSeconds })
        await repos.audit.record({ type: 'login_succeeded', userId: found.id, ...client, detail: { sessionId, knownDevice } })
        return user
      })
      if (user === null) {
        await audit.record({ type: 'login_failed', userId: found.id, ...client, detail: { reason: 'password_changed' satisfies LoginFailureReason, knownDevice } })
        throw new AppError('invalid_credentials', INVALID_CREDENTIALS)
      }
      return {
        user,
        tokens: await pair(user, sessionId, refresh, newSessionEnd(refresh)),
        deviceToken: devices.enabled ? devices.issue(user.id) : null
      }
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
      if (result.outcome === 'rotated') return await pair({ id: result.userId, roles: result.roles }, claims.sid, child, result.sessionEndsAt)
      if (result.outcome === 'session_expired') return await expireSession(claims, meta)
      if (result.outcome !== 'blacklisted') throw new AppError('token_invalid')
      // Already blacklisted. Rotated within the grace window (two tabs at once, or a reply the
      // client lost): the same child again, with a new access token.
      const replay = await rotation.rotatedChild({ jti: claims.jti, sessionId: claims.sid, graceSeconds, maxLifetimeSeconds })
      if (replay !== null) {
        const again = { sub: claims.sub, sid: claims.sid, ...replay.child }
        // No iat: the replayed token is older than this reply, so its time left counts from now.
        return await pair({ id: replay.userId, roles: replay.roles }, claims.sid, { token: tokens.signRefresh(again), exp: again.exp }, replay.sessionEndsAt)
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
    tokens: app.tokens,
    devices: app.devices,
    graceSeconds: config.REFRESH_GRACE_SECONDS,
    maxLifetimeSeconds: config.SESSION_MAX_LIFETIME,
    lockout: lockoutPolicy(config),
    log: app.log,
    emailVerification: config.EMAIL_VERIFICATION,
    onRegistered: app.emailFlows.afterRegister
  }))
}

export default fp(authServicePlugin, { name: 'auth-service', dependencies: ['config', 'database', 'passwords', 'tokens', 'email-flows'] })
