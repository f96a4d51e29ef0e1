import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { AppError } from '../../errors.js'
import { createUserRepository } from '../../repositories/users.js'
import { uniqueViolationDetail } from '../../db/database.js'
import { ProblemSchema } from '../../schemas/common.js'
import { UpdateMeBody, UserSchema, toPublicUser } from '../../schemas/user.js'

const meRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const users = createUserRepository(app.db.prisma)
  app.addHook('onRequest', app.authenticate)

  /** The token's user, only while the user is active and the token's session is alive. */
  async function currentUser (auth: { sub: string, sid: string }) {
    const user = await users.findForAccess(auth.sub, auth.sid)
    if (user === null) throw new AppError('token_invalid', 'The session of this token has ended')
    return user
  }

  const errors = { 400: ProblemSchema, 401: ProblemSchema }

  app.get('/me', {
    schema: { tags: ['users'], security: [{ bearerAuth: [] }], response: { 200: UserSchema, 401: ProblemSchema } }
  }, async (request) => toPublicUser(await currentUser(request.auth)))

  app.patch('/me', {
    schema: { tags: ['users'], security: [{ bearerAuth: [] }], body: UpdateMeBody, response: { 200: UserSchema, ...errors, 409: ProblemSchema } }
  }, async (request) => {
    await currentUser(request.auth)
    const { birthDate, ...rest } = request.body
    try {
      const user = await users.update(request.auth.sub, {
        ...rest,
        ...(birthDate === undefined ? {} : { birthDate: birthDate === null ? null : new Date(`${birthDate}T00:00:00Z`) })
      })
      return toPublicUser(user)
    } catch (error) {
      if (uniqueViolationDetail(error) !== null) {
        throw new AppError('username_taken', 'This username is taken', { errors: [{ field: 'username', code: 'username_taken', message: 'is already taken' }] })
      }
      throw error
    }
  })
}

export default meRoutes
