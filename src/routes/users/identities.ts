// The caller's identities at other providers: GET /me/identities, POST
// /me/identities/:provider/start (link one: the browser then goes through the provider and its
// callback links instead of signing in), DELETE /me/identities/:id (unlink, unless it is the
// account's last way in).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { IdentityList, IdentityParams, LinkStartBody, LinkStartReply, PROVIDER_NOT_FOUND, ProviderParams } from '../../schemas/providers.js'
import { bearerProblems, bearerSecurity, bodyProblems, problemResponse, problemResponses } from '../../schemas/responses.js'
import { clientMeta } from '../../services/client-meta.js'

const security = bearerSecurity
const errors = { ...bearerProblems, ...problemResponses(503) }

const identityRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // The caller's own identities: a bearer token of a live session.
  for (const hook of [app.authenticate, app.requireLiveSession]) app.addHook('onRequest', hook)

  app.get('/me/identities', {
    schema: {
      tags: ['identities'],
      summary: 'The caller\'s linked identities',
      security,
      response: { 200: IdentityList, ...errors }
    }
  }, async (request) => await app.providers.identities(request.currentUser.id))

  // `:id` is the provider's id here (the router needs one parameter name at one position).
  app.post('/me/identities/:id/start', {
    onRequest: app.rateLimitHooks('login'),
    config: PROVIDER_NOT_FOUND,
    // The body is optional: no body reads as `{}` (a schema cannot say "absent or this object").
    preValidation: async (request) => { request.body ??= {} },
    schema: {
      tags: ['identities'],
      summary: 'Link a provider to the account',
      description: 'Answers the provider\'s authorization URL (a page holding a bearer token cannot follow a redirect with it) and sets the same state cookie as a browser sign-in, naming the caller: ' +
        'call it with `credentials: "include"` and then navigate to `url`. The provider\'s callback links its identity to this account (`?error=identity_in_use` if another account has it) and redirects to `FRONTEND_URL` + next.',
      security,
      params: ProviderParams,
      body: LinkStartBody,
      response: {
        200: LinkStartReply,
        ...bodyProblems,
        ...errors,
        404: problemResponse(404, 'No provider has this id: `provider_unknown` (`not_found` for an id no provider could have).', 'provider_unknown'),
        ...problemResponses(429, 502)
      }
    }
  }, async (request, reply) => {
    const { url, sealedState } = await app.providers.start(request.params.id, { next: request.body.next, userId: request.currentUser.id })
    const cookie = app.providers.stateCookie(request.params.id)
    reply.setCookie(cookie.name, sealedState, cookie.options)
    return { url }
  })

  app.delete('/me/identities/:id', {
    // A malformed id is answered 404, like an unknown one or another user's.
    config: { notFoundOnBadParams: 'No identity of yours has this id' },
    schema: {
      tags: ['identities'],
      summary: 'Unlink an identity',
      description: 'Refused with 409 `last_login_method` when the account has no usable password, no passkey and no other identity: it would have no way in. Audited (`identity_unlinked`).',
      security,
      params: IdentityParams,
      response: {
        204: Type.Null({ description: 'Unlinked.' }),
        ...errors,
        404: problemResponse(404, 'The caller has no identity with this id: `not_found`.'),
        409: problemResponse(409, 'It is the account\'s only way in: `last_login_method`.', 'last_login_method')
      }
    }
  }, async (request, reply) => {
    await app.providers.unlink(request.currentUser.id, request.params.id, clientMeta(request))
    return await reply.code(204).send(null)
  })
}

export default identityRoutes
