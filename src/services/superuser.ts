// The first admin (`authd createsuperuser`, like Django's createsuperuser): there is no HTTP
// way to become admin without one, so the operator creates it on the machine, next to the
// database. Creating the user and recording the event is one transaction.
import { randomUUID } from 'node:crypto'
import { AppError } from '../errors.js'
import type { UnitOfWork } from '../repositories/unit-of-work.js'
import type { User } from '../repositories/users.js'
import { ADMIN_ROLE } from './admin-service.js'

export interface SuperuserInput {
  email: string
  username?: string
  fullName?: string
  /** Already hashed: the caller checked the policy and hashed it. */
  passwordHash: string
  /** An existing account with this email becomes admin (else: refused). */
  updateExisting: boolean
}

export type SuperuserResult =
  | { outcome: 'created', user: User }
  /** --update-existing: made admin, activated, new password, `sessionsRevoked` sessions ended. */
  | { outcome: 'updated', user: User, sessionsRevoked: number }
  | { outcome: 'email_taken' }
  | { outcome: 'username_taken' }

const VIA = 'createsuperuser'

export async function createSuperuser (db: UnitOfWork, input: SuperuserInput): Promise<SuperuserResult> {
  try {
    return await db.transaction(async (repos): Promise<SuperuserResult> => {
      const { audit, adminUsers: admins } = repos
      const existing = await repos.users.findByLogin(input.email)
      if (existing === null) {
        const user = await admins.createPrivileged({ id: randomUUID(), email: input.email, username: input.username, fullName: input.fullName, passwordHash: input.passwordHash, roles: [ADMIN_ROLE] })
        await audit.record({ type: 'user_registered', userId: user.id, detail: { via: VIA, roles: user.roles } })
        return { outcome: 'created', user }
      }
      if (!input.updateExisting) return { outcome: 'email_taken' }
      const roles = existing.roles.includes(ADMIN_ROLE) ? existing.roles : [...existing.roles, ADMIN_ROLE]
      const user = await admins.restoreAsPrivileged(existing.id, { roles, passwordHash: input.passwordHash })
      // A new password ends every session, as a password reset does.
      const sessionsRevoked = await repos.sessions.revokeAllForUser(existing.id, 'password_changed')
      await audit.record({
        type: 'admin_user_updated',
        userId: user.id,
        detail: { via: VIA, changed: ['roles', 'isActive', 'password'], oldIsActive: existing.isActive, newIsActive: true, oldRoles: existing.roles, newRoles: roles, sessionsRevoked }
      })
      return { outcome: 'updated', user, sessionsRevoked }
    })
  } catch (error) {
    // Another process registered the same address or username meanwhile (the users
    // repository reports it as the API does).
    if (error instanceof AppError && (error.code === 'email_taken' || error.code === 'username_taken')) return { outcome: error.code }
    throw error
  }
}
