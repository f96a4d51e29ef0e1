// POST /v1/users/me/email: the signed-in user asks to change their address (email-change.ts).
// Registered only when authd can send mail: the change is confirmed from the new mailbox.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { clientMeta } from '../../services/client-meta.js'
import { EMAIL_CHANGE_SCHEMA } from '../../schemas/email-code.js'

const emailChangeRoutes: FastifyPluginAsyncTypebox = async (app) => {
  if (!app.emailChange.enabled) return
  // Sends mail: the mail routes' per-IP budget.
  const onRequest = [app.authenticate, ...app.rateLimitHooks('email'), app.requireLiveSession]
  app.post('/me/email', { onRequest, schema: EMAIL_CHANGE_SCHEMA }, async (request, reply) => {
    await app.emailChange.request(request.auth, request.currentUser, request.body.newEmail, clientMeta(request))
    return await reply.code(202).send()
  })
}

export default emailChangeRoutes
