// The `audit` service: reading the security-event trail, a page at a time, newest first —
// a user's own events (GET /v1/users/me/events) and everyone's for admins
// (GET /v1/admin/events). Events are written by the service whose change they describe, in
// the same transaction (repos.audit.record), never by a route.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { AuditEvent, AuditQuery } from '../repositories/audit-events.js'
import type { UnitOfWork } from '../repositories/unit-of-work.js'

export function createAuditService (db: UnitOfWork) {
  return {
    /** A page of events, newest first (`before`: the previous page's nextCursor); a user id in either case. */
    async list (query: AuditQuery): Promise<{ events: AuditEvent[], nextCursor: string | null }> {
      return await db.repos.audit.list({ ...query, userId: query.userId?.toLowerCase() })
    }
  }
}

export type AuditService = ReturnType<typeof createAuditService>

declare module 'fastify' {
  interface FastifyInstance {
    /** The security-event trail, for reading. */
    audit: AuditService
  }
}

async function auditServicePlugin (app: FastifyInstance): Promise<void> {
  app.decorate('audit', createAuditService(app.db))
}

export default fp(auditServicePlugin, { name: 'audit-service', dependencies: ['database'] })
