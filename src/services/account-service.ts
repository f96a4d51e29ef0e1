// What a signed-in user does to their own account that needs their password again:
// changing it and deleting the account. Both re-check the password (so a stolen access
// token alone can do neither) and report a wrong one as a field error, as dj-rest-auth
// does for old_password, rather than a 401 that clients would take for an expired token.
import type { PrismaClient } from '../generated/prisma/client.js'
import { AppError, type FieldError } from '../errors.js'
import { createSessionRepository } from '../repositories/sessions.js'
import { createUserRepository, type User } from '../repositories/users.js'
import type { PasswordHasher } from './password-hasher.js'
import { checkPassword, type PasswordPolicy } from './password-policy.js'

export interface AccountServiceOptions {
  prisma: PrismaClient
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
  const users = createUserRepository(prisma)

  async function liveUser (caller: Caller): Promise<User> {
    const user = await users.findForAccess(caller.sub, caller.sid)
    if (user === null) throw new AppError('token_invalid', 'The session of this token has ended')
    return user
  }

  /**
   * A conditional write did nothing: either the session ended meanwhile (401, from
   * liveUser) or the password was changed meanwhile, so the one given is no longer right.
   */
  async function lostRace (caller: Caller, field: string): Promise<never> {
    await liveUser(caller)
    throw invalid([wrongPassword(field)])
  }

  return {
    /** Stores the new password and ends every other session; the caller's keeps working. */
    async changePassword (caller: Caller, input: { currentPassword: string, newPassword: string }): Promise<void> {
      const user = await liveUser(caller)
      const check = await hasher.verify(input.currentPassword, user.passwordHash)
      const errors = [
        ...(check.ok ? [] : [wrongPassword('currentPassword')]),
        ...checkPassword(input.newPassword, passwordPolicy, 'newPassword')
      ]
      if (errors.length > 0) throw invalid(errors)
      const newHash = await hasher.hash(input.newPassword)
      // One transaction: a new password with the old sessions still alive must never be
      // visible, nor revoked sessions with the old password still in place.
      const stored = await prisma.$transaction(async (tx) => {
        const ok = await createUserRepository(tx).replacePasswordHash({ userId: user.id, sessionId: caller.sid, expectedHash: user.passwordHash, newHash })
        if (ok) await createSessionRepository(tx).revokeAllForUser(user.id, 'password_changed', caller.sid)
        return ok
      })
      if (!stored) await lostRace(caller, 'currentPassword')
    },

    /** Deletes the user row; the database cascades to sessions and tokens. */
    async deleteAccount (caller: Caller, password: string): Promise<void> {
      const user = await liveUser(caller)
      const check = await hasher.verify(password, user.passwordHash)
      if (!check.ok) throw invalid([wrongPassword('password')])
      const deleted = await users.deleteUser({ userId: user.id, sessionId: caller.sid, expectedHash: user.passwordHash })
      if (!deleted) await lostRace(caller, 'password')
    }
  }
}

export type AccountService = ReturnType<typeof createAccountService>
