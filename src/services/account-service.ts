// What a signed-in user does to their own account: update the profile, and what needs their
// password again: changing it and deleting the account. Both re-check the password (so a stolen access
// token alone can do neither) and report a wrong one as a field error, as dj-rest-auth
// does for old_password, rather than a 401 that clients would take for an expired token.
//
// Such a check is a password-guessing oracle for whoever holds an access token, so it is
// held to the login's rules: its failures count under the account's lockout key (the key of
// logins with the account's email), each one is audited (`password_check_failed`), and the
// failure that locks the key also ends the calling session (401), so a stolen token gets no
// more guesses than a login would.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { AppError, type FieldError } from '../errors.js'
import { loginFailureKey, type LockoutPolicy } from '../repositories/login-failures.js'
import type { UnitOfWork } from '../repositories/unit-of-work.js'
import type { User, UserPatch } from '../repositories/users.js'
import type { ClientMeta } from './client-meta.js'
import { proofInvalid, proofMethod, type FactorProof, type MfaService } from './mfa-service.js'
import type { Passwords } from './passwords.js'
import type { Caller, SessionService } from './session-service.js'
import { countFailure, lockedError, lockoutPolicy } from './lockout.js'

export interface AccountServiceOptions {
  db: UnitOfWork
  passwords: Passwords
  /** The second factor, for re-authentication with a code. */
  mfa: MfaService
  /** The live-session check, when a conditional write finds the caller's session gone. */
  sessions: SessionService
  /** The login's lockout (threshold 0: off), which these password checks share. */
  lockout: LockoutPolicy
}

const wrongPassword = (field: string): FieldError => ({ field, code: 'invalid_password', message: 'is incorrect' })

function invalid (errors: FieldError[]): AppError {
  return new AppError('validation_failed', 'The request is not valid', { errors })
}

