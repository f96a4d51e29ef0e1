// The caller's own sessions (one per login): list them, end one, end all. Only ever the
// caller's: another user's session id is answered exactly like an unknown one (404).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { AppError } from '../errors.js'
import { createSessionRepository } from '../repositories/sessions.js'
import { ProblemSchema } from '../schemas/common.js'
import { SessionList, SessionParams, toPublicSession } from '../schemas/session.js'
import { requireLiveSession } from './require-live-session.js'

const sessionRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const sessions = createSessionRepository(app.db.prisma)
  app.addHook('onRequest', app.authenticate)
  app.addHook('onRequest', requireLiveSession(app))

  const security = [{ bearerAuth: [] }]

  app.get('/', {
    schema: { tags: ['sessions'], security, response: { 200: SessionList, 401: ProblemSchema } }
  }, async (request) => {
    const live = await sessions.listLive(request.auth.sub)
    return live.map((session) => toPublicSession(session, request.auth.sid))
  })

  app.delete('/:id', {
    // A malformed id is answered 404, like any id that is not one of the caller's sessions:
    // to the client it is simply not a session it can revoke. attachValidation hands the
    // params error to the handler instead of the 400 path (there is no body to validate).
    attachValidation: true,
    schema: { tags: ['sessions'], security, params: SessionParams, response: { 204: Type.Null(), 401: ProblemSchema, 404: ProblemSchema } }
  }, async (request, reply) => {
    const notFound = new AppError('not_found', 'You have no session with this id')
    // The UUID check also keeps malformed ids away from the SQL ::uuid cast.
    if (request.validationError !== undefined) throw notFound
    if (!await sessions.revokeOwned(request.params.id, request.auth.sub, 'revoked')) throw notFound
    return await reply.code(204).send(null)
  })

  app.delete('/', {
    schema: { tags: ['sessions'], security, response: { 204: Type.Null(), 401: ProblemSchema } }
  }, async (request, reply) => {
    // "Log out everywhere" includes this session: its refresh token stops at once and its
    // access token gets 401 on authd's routes (services that verify locally accept it
    // until it expires, at most ACCESS_TOKEN_TTL).
    await sessions.revokeAllForUser(request.auth.sub, 'revoked')
    return await reply.code(204).send(null)
  })
}

export default sessionRoutes
