// The caller's own sessions (one per login): list them, end one, end all. Only ever the
// caller's: another user's session id is answered exactly like an unknown one (404).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { bearerProblems, bearerSecurity, problemResponse, problemResponses } from '../schemas/responses.js'
import { SessionList, SessionParams, toPublicSession } from '../schemas/session.js'
import { clientMeta } from '../services/client-meta.js'

const sessionRoutes: FastifyPluginAsyncTypebox = async (app) => {
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
    const live = await app.sessions.list(request.auth)
    return live.map((session) => toPublicSession(session, request.auth.sid))
  })

  app.delete('/:id', {
    // A malformed id is answered 404, like any id that is not one of the caller's sessions:
    // to the client it is simply not a session it can revoke.
    config: { notFoundOnBadParams: 'You have no session with this id' },
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
    await app.sessions.revoke(request.auth, request.params.id, clientMeta(request))
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
    await app.sessions.revokeAll(request.auth, clientMeta(request))
    return await reply.code(204).send(null)
  })
}

export default sessionRoutes
