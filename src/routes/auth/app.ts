// Token endpoints for app clients (mobile, CLI, services, Postman): both tokens travel in
// JSON bodies. The browser client (cookies + CSRF) wraps the same auth service.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { AppAuthResult, AppTokensResult, LoginBody, RefreshBody } from '../../schemas/auth.js'
import { ProblemSchema } from '../../schemas/common.js'
import { RegisterBody, toPublicUser } from '../../schemas/user.js'
import type { ClientMeta, TokenPair } from '../../services/auth-service.js'

const appTokens = (pair: TokenPair) => ({
  tokenType: 'Bearer' as const,
  access: pair.access,
  accessExpiresIn: pair.accessExpiresIn,
  refresh: pair.refresh,
  refreshExpiresIn: pair.refreshExpiresIn
})

export const clientMeta = (request: FastifyRequest): ClientMeta => ({
  userAgent: request.headers['user-agent'] ?? null,
  ip: request.ip
})

const errors = { 400: ProblemSchema, 401: ProblemSchema, 429: ProblemSchema }

const appAuthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // Token responses must never be stored by a browser or proxy.
  app.addHook('onSend', async (_request, reply) => { reply.header('cache-control', 'no-store') })

  app.post('/register', {
    onRequest: app.rateLimitHooks('register'),
    schema: { tags: ['app auth'], body: RegisterBody, response: { 201: AppAuthResult, ...errors, 409: ProblemSchema } }
  }, async (request, reply) => {
    const { user, tokens } = await app.auth.register(request.body, clientMeta(request))
    return await reply.code(201).send({ user: toPublicUser(user), tokens: appTokens(tokens) })
  })

  app.post('/login', {
    onRequest: app.rateLimitHooks('login'),
    schema: { tags: ['app auth'], body: LoginBody, response: { 200: AppAuthResult, ...errors } }
  }, async (request) => {
    const { user, tokens } = await app.auth.login(request.body, clientMeta(request))
    return { user: toPublicUser(user), tokens: appTokens(tokens) }
  })

  app.post('/refresh', {
    onRequest: app.rateLimitHooks('refresh'),
    schema: { tags: ['app auth'], body: RefreshBody, response: { 200: AppTokensResult, ...errors } }
  }, async (request) => {
    return { tokens: appTokens(await app.auth.refresh(request.body.refresh)) }
  })

  app.post('/logout', {
    schema: { tags: ['app auth'], body: RefreshBody, response: { 204: Type.Null(), ...errors } }
  }, async (request, reply) => {
    await app.auth.logout(request.body.refresh)
    return await reply.code(204).send(null)
  })
}

export default appAuthRoutes
