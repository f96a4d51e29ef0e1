// The admin API over users (API.md "Admin"): search and page through them, read one, set
// isActive and roles, end their sessions. Only for callers whose CURRENT roles include admin:
// requireRole reads the row the live-session check just loaded, not the token's roles claim,
// so a revoked admin is refused at once rather than when their access token expires.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ADMIN_DENIED, ADMIN_STEP_UP, adminOnly } from './admin-only.js'
import { actorOf } from '../../services/client-meta.js'
import { AdminUserList, AdminUserListQuery, AdminUserParams, AdminUserPatchBody, DEFAULT_PAGE_LIMIT } from '../../schemas/admin.js'
import { bearerSecurity, bodyProblems, problemResponse } from '../../schemas/responses.js'
import { UserSchema, toPublicUser } from '../../schemas/user.js'

// A malformed id is answered 404, like an unknown one (it names no user either way), while a
// bad body is still a 400.
const config = { notFoundOnBadParams: 'There is no user with this id' }
const STEP_UP = ADMIN_STEP_UP

const adminUserRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { admin } = app
  adminOnly(app)

  const security = bearerSecurity
  const denied = ADMIN_DENIED
  const notFound = { 404: problemResponse(404, 'No user has this id (or it is not a UUID): `not_found`.') }
  const queryProblems = { 400: problemResponse(400, 'A query parameter is unknown or out of range, or the cursor is not one authd handed out: `validation_failed`.') }

  app.get('/users', {
    schema: {
      tags: ['admin'],
      summary: 'Search users',
      description: 'Users whose email, username or full name contains `q` (any case), newest first, a page at a time: pass `nextCursor` back as `cursor` until it is null.',
      security,
      querystring: AdminUserListQuery,
      response: { 200: AdminUserList, ...queryProblems, ...denied }
    }
  }, async (request) => {
    const { q, limit, cursor } = request.query
    const page = await admin.listUsers({ q, cursor, limit: limit === undefined ? DEFAULT_PAGE_LIMIT : Number(limit) })
    return { users: page.users.map(toPublicUser), nextCursor: page.nextCursor }
  })

  app.get('/users/:id', {
    config,
    schema: { tags: ['admin'], summary: 'Get a user', security, params: AdminUserParams, response: { 200: UserSchema, ...denied, ...notFound } }
  }, async (request) => {
    return toPublicUser(await admin.getUser(request.params.id))
  })

  app.patch('/users/:id', {
    config,
    schema: {
      tags: ['admin'],
      summary: 'Activate, deactivate or set the roles of a user',
      description: 'Deactivating ends every session of the user at once. You cannot deactivate yourself or remove your own admin role (409 `self_lockout`). Changing roles needs the admin\'s recent authentication (403 `reauthentication_required`).',
      security,
      params: AdminUserParams,
      body: AdminUserPatchBody,
      response: {
        200: UserSchema,
        ...bodyProblems,
        ...denied,
        ...STEP_UP,
        ...notFound,
        409: problemResponse(409, 'The change would deactivate the caller or remove their own admin role: `self_lockout`.', 'self_lockout')
      }
    }
  }, async (request) => {
    return toPublicUser(await admin.updateUser(actorOf(request), request.params.id, request.body))
  })

  app.delete('/users/:id/mfa', {
    config,
    schema: {
      tags: ['admin'],
      summary: 'Reset a user\'s second factor',
      description: 'Removes the user\'s TOTP authenticator, recovery codes and passkeys (they lost them): they log in with the password alone and may enrol again. Needs the admin\'s recent authentication. Audited (`admin_mfa_reset`).',
      security,
      params: AdminUserParams,
      response: { 204: Type.Null({ description: 'Reset (also when the user had no factor).' }), ...denied, ...STEP_UP, ...notFound }
    }
  }, async (request, reply) => {
    await admin.resetMfa(actorOf(request), request.params.id)
    return await reply.code(204).send(null)
  })

  app.delete('/users/:id/sessions', {
    config,
    schema: { tags: ['admin'], summary: 'End every session of a user', security, params: AdminUserParams, response: { 204: Type.Null({ description: 'Every session of the user has ended.' }), ...denied, ...notFound } }
  }, async (request, reply) => {
    await admin.revokeSessions(actorOf(request), request.params.id)
    return await reply.code(204).send(null)
  })
}

export default adminUserRoutes
