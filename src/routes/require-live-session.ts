// app.authenticate checks an access token without the database, so until it expires a token
// outlives a logout, a revoked session or a deactivated or deleted user. Routes that act on
// the caller's account add this hook right after app.authenticate: such a token then gets
// 401 before anything else happens (body or params validation included).
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { AppError } from '../errors.js'
import { createUserRepository } from '../repositories/users.js'

export function requireLiveSession (app: FastifyInstance): (request: FastifyRequest) => Promise<void> {
  const users = createUserRepository(app.db.prisma)
  return async (request) => {
    if (await users.findForAccess(request.auth.sub, request.auth.sid) === null) {
      throw new AppError('token_invalid', 'The session of this token has ended')
    }
  }
}
