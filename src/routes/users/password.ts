// POST /v1/users/me/password: change the password, knowing the current one. Every other
// session of the user ends (a thief's copy of a token goes with them); this one goes on.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { clientMeta } from '../../services/client-meta.js'
import { ChangePasswordBody } from '../../schemas/account.js'
import { bearerProblems, bearerSecurity, bodyProblems, problemResponses } from '../../schemas/responses.js'

const passwordRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/me/password', {
    // The current password is checked here, so this route is a password-guessing oracle
    // for whoever holds an access token: it draws on the login budget of the client's IP.
    onRequest: [app.authenticate, ...app.rateLimitHooks('login'), app.requireLiveSession],
    schema: {
      tags: ['users'],
      summary: 'Change the password',
      description: 'Needs the current password (a wrong one is `validation_failed` on `currentPassword`); the new one must pass the password policy. ' +
        'Every other session of the user ends; this one goes on. Shares the per-IP login rate limit.',
      security: bearerSecurity,
      body: ChangePasswordBody,
      response: { 204: Type.Null({ description: 'Changed; the other sessions are ended.' }), ...bodyProblems, ...bearerProblems, ...problemResponses(429, 503) }
    }
  }, async (request, reply) => {
    await app.accounts.changePassword(request.auth, request.currentUser, request.body, clientMeta(request))
    return await reply.code(204).send(null)
  })
}

export default passwordRoutes
