// The admin API over service credentials: create a client (its secret shown once), list them,
// rotate a secret, disable a client. Behind the admin role like every admin route; creating and
// rotating hand out a credential and need the admin's recent authentication, disabling (which
// only takes access away) does not. Errors are problem JSON, as on every /v1 route.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ADMIN_DENIED, ADMIN_STEP_UP, adminOnly } from './admin-only.js'
import { actorOf } from '../../services/client-meta.js'
import { ClientCreateBody, ClientList, ClientParams, ClientSchema, ClientWithSecret, toPublicClient } from '../../schemas/oauth.js'
import { bearerSecurity, bodyProblems, problemResponse } from '../../schemas/responses.js'

const config = { notFoundOnBadParams: 'There is no client with this id' }
const withSecret = ({ client, secret }: { client: Parameters<typeof toPublicClient>[0], secret: string }) => ({ ...toPublicClient(client), clientSecret: secret })

const adminClientRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { oauthClients } = app
  adminOnly(app)
  const security = bearerSecurity
  const denied = ADMIN_DENIED
  const stepUp = ADMIN_STEP_UP
  const notFound = { 404: problemResponse(404, 'No enabled client has this id (or it is not a UUID): `not_found`.') }

  app.post('/clients', {
    schema: {
      tags: ['admin clients'],
      summary: 'Create a service client',
      description: 'Its `clientSecret` is in this reply only: authd keeps a hash. Needs the admin\'s recent authentication. Audited (`client_created`).',
      security,
      body: ClientCreateBody,
      response: { 201: ClientWithSecret, ...bodyProblems, ...denied, ...stepUp }
    }
  }, async (request, reply) => {
    return await reply.code(201).send(withSecret(await oauthClients.create(request.body, actorOf(request))))
  })

  app.get('/clients', {
    schema: { tags: ['admin clients'], summary: 'List service clients', description: 'Every client, oldest first, disabled ones included; never a secret.', security, response: { 200: ClientList, ...denied } }
  }, async () => {
    return { clients: (await oauthClients.list()).map(toPublicClient) }
  })

  app.post('/clients/:id/rotate-secret', {
    config,
    schema: {
      tags: ['admin clients'],
      summary: 'Give a client a new secret',
      description: 'The old secret stops working at once; tokens already issued stay valid until they expire. The new `clientSecret` is in this reply only. Needs the admin\'s recent authentication. Audited (`client_secret_rotated`).',
      security,
      params: ClientParams,
      response: { 200: ClientWithSecret, ...denied, ...stepUp, ...notFound }
    }
  }, async (request) => {
    return withSecret(await oauthClients.rotateSecret({ id: request.params.id }, actorOf(request)))
  })

  app.post('/clients/:id/disable', {
    config,
    schema: {
      tags: ['admin clients'],
      summary: 'Disable a client',
      description: 'It can no longer use /oauth/token, /oauth/introspect or /oauth/revoke, and introspection reports its tokens inactive (services that verify tokens locally accept them until they expire). Disabling a disabled client changes nothing. Audited (`client_disabled`).',
      security,
      params: ClientParams,
      response: { 200: ClientSchema, ...denied, 404: problemResponse(404, 'No client has this id (or it is not a UUID): `not_found`.') }
    }
  }, async (request) => {
    return toPublicClient(await oauthClients.disable({ id: request.params.id }, actorOf(request)))
  })
}

export default adminClientRoutes
