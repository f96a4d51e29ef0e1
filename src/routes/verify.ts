// simplejwt's verify view, for services that would rather ask than verify locally: checks an
// access token's signature and claims, and that its user and session are still alive.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { AppError } from '../errors.js'
import { createUserRepository } from '../repositories/users.js'
import { VerifyBody, VerifyResult } from '../schemas/auth.js'
import { ProblemSchema } from '../schemas/common.js'

const verifyRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const users = createUserRepository(app.db.prisma)
  app.post('/verify', {
    schema: { tags: ['tokens'], body: VerifyBody, response: { 200: VerifyResult, 400: ProblemSchema, 401: ProblemSchema } }
  }, async (request, reply) => {
    const claims = app.tokens.verifyAccess(request.body.token)
    if (await users.findForAccess(claims.sub, claims.sid) === null) throw new AppError('token_invalid', 'The session of this token has ended')
    reply.header('cache-control', 'no-store')
    return { valid: true as const, claims }
  })
}

export default verifyRoutes
