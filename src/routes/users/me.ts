// The caller's own user: read it, update the profile, list its security events.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { DEFAULT_PAGE_LIMIT } from '../../schemas/admin.js'
import { EventList, EventListQuery, toPublicEvent } from '../../schemas/audit.js'
import { bearerProblems, bearerSecurity, bodyProblems, problemResponse, problemResponses } from '../../schemas/responses.js'
import { UpdateMeBody, UserSchema, toPublicUser } from '../../schemas/user.js'

const meRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', app.authenticate)
  app.addHook('onRequest', app.requireLiveSession)

  app.get('/me', {
    schema: {
      tags: ['users'],
      summary: 'Who am I: the caller\'s user',
      security: bearerSecurity,
      response: { 200: UserSchema, ...bearerProblems, ...problemResponses(503) }
    }
  }, async (request) => toPublicUser(request.currentUser))

  app.patch('/me', {
    schema: {
      tags: ['users'],
      summary: 'Update the caller\'s profile',
      description: 'Only `username`, `fullName`, `bio` and `birthDate` (`null` clears `username` and `birthDate`); any other field is `unknown_field`.',
      security: bearerSecurity,
      body: UpdateMeBody,
      response: {
        200: UserSchema,
        ...bodyProblems,
        ...bearerProblems,
        409: problemResponse(409, 'The username is taken: `username_taken`.', 'username_taken'),
        ...problemResponses(503)
      }
    }
  }, async (request) => {
    const { birthDate, ...rest } = request.body
    const user = await app.accounts.updateProfile(request.currentUser, {
      ...rest,
      ...(birthDate === undefined ? {} : { birthDate: birthDate === null ? null : new Date(`${birthDate}T00:00:00Z`) })
    })
    return toPublicUser(user)
  })

  // The caller's own security events (logins, failed logins, password changes, sessions
  // ended, changes an admin made…), newest first, so a user can spot activity that was not
  // theirs. Who the actor was stays with the admin listing.
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
    const page = await app.audit.list({ userId: request.currentUser.id, before: cursor, limit: limit === undefined ? DEFAULT_PAGE_LIMIT : Number(limit) })
    return { events: page.events.map(toPublicEvent), nextCursor: page.nextCursor }
  })
}

export default meRoutes
