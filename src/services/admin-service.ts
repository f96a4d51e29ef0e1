// What an admin does to other accounts: find them, activate or deactivate them, set their
// roles, end their sessions. Every change is one transaction with its audit event (and, for a
// deactivation, with the revocation of every session), so no reader ever sees a deactivated
// user whose refresh tokens still work.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { AppError } from '../errors.js'
import type { AdminFields, UserKey } from '../repositories/admin-users.js'
import type { UnitOfWork } from '../repositories/unit-of-work.js'
import type { User } from '../repositories/users.js'
import { isUuid } from '../schemas/common.js'
import type { Actor } from './client-meta.js'
import type { SessionService } from './session-service.js'

/** The role that unlocks the admin API. */
export const ADMIN_ROLE = 'admin'

const notFound = () => new AppError('not_found', 'There is no user with this id')

/**
 * The id as stored (lower case; the route's schema took only UUIDs). PostgreSQL reads an
 * upper-case UUID as the same row, so comparing the raw text with the admin's own id would
 * let "myself" slip past the self-lockout check.
 */
const userId = (id: string): string => id.toLowerCase()

/**
 * Cursors are opaque to clients: base64url of "<createdAt ISO>|<id>" of the last user of a
 * page. Anything that does not decode to that is a 400, never a database error.
 */
export function encodeUserCursor (key: UserKey): string {
  return Buffer.from(`${key.createdAt.toISOString()}|${key.id}`).toString('base64url')
}

export function decodeUserCursor (cursor: string): UserKey {
  const invalid = new AppError('validation_failed', 'The request is not valid', {
    errors: [{ field: 'cursor', code: 'invalid_format', message: 'is not a cursor this API returned' }]
  })
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid
  const [iso, id, extra] = Buffer.from(cursor, 'base64url').toString('utf8').split('|')
  const createdAt = new Date(iso ?? '')
  if (extra !== undefined || !isUuid(id) || Number.isNaN(createdAt.getTime()) || createdAt.toISOString() !== iso) throw invalid
  return { createdAt, id }
}

export function createAdminService (db: UnitOfWork, sessions: SessionService) {
  const users = db.repos.adminUsers
  const recentlyAuthenticated = async (actor: Actor): Promise<void> => { await sessions.requireRecentAuthentication({ sub: actor.id, sid: actor.sessionId }) }

  return {
    async listUsers (query: { q?: string, limit: number, cursor?: string }): Promise<{ users: User[], nextCursor: string | null }> {
      const after = query.cursor === undefined ? undefined : decodeUserCursor(query.cursor)
      // One row more than the page: whether it exists says if there is a next page.
      const rows = await users.search({ q: query.q?.trim(), after, limit: query.limit + 1 })
      const page = rows.slice(0, query.limit)
      const last = page.at(-1)
      return { users: page, nextCursor: rows.length > query.limit && last !== undefined ? encodeUserCursor(last) : null }
    },

    async getUser (rawId: string): Promise<User> {
      const user = await users.findById(userId(rawId))
      if (user === null) throw notFound()
      return user
    },

    /**
     * Sets isActive and/or roles. Deactivating ends every session of the user in the same
     * transaction (their access tokens then fail on authd at once: the live-session check
     * reads isActive). An admin may not deactivate themselves or drop their own admin role:
     * that is how the last admin locks everyone out (409 self_lockout).
     */
    async updateUser (actor: Actor, rawId: string, patch: AdminFields): Promise<User> {
      const id = userId(rawId)
      if (id === actor.id && (patch.isActive === false || (patch.roles !== undefined && !patch.roles.includes(ADMIN_ROLE)))) {
        throw new AppError('self_lockout', 'You cannot deactivate yourself or remove your own admin role; ask another admin')
      }
      // Handing out or taking away roles is sensitive: the admin must have authenticated recently.
      if (patch.roles !== undefined) await recentlyAuthenticated(actor)
      return await db.transaction(async (repos) => {
        const repo = repos.adminUsers
        const before = await repo.findForUpdate(id)
        if (before === null) throw notFound()
        const changed: string[] = []
        if (patch.isActive !== undefined && patch.isActive !== before.isActive) changed.push('isActive')
        if (patch.roles !== undefined && !sameRoles(patch.roles, before.roles)) changed.push('roles')
        // Deactivating an already inactive user still ends any session left (none should be).
        const sessionsRevoked = patch.isActive === false ? await repos.sessions.revokeAllForUser(id, 'deactivated') : 0
        if (changed.length === 0 && sessionsRevoked === 0) return before
        const after = await repo.setAdminFields(id, patch)
        await repos.audit.record({
          type: 'admin_user_updated',
          userId: id,
          actorId: actor.id,
          ip: actor.ip,
          userAgent: actor.userAgent,
          detail: {
            changed,
            oldIsActive: before.isActive,
            newIsActive: after.isActive,
            oldRoles: before.roles,
            newRoles: after.roles,
            sessionsRevoked
          }
        })
        return after
      })
    },

    /**
     * Removes every second factor of the user (a lost authenticator and lost recovery codes,
     * and their passkeys): they then log in with the password alone and may enrol again. Needs the admin's recent
     * authentication; audited with the admin as actor.
     */
    async resetMfa (actor: Actor, rawId: string): Promise<void> {
      const id = userId(rawId)
      await recentlyAuthenticated(actor)
      await db.transaction(async (repos) => {
        if (await repos.adminUsers.findById(id) === null) throw notFound()
        const removed = await repos.mfa.removeAll(id)
        const passkeysRemoved = await repos.passkeys.deleteAllOfUser(id)
        await repos.audit.record({ type: 'admin_mfa_reset', userId: id, actorId: actor.id, ip: actor.ip, userAgent: actor.userAgent, detail: { removed, passkeysRemoved } })
      })
    },

    /** Ends every session of the user ("log out everywhere" on their behalf). */
    async revokeSessions (actor: Actor, rawId: string): Promise<number> {
      const id = userId(rawId)
      return await db.transaction(async (repos) => {
        if (await repos.adminUsers.findById(id) === null) throw notFound()
        const sessionsRevoked = await repos.sessions.revokeAllForUser(id, 'revoked')
        await repos.audit.record({
          type: 'admin_sessions_revoked',
          userId: id,
          actorId: actor.id,
          ip: actor.ip,
          userAgent: actor.userAgent,
          detail: { sessionsRevoked }
        })
        return sessionsRevoked
      })
    }
  }
}

/** Roles are a set: the same names in another order are no change. */
function sameRoles (a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n')
}

export type AdminService = ReturnType<typeof createAdminService>

declare module 'fastify' {
  interface FastifyInstance {
    /** The admin API over users. */
    admin: AdminService
  }
}

async function adminServicePlugin (app: FastifyInstance): Promise<void> {
  app.decorate('admin', createAdminService(app.db, app.sessions))
}

export default fp(adminServicePlugin, { name: 'admin-service', dependencies: ['database', 'session-service'] })
