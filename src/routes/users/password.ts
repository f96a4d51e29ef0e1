// POST /v1/users/me/password: change the password, knowing the current one. Every other
// session of the user ends (a thief's copy of a token goes with them); this one goes on.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ChangePasswordBody } from '../../schemas/account.js'
import { ProblemSchema } from '../../schemas/common.js'
import { requireLiveSession } from '../require-live-session.js'

const passwordRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/me/password', {
    // The current password is checked here, so this route is a password-guessing oracle
    // for whoever holds an access token: it draws on the login budget of the client's IP.
    onRequest: [app.authenticate, ...app.rateLimitHooks('login'), requireLiveSession(app)],
    schema: {
      tags: ['users'],
      security: [{ bearerAuth: [] }],
      body: ChangePasswordBody,
      response: { 204: Type.Null(), 400: ProblemSchema, 401: ProblemSchema, 429: ProblemSchema }
    }
  }, async (request, reply) => {
    await app.accounts.changePassword(request.auth, request.body)
    return await reply.code(204).send(null)
  })
}

export default passwordRoutes
