// The caller's own sessions (one per login): list them, end one, end all. Only ever the
// caller's: another user's session id is answered exactly like an unknown one (404).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { AppError } from '../errors.js'
import { createAuditRepository } from '../repositories/audit-events.js'
import { createSessionRepository } from '../repositories/sessions.js'
import { bearerProblems, bearerSecurity, problemResponse, problemResponses } from '../schemas/responses.js'
import { SessionList, SessionParams, toPublicSession } from '../schemas/session.js'
import { clientMeta } from './auth/app.js'

const sessionRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { prisma } = app.db
  const sessions = createSessionRepository(prisma)
  app.addHook('onRequest', app.authenticate)
  app.addHook('onRequest', app.requireLiveSession)

  const security = bearerSecurity
  const errors = { ...bearerProblems, ...problemResponses(503) }

  // '' rather than '/': the collection is /v1/sessions, with no trailing-slash twin.
  app.get('', {
    schema: {
      tags: ['sessions'],
      summary: 'List the caller\'s live sessions',
      description: 'One per login that has not ended; `current` marks the session of the access token that asked.',
      security,
      response: { 200: SessionList, ...errors }
    }
  }, async (request) => {
    const live = await sessions.listLive(request.auth.sub)
    return live.map((session) => toPublicSession(session, request.auth.sid))
  })

  app.delete('/:id', {
    // A malformed id is answered 404, like any id that is not one of the caller's sessions:
    // to the client it is simply not a session it can revoke. attachValidation hands the
    // params error to the handler instead of the 400 path (there is no body to validate).
    attachValidation: true,
    schema: {
      tags: ['sessions'],
      summary: 'End one of the caller\'s sessions',
      description: 'Its refresh tokens stop at once; its access token gets 401 from authd (services that verify locally accept it until it expires).',
      security,
      params: SessionParams,
      response: {
        204: Type.Null({ description: 'Ended (or already ended).' }),
        ...errors,
        404: problemResponse(404, 'The caller has no session with this id (another user\'s session, a malformed id): `not_found`.')
      }
    }
  }, async (request, reply) => {
    const notFound = new AppError('not_found', 'You have no session with this id')
    // The id rule (schemas/common.ts) also keeps malformed ids away from the SQL ::uuid cast.
    if (request.validationError !== undefined) throw notFound
    // Either case names the same session; lower case, as stored, so that `current` below and the
    // audit event compare and record it as the session's own id.
    const id = request.params.id.toLowerCase()
    // The revocation and its audit event land together; ending an ended session records nothing.
    const { found } = await prisma.$transaction(async (tx) => {
      const result = await createSessionRepository(tx).revokeOwned(id, request.auth.sub, 'revoked')
      if (result.revoked) {
        await createAuditRepository(tx).record({ type: 'session_revoked', userId: request.auth.sub, ...clientMeta(request), detail: { sessionId: id, current: id === request.auth.sid } })
      }
      return result
    })
    if (!found) throw notFound
    return await reply.code(204).send(null)
  })

  app.delete('', {
    schema: {
      tags: ['sessions'],
      summary: 'End every session of the caller ("log out everywhere")',
      description: 'This session included.',
      security,
      response: { 204: Type.Null({ description: 'All ended.' }), ...errors }
    }
  }, async (request, reply) => {
    // "Log out everywhere" includes this session: its refresh token stops at once and its
    // access token gets 401 on authd's routes (services that verify locally accept it
    // until it expires, at most ACCESS_TOKEN_TTL).
    await prisma.$transaction(async (tx) => {
      const revoked = await createSessionRepository(tx).revokeAllForUser(request.auth.sub, 'revoked')
      await createAuditRepository(tx).record({ type: 'sessions_revoked_all', userId: request.auth.sub, ...clientMeta(request), detail: { sessionsRevoked: revoked } })
    })
    return await reply.code(204).send(null)
  })
}

export default sessionRoutes
