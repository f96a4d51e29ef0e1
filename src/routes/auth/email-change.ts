// POST /v1/auth/email/change/confirm (email-change.ts): the token of the link mailed to the
// new address. Public: the link may be opened on any device; the token is the proof.
// Registered only when authd can send mail, as the request route.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { EMAIL_CHANGE_CONFIRM_SCHEMA } from '../../schemas/email-code.js'
import { clientMeta } from '../../services/client-meta.js'

const emailChangeConfirmRoutes: FastifyPluginAsyncTypebox = async (app) => {
  if (!app.emailChange.enabled) return
  app.post('/email/change/confirm', { onRequest: app.rateLimitHooks('email'), schema: EMAIL_CHANGE_CONFIRM_SCHEMA }, async (request, reply) => {
    await app.emailChange.confirm(request.body.token, clientMeta(request))
    return await reply.code(204).send(null)
  })
}

export default emailChangeConfirmRoutes
