// simplejwt's verify view, for services that would rather ask than verify locally: checks an
// access token's signature and claims, and that its user and session are still alive.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { VerifyBody, VerifyResult } from '../schemas/auth.js'
import { bodyProblems, problemResponse } from '../schemas/responses.js'

const verifyRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/verify', {
    schema: {
      tags: ['tokens'],
      summary: 'Verify an access token',
      description: 'For services that would rather ask than verify locally: checks the signature and claims, and that the user is active and the session alive. ' +
        'Refresh tokens are refused.',
      body: VerifyBody,
      response: {
        200: VerifyResult,
        ...bodyProblems,
        401: problemResponse(401, 'The token is not a live access token: `token_invalid` (bad signature or claims, a refresh token, an ended session, an inactive user) or `token_expired`.', 'token_invalid'),
        503: problemResponse(503)
      }
    }
  }, async (request, reply) => {
    const claims = app.tokens.verifyAccess(request.body.token)
    await app.sessions.liveUser(claims)
    reply.header('cache-control', 'no-store')
    return { valid: true as const, claims }
  })
}

export default verifyRoutes
