// GET /v1/users/me/events: the caller's own security events (logins, failed logins, password
// changes, sessions ended, changes an admin made…), newest first, so a user can spot activity
// that was not theirs. Who the actor was stays with the admin listing.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { createAuditRepository } from '../../repositories/audit-events.js'
import { DEFAULT_PAGE_LIMIT } from '../../schemas/admin.js'
import { EventList, EventListQuery, toPublicEvent } from '../../schemas/audit.js'
import { bearerProblems, bearerSecurity, problemResponse, problemResponses } from '../../schemas/responses.js'

const myEventRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const audit = createAuditRepository(app.db.prisma)
  app.addHook('onRequest', app.authenticate)
  app.addHook('onRequest', app.requireLiveSession)

  app.get('/me/events', {
    schema: {
      tags: ['users'],
      summary: 'List my security events',
      description: 'The caller\'s security events, newest first, a page at a time (pass `nextCursor` back as `cursor` until it is null).',
      security: bearerSecurity,
      querystring: EventListQuery,
      response: {
        200: EventList,
        400: problemResponse(400, 'A query parameter is unknown or out of range, or the cursor is not one authd handed out: `validation_failed`.'),
        ...bearerProblems,
        ...problemResponses(503)
      }
    }
  }, async (request) => {
    const { limit, cursor } = request.query
    const page = await audit.list({ userId: request.currentUser.id, before: cursor, limit: limit === undefined ? DEFAULT_PAGE_LIMIT : Number(limit) })
    return { events: page.events.map(toPublicEvent), nextCursor: page.nextCursor }
  })
}

export default myEventRoutes