export function createAccountService (options: AccountServiceOptions) {
  const { db, passwords, sessions, mfa, lockout } = options
  const { hasher } = passwords
  const failures = db.repos.loginFailures

  /**
   * A conditional write did nothing: either the session ended meanwhile (401, from
   * the live-session check) or the password was changed meanwhile, so the one given is no
   * longer right.
   */
  async function lostRace (caller: Caller, field: string): Promise<never> {
    await sessions.liveUser(caller)
    throw invalid([wrongPassword(field)])
  }

  /**
   * Checks the caller's password under the lockout (see the top of this file). True when it
   * is right. While the account's key is locked nothing is checked (429 account_locked, as a
   * login gets); a wrong one is counted and audited, and the one that locks the key ends the
   * calling session and answers 401.
   */
  async function passwordIsRight (caller: Caller, user: User, password: string, field: string, meta: ClientMeta): Promise<boolean> {
    return await guardedCheck(caller, user, field, meta, 'password_check_failed', async () => (await hasher.verify(password, user.passwordHash)).ok)
  }

  /**
   * The lockout around any check of the signed-in caller's secret (password, second-factor
   * code): refused while the account's key is locked; a failure is counted and audited as
   * `event`, and the one that locks the key ends the calling session (401).
   */
  async function guardedCheck (caller: Caller, user: User, field: string, meta: ClientMeta, event: 'password_check_failed' | 'mfa_failed', check: () => Promise<boolean>): Promise<boolean> {
    const key = lockout.threshold > 0 ? loginFailureKey(user.email) : null
    const lockedFor = key === null ? null : await failures.lockedFor(key)
    if (lockedFor !== null) {
      await db.repos.audit.record({ type: event, userId: user.id, ...meta, detail: { sessionId: caller.sid, field, reason: 'locked' } })
      throw lockedError(lockedFor)
    }
    if (await check()) return true
    // The count, its audit events and (on the locking failure) the session's end land together.
    const counted = await db.transaction(async (repos) => {
      const reason = field === 'password' || field === 'currentPassword' ? 'wrong_password' : 'wrong_code'
      const count = await countFailure(repos, { key, lockout, event: { type: event, userId: user.id, ...meta, detail: { sessionId: caller.sid, field, reason } } })
      if (count?.lockedFor != null) await repos.sessions.revoke(caller.sid, 'password_check_failed')
      return count
    })
    if (counted?.lockedFor != null) {
      throw new AppError('token_invalid', 'Too many wrong attempts: this session has been ended and the account is locked for a while')
    }
    return false
  }

  return {
    /**
     * POST /users/me/reauthenticate: the caller proves again who they are, and their session's
     * auth_time becomes now (step-up). With a second factor on, only a code will do: a
     * password alone is what a thief of the password and a token would have.
     */
    async reauthenticate (caller: Caller, user: User, proof: { password?: string, code?: string, recoveryCode?: string, webauthn?: unknown }, meta: ClientMeta): Promise<void> {
      const given = [proof.password, proof.code, proof.recoveryCode, proof.webauthn].filter((value) => value !== undefined).length
      if (given !== 1) throw new AppError('validation_failed', 'Give exactly one of password, code, recoveryCode and webauthn', { errors: [{ field: 'body', code: 'invalid_value', message: 'exactly one of password, code, recoveryCode and webauthn' }] })
      const factors = await mfa.factors(user.id)
      if (proof.password !== undefined) {
        if (factors.totp) throw new AppError('reauthentication_required', 'This account has a second factor: re-authenticate with a code, a recovery code or a passkey')
        if (!await passwordIsRight(caller, user, proof.password, 'password', meta)) throw invalid([wrongPassword('password')])
        await db.transaction(async (repos) => {
          if (!await repos.sessions.reauthenticated(caller.sid, ['pwd'])) await lostRace(caller, 'password')
          await repos.audit.record({ type: 'reauthenticated', userId: user.id, ...meta, detail: { sessionId: caller.sid, method: 'password' } })
        })
        return
      }
      const factorProof: FactorProof = proof.code !== undefined ? { code: proof.code } : proof.recoveryCode !== undefined ? { recoveryCode: proof.recoveryCode } : { webauthn: proof.webauthn }
      const field = proofMethod(factorProof) === 'totp' ? 'code' : proofMethod(factorProof) === 'recovery_code' ? 'recoveryCode' : 'webauthn'
      const right = await guardedCheck(caller, user, field, meta, 'mfa_failed', async () => {
        const checked = await mfa.check(user.id, factorProof)
        if (checked === null) return false
        // The code is used up together with the session's new auth_time, or not at all.
        return await db.transaction(async (repos) => {
          const used = await checked.consume(repos)
          if (!used.ok) return false
          if (!await repos.sessions.reauthenticated(caller.sid, checked.amr)) return false
          await repos.audit.record({ type: 'reauthenticated', userId: user.id, ...meta, detail: { sessionId: caller.sid, method: checked.method } })
          if (used.left !== undefined) await repos.audit.record({ type: 'recovery_code_used', userId: user.id, ...meta, detail: { left: used.left } })
          if (checked.method === 'webauthn') await repos.audit.record({ type: 'passkey_used', userId: user.id, ...meta, detail: { sessionId: caller.sid, reauthentication: true } })
          return true
        })
      })
      if (!right) throw proofInvalid(factorProof)
    },

    /** PATCH /users/me: 409 username_taken when the new username is someone else's. */
    async updateProfile (user: User, patch: UserPatch): Promise<User> {
      return await db.repos.users.update(user.id, patch)
    },

    /**
     * Stores the new password and ends every other session; the caller's keeps working.
     * `user` is the caller's row as the live-session check just read it.
     */
    async changePassword (caller: Caller, user: User, input: { currentPassword: string, newPassword: string }, meta: ClientMeta): Promise<void> {
      await sessions.requireRecentAuthentication(caller)
      const right = await passwordIsRight(caller, user, input.currentPassword, 'currentPassword', meta)
      const errors = [
        ...(right ? [] : [wrongPassword('currentPassword')]),
        ...passwords.problems(input.newPassword, 'newPassword', user)
      ]
      if (errors.length > 0) throw invalid(errors)
      const newHash = await hasher.hash(input.newPassword)
      // One transaction: a new password with the old sessions still alive must never be
      // visible, nor revoked sessions with the old password still in place.
      const stored = await db.transaction(async (repos) => {
        const ok = await repos.users.replacePasswordHash({ userId: user.id, sessionId: caller.sid, expectedHash: user.passwordHash, newHash })
        if (ok) {
          const revoked = await repos.sessions.revokeAllForUser(user.id, 'password_changed', caller.sid)
          await repos.audit.record({ type: 'password_changed', userId: user.id, ...meta, detail: { sessionId: caller.sid, sessionsRevoked: revoked } })
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
      await sessions.requireRecentAuthentication(caller)
      if (!await passwordIsRight(caller, user, password, 'password', meta)) throw invalid([wrongPassword('password')])
      const deleted = await db.transaction(async (repos) => {
        const ok = await repos.users.deleteUser({ userId: user.id, sessionId: caller.sid, expectedHash: user.passwordHash })
        if (ok) await repos.audit.record({ type: 'account_deleted', userId: user.id, ...meta, detail: { email: user.email, sessionId: caller.sid } })
        return ok
      })
      if (!deleted) await lostRace(caller, 'password')
    }
  }
}

export type AccountService = ReturnType<typeof createAccountService>

declare module 'fastify' {
  interface FastifyInstance {
    /** Profile updates, password change and account deletion by the signed-in user. */
    accounts: AccountService
  }
}

async function accountServicePlugin (app: FastifyInstance): Promise<void> {
  app.decorate('accounts', createAccountService({ db: app.db, passwords: app.passwords, sessions: app.sessions, mfa: app.mfa, lockout: lockoutPolicy(app.config) }))
}

export default fp(accountServicePlugin, { name: 'account-service', dependencies: ['config', 'database', 'passwords', 'session-service', 'mfa-service'] })
