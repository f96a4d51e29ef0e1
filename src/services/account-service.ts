// What a signed-in user does to their own account that needs their password again:
// changing it and deleting the account. Both re-check the password (so a stolen access
// token alone can do neither) and report a wrong one as a field error, as dj-rest-auth
// does for old_password, rather than a 401 that clients would take for an expired token.
import type { PrismaClient } from '../generated/prisma/client.js'
import type { SqlClient } from '../db/sql.js'
import { AppError, type FieldError } from '../errors.js'
import { createAuditRepository } from '../repositories/audit-events.js'
import { createLiveUserRepository } from '../repositories/live-users.js'
import { createSessionRepository } from '../repositories/sessions.js'
import { createUserRepository, type User } from '../repositories/users.js'
import type { ClientMeta } from './auth-service.js'
import type { PasswordHasher } from './password-hasher.js'
import { checkPassword, type PasswordPolicy } from './password-policy.js'
import { loadLiveUser } from './live-user.js'

export interface AccountServiceOptions {
  prisma: PrismaClient
  /** The same database through the driver (the live-session check). */
  sql: SqlClient
  hasher: PasswordHasher
  passwordPolicy: PasswordPolicy
}

/** The caller, as its access token names it: user id and session id. */
export interface Caller { sub: string, sid: string }

const wrongPassword = (field: string): FieldError => ({ field, code: 'invalid_password', message: 'is incorrect' })

function invalid (errors: FieldError[]): AppError {
  return new AppError('validation_failed', 'The request is not valid', { errors })
}

export function createAccountService (options: AccountServiceOptions) {
  const { prisma, hasher, passwordPolicy } = options
  const liveUsers = createLiveUserRepository(options.sql)

  /**
   * A conditional write did nothing: either the session ended meanwhile (401, from
   * loadLiveUser) or the password was changed meanwhile, so the one given is no longer right.
   */
  async function lostRace (caller: Caller, field: string): Promise<never> {
    await loadLiveUser(liveUsers, caller)
    throw invalid([wrongPassword(field)])
  }

  return {
    /**
     * Stores the new password and ends every other session; the caller's keeps working.
     * `user` is the caller's row as the live-session check just read it.
     */
    async changePassword (caller: Caller, user: User, input: { currentPassword: string, newPassword: string }, meta: ClientMeta): Promise<void> {
      const check = await hasher.verify(input.currentPassword, user.passwordHash)
      const errors = [
        ...(check.ok ? [] : [wrongPassword('currentPassword')]),
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
      const check = await hasher.verify(password, user.passwordHash)
      if (!check.ok) throw invalid([wrongPassword('password')])
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
