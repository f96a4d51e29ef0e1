// What a signed-in user does to their own account that needs their password again:
// changing it and deleting the account. Both re-check the password (so a stolen access
// token alone can do neither) and report a wrong one as a field error, as dj-rest-auth
// does for old_password, rather than a 401 that clients would take for an expired token.
//
// Such a check is a password-guessing oracle for whoever holds an access token, so it is
// held to the login's rules: its failures count under the account's lockout key (the key of
// logins with the account's email), each one is audited (`password_check_failed`), and the
// failure that locks the key also ends the calling session (401), so a stolen token gets no
// more guesses than a login would.
import type { PrismaClient } from '../generated/prisma/client.js'
import type { SqlClient } from '../db/sql.js'
import { AppError, type FieldError } from '../errors.js'
import { createAuditRepository } from '../repositories/audit-events.js'
import { createLiveUserRepository } from '../repositories/live-users.js'
import { createLoginFailureRepository, loginFailureKey, type LockoutPolicy } from '../repositories/login-failures.js'
import { createSessionRepository } from '../repositories/sessions.js'
import { createUserRepository, type User } from '../repositories/users.js'
import type { ClientMeta } from './auth-service.js'
import type { PasswordHasher } from './password-hasher.js'
import { checkPassword, type PasswordPolicy } from './password-policy.js'
import { loadLiveUser } from './live-user.js'
import { lockedError } from './lockout.js'

export interface AccountServiceOptions {
  prisma: PrismaClient
  /** The same database through the driver (the live-session check). */
  sql: SqlClient
  hasher: PasswordHasher
  passwordPolicy: PasswordPolicy
  /** The login's lockout (threshold 0: off), which these password checks share. */
  lockout: LockoutPolicy
  /** SESSION_MAX_LIFETIME, for the live-session check. */
  maxLifetimeSeconds: number
}

/** The caller, as its access token names it: user id and session id. */
export interface Caller { sub: string, sid: string }

const wrongPassword = (field: string): FieldError => ({ field, code: 'invalid_password', message: 'is incorrect' })

function invalid (errors: FieldError[]): AppError {
  return new AppError('validation_failed', 'The request is not valid', { errors })
}

export function createAccountService (options: AccountServiceOptions) {
  const { prisma, hasher, passwordPolicy, lockout } = options
  const liveUsers = createLiveUserRepository(options.sql, { maxLifetimeSeconds: options.maxLifetimeSeconds })
  const failures = createLoginFailureRepository(prisma)

  /**
   * A conditional write did nothing: either the session ended meanwhile (401, from
   * loadLiveUser) or the password was changed meanwhile, so the one given is no longer right.
   */
  async function lostRace (caller: Caller, field: string): Promise<never> {
    await loadLiveUser(liveUsers, caller)
    throw invalid([wrongPassword(field)])
  }

  /**
   * Checks the caller's password under the lockout (see the top of this file). True when it
   * is right. While the account's key is locked nothing is checked (429 account_locked, as a
   * login gets); a wrong one is counted and audited, and the one that locks the key ends the
   * calling session and answers 401.
   */
  async function passwordIsRight (caller: Caller, user: User, password: string, field: string, meta: ClientMeta): Promise<boolean> {
    const key = lockout.threshold > 0 ? loginFailureKey(user.email) : null
    const lockedFor = key === null ? null : await failures.lockedFor(key)
    if (lockedFor !== null) {
      await createAuditRepository(prisma).record({ type: 'password_check_failed', userId: user.id, ...meta, detail: { sessionId: caller.sid, field, reason: 'locked' } })
      throw lockedError(lockedFor)
    }
    const check = await hasher.verify(password, user.passwordHash)
    if (check.ok) return true
    // The count, its audit events and (on the locking failure) the session's end land together.
    const counted = await prisma.$transaction(async (tx) => {
      const count = key === null ? null : await createLoginFailureRepository(tx).recordFailure(key, lockout)
      const events = createAuditRepository(tx)
      await events.record({
        type: 'password_check_failed',
        userId: user.id,
        ...meta,
        detail: { sessionId: caller.sid, field, reason: 'wrong_password', ...(count === null ? {} : { failures: count.failures }) }
      })
      if (count?.lockedFor != null) {
        await createSessionRepository(tx).revoke(caller.sid, 'password_check_failed')
        if (count.justLocked) await events.record({ type: 'account_locked', userId: user.id, ...meta, detail: { failures: count.failures, lockedForSeconds: count.lockedFor } })
      }
      return count
    })
    if (counted?.lockedFor != null) {
      throw new AppError('token_invalid', 'Too many wrong passwords: this session has been ended and the account is locked for a while')
    }
    return false
  }

  return {
    /**
     * Stores the new password and ends every other session; the caller's keeps working.
     * `user` is the caller's row as the live-session check just read it.
     */
    async changePassword (caller: Caller, user: User, input: { currentPassword: string, newPassword: string }, meta: ClientMeta): Promise<void> {
      const right = await passwordIsRight(caller, user, input.currentPassword, 'currentPassword', meta)
      const errors = [
        ...(right ? [] : [wrongPassword('currentPassword')]),
        ...checkPassword(input.newPassword, passwordPolicy, 'newPassword', user)
      ]
      if (errors.length > 0) throw invalid(errors)
      const newHash = await hasher.hash(input.newPassword)
      // One transaction: a new password with the old sessions still alive must never be
      // visible, nor revoked sessions with the old password still in place.
      const stored = await prisma.$transaction(async (tx) => {
        const ok = await createUserRepository(tx).replacePasswordHash({ userId: user.id, sessionId: caller.sid, expectedHash: user.passwordHash, newHash })
        if (ok) {
          const revoked = await createSessionRepository(tx).revokeAllForUser(user.id, 'password_changed', caller.sid)
          await createAuditRepository(tx).record({ type: 'password_changed', userId: user.id, ...meta, detail: { sessionId: caller.sid, sessionsRevoked: revoked } })
        }
        return ok
      })
      if (!stored) await lostRace(caller, 'currentPassword')
    },

    /**
     * Deletes the user row; the database cascades to sessions and tokens. The audit event
     * (whose user_id has no foreign key) outlives the account, and keeps its email address:
     * afterwards nothing else says whose id it was.
     */
    async deleteAccount (caller: Caller, user: User, password: string, meta: ClientMeta): Promise<void> {
      if (!await passwordIsRight(caller, user, password, 'password', meta)) throw invalid([wrongPassword('password')])
      const deleted = await prisma.$transaction(async (tx) => {
        const ok = await createUserRepository(tx).deleteUser({ userId: user.id, sessionId: caller.sid, expectedHash: user.passwordHash })
        if (ok) await createAuditRepository(tx).record({ type: 'account_deleted', userId: user.id, ...meta, detail: { email: user.email, sessionId: caller.sid } })
        return ok
      })
      if (!deleted) await lostRace(caller, 'password')
    }
  }
}

export type AccountService = ReturnType<typeof createAccountService>
