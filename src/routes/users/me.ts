import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { AppError } from '../../errors.js'
import { createUserRepository } from '../../repositories/users.js'
import { uniqueViolationDetail } from '../../db/database.js'
import { bearerProblems, bearerSecurity, bodyProblems, problemResponse, problemResponses } from '../../schemas/responses.js'
import { UpdateMeBody, UserSchema, toPublicUser } from '../../schemas/user.js'

const meRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const users = createUserRepository(app.db.prisma)
  app.addHook('onRequest', app.authenticate)
  app.addHook('onRequest', app.requireLiveSession)

  app.get('/me', {
    schema: {
      tags: ['users'],
      summary: 'Who am I: the caller\'s user',
      security: bearerSecurity,
      response: { 200: UserSchema, ...bearerProblems, ...problemResponses(503) }
    }
  }, async (request) => toPublicUser(request.currentUser))

  app.patch('/me', {
    schema: {
      tags: ['users'],
      summary: 'Update the caller\'s profile',
      description: 'Only `username`, `fullName`, `bio` and `birthDate` (`null` clears `username` and `birthDate`); any other field is `unknown_field`.',
      security: bearerSecurity,
      body: UpdateMeBody,
      response: {
        200: UserSchema,
        ...bodyProblems,
        ...bearerProblems,
        409: problemResponse(409, 'The username is taken: `username_taken`.', 'username_taken'),
        ...problemResponses(503)
      }
    }
  }, async (request) => {
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
