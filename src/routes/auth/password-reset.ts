// POST /v1/auth/password/forgot and /v1/auth/password/reset (API.md). Registered only when
// authd can send mail (always, except in production without SMTP_URL; see config.ts).
// forgot answers 202 before it looks anything up (the work runs after the reply), so neither
// the answer nor its timing tells whether the address has an account.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { Accepted, EmailRequestBody, ResetPasswordBody } from '../../schemas/email.js'
import { bodyProblems, problemResponse, problemResponses } from '../../schemas/responses.js'
import { clientMeta } from '../../services/client-meta.js'

const passwordResetRoutes: FastifyPluginAsyncTypebox = async (app) => {
  if (!app.emailFlows.resetOn) return

  app.post('/password/forgot', {
    onRequest: app.rateLimitHooks('email'),
    schema: {
      tags: ['password reset'],
      summary: 'Ask for a password-reset mail',
      description: 'Always 202, whether or not the address has an account. A mail goes out only to an active account, at most one per MAIL_THROTTLE_SECONDS.',
      body: EmailRequestBody,
      response: { 202: Accepted, ...bodyProblems, ...problemResponses(429, 503) }
    }
  }, async (request, reply) => {
    app.emailFlows.requestPasswordReset(request.body.email, clientMeta(request))
    return await reply.code(202).send()
  })

  app.post('/password/reset', {
    onRequest: app.rateLimitHooks('email'),
    schema: {
      tags: ['password reset'],
      summary: 'Set a new password with a reset token',
      description: 'Takes the token from the link of the reset mail (the `#token=…` fragment) and the new password. Sets it, marks the address verified and ends every session of the user. `reset_token_invalid` when the token is unknown, used, expired or superseded; `validation_failed` (field `newPassword`) when the password breaks the policy — the token then stays usable.',
      body: ResetPasswordBody,
      response: {
        204: Type.Null(),
        ...bodyProblems,
        400: problemResponse(400, 'The token is unknown, used, expired or superseded: `reset_token_invalid`; or the new password breaks the policy, or the body is not valid: `validation_failed` (field errors), `invalid_json`.', 'reset_token_invalid'),
        ...problemResponses(429, 503)
      }
    }
  }, async (request, reply) => {
    await app.emailFlows.resetPassword(request.body, clientMeta(request))
    return await reply.code(204).send(null)
  })
}

export default passwordResetRoutes
