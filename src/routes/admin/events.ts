// GET /v1/admin/events: every security event, newest first, for admins (current role, as in
// users.ts), optionally only one user's or one type's.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { DEFAULT_PAGE_LIMIT } from '../../schemas/admin.js'
import { AdminEventList, AdminEventListQuery, toAdminEvent } from '../../schemas/audit.js'
import { bearerProblems, bearerSecurity, problemResponse, problemResponses } from '../../schemas/responses.js'
import { ADMIN_ROLE } from '../../services/admin-service.js'

const adminEventRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', app.authenticate)
  app.addHook('onRequest', app.requireLiveSession)
  app.addHook('onRequest', app.requireRole(ADMIN_ROLE))

  app.get('/events', {
    schema: {
      tags: ['admin'],
      summary: 'List security events',
      description: 'Every user\'s security events, newest first, a page at a time (pass `nextCursor` back as `cursor`); `userId` and `type` narrow the list.',
      security: bearerSecurity,
      querystring: AdminEventListQuery,
      response: {
        200: AdminEventList,
        400: problemResponse(400, 'A query parameter is unknown or malformed (`userId` not a UUID, `type` not an event type), or the cursor is not one authd handed out: `validation_failed`.'),
        ...bearerProblems,
        403: problemResponse(403, 'The caller\'s current roles do not include `admin`: `forbidden`.', 'forbidden'),
        ...problemResponses(503)
      }
    }
  }, async (request) => {
    const { userId, type, limit, cursor } = request.query
    const page = await app.audit.list({ userId, type, before: cursor, limit: limit === undefined ? DEFAULT_PAGE_LIMIT : Number(limit) })
    return { events: page.events.map(toAdminEvent), nextCursor: page.nextCursor }
  })
}

export default adminEventRoutes
