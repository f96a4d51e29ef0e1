// POST /v1/auth/email/verify and /v1/auth/email/resend (API.md). Registered only while
// EMAIL_VERIFICATION is optional or mandatory; with none these paths answer 404.
// resend answers 202 before it looks anything up (the work runs after the reply), so neither
// the answer nor its timing tells whether the address has an account.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { Accepted, EmailRequestBody, VerifyEmailBody } from '../../schemas/email.js'
import { bodyProblems, problemResponse, problemResponses } from '../../schemas/responses.js'
import { clientMeta } from '../../services/client-meta.js'

const emailRoutes: FastifyPluginAsyncTypebox = async (app) => {
  if (!app.emailFlows.verificationOn) return

  app.post('/email/verify', {
    onRequest: app.rateLimitHooks('email'),
    schema: {
      tags: ['email'],
      summary: 'Verify an email address',
      description: 'Takes the token from the link of the verification mail (the `#token=…` fragment). Each token works once; `verification_token_invalid` when it is unknown, used, expired, or the account\'s address changed since.',
      body: VerifyEmailBody,
      response: {
        204: Type.Null(),
        ...bodyProblems,
        400: problemResponse(400, 'The token is unknown, used, expired, or was sent to an address the account no longer has: `verification_token_invalid`; or the body is not valid: `validation_failed`, `invalid_json`.', 'verification_token_invalid'),
        ...problemResponses(429, 503)
      }
    }
  }, async (request, reply) => {
    await app.emailFlows.verifyEmail(request.body.token, clientMeta(request))
    return await reply.code(204).send(null)
  })

  app.post('/email/resend', {
    onRequest: app.rateLimitHooks('email'),
    schema: {
      tags: ['email'],
      summary: 'Send the verification mail again',
      description: 'Always 202, whether or not the address has an account. A mail goes out only to an active, unverified account, at most one per MAIL_THROTTLE_SECONDS.',
      body: EmailRequestBody,
      response: { 202: Accepted, ...bodyProblems, ...problemResponses(429, 503) }
    }
  }, async (request, reply) => {
    app.emailFlows.requestVerification(request.body.email, clientMeta(request))
    return await reply.code(202).send()
  })
}

export default emailRoutes
