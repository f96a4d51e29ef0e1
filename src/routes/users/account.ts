// DELETE /v1/users/me: the user deletes their own account, confirming with the password.
// The row goes and the database cascades to sessions and tokens, so every token of the
// account stops working on authd at once.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { DeleteAccountBody } from '../../schemas/account.js'
import { ProblemSchema } from '../../schemas/common.js'
import { requireLiveSession } from '../require-live-session.js'

const accountRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.delete('/me', {
    // Checks a password, like login: same per-IP budget (see password.ts).
    onRequest: [app.authenticate, ...app.rateLimitHooks('login'), requireLiveSession(app)],
    schema: {
      tags: ['users'],
      security: [{ bearerAuth: [] }],
      body: DeleteAccountBody,
      response: { 204: Type.Null(), 400: ProblemSchema, 401: ProblemSchema, 429: ProblemSchema }
    }
  }, async (request, reply) => {
    await app.accounts.deleteAccount(request.auth, request.body.password)
    return await reply.code(204).send(null)
  })
}

export default accountRoutes
