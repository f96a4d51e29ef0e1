// DELETE /v1/users/me: the user deletes their own account, confirming with the password.
// The row goes and the database cascades to sessions and tokens, so every token of the
// account stops working on authd at once.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { clientMeta } from '../../services/client-meta.js'
import { DeleteAccountBody } from '../../schemas/account.js'
import { bearerProblems, bearerSecurity, bodyProblems, problemResponses } from '../../schemas/responses.js'

const accountRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.delete('/me', {
    // Checks a password, like login: same per-IP budget (see password.ts).
    onRequest: [app.authenticate, ...app.rateLimitHooks('login'), app.requireLiveSession],
    schema: {
      tags: ['users'],
      summary: 'Delete the caller\'s account',
      description: 'Confirmed with the password (a wrong one is `validation_failed` on `password`). The user, its sessions and tokens are deleted at once. ' +
        'Shares the per-IP login rate limit.',
      security: bearerSecurity,
      body: DeleteAccountBody,
      response: { 204: Type.Null({ description: 'Deleted.' }), ...bodyProblems, ...bearerProblems, ...problemResponses(429, 503) }
    }
  }, async (request, reply) => {
    await app.accounts.deleteAccount(request.auth, request.currentUser, request.body.password, clientMeta(request))
    return await reply.code(204).send(null)
  })
}

export default accountRoutes
