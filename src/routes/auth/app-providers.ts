// Sign in with other identity providers, app client: the app runs the provider's flow itself
// (a native SDK's ID token, or its own authorization code + PKCE) and exchanges the result
// here. Answers exactly as an app login (routes/auth/app-client.ts).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { AppLoginReply, pendingLoginReply } from '../../schemas/auth.js'
import { PROVIDER_NOT_FOUND, ProviderParams, ProviderTokenBody } from '../../schemas/providers.js'
import { LOGIN_LIMITED, bodyProblems, problemResponse, problemResponses } from '../../schemas/responses.js'
import { clientMeta } from '../../services/client-meta.js'
import { loginReply } from './app-client.js'

const appProviderRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onSend', async (_request, reply) => { reply.header('cache-control', 'no-store') })

  app.post('/providers/:id/token', {
    onRequest: app.rateLimitHooks('login'),
    config: { ...PROVIDER_NOT_FOUND, metricsEvent: 'login' },
    schema: {
      tags: ['app auth'],
      summary: 'Sign in with a provider\'s ID token or authorization code',
      description: '`{ idToken, nonce? }`: an ID token the app got from the provider (OpenID providers only), verified against the provider\'s keys, issuer, audience (its clientId or appClientIds) and expiry, and `nonce` when given. ' +
        '`{ code, codeVerifier, redirectUri }`: the code of the app\'s own PKCE flow, exchanged with the provider (`redirectUri` must be one of the provider\'s appRedirectUris). ' +
        'Answers as a login (a second factor included); the access token\'s `amr` is `fed`. Linking rules: docs/accounts.md "Sign in with other providers".',
      params: ProviderParams,
      body: ProviderTokenBody,
      response: {
        200: AppLoginReply,
        ...bodyProblems,
        401: problemResponse(401, 'The ID token or code does not verify: `provider_token_invalid`.', 'provider_token_invalid'),
        403: problemResponse(403, 'The account is deactivated (`account_inactive`), the provider gives no usable address (`provider_email_unverified`), or the address is not verified and verification is mandatory (`email_not_verified`).', 'account_inactive'),
        404: problemResponse(404, 'No provider has this id: `provider_unknown` (`not_found` for an id no provider could have).', 'provider_unknown'),
        409: problemResponse(409, 'An account has this address but it cannot be linked automatically (`identity_link_required`: log in and link explicitly).', 'identity_link_required'),
        429: LOGIN_LIMITED,
        ...problemResponses(502, 503)
      }
    }
  }, async (request) => {
    const result = await app.providers.appSignIn(request.params.id, request.body, clientMeta(request))
    if (result.mfaRequired) return pendingLoginReply(result)
    return loginReply(result)
  })
}

export default appProviderRoutes
