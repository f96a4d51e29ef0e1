// The OAuth endpoints for services (API.md "For services"): POST /oauth/token (client
// credentials), /oauth/introspect (RFC 7662), /oauth/revoke (RFC 7009). Form bodies
// (application/x-www-form-urlencoded) as OAuth clients send them; errors as RFC 6749 §5.2 JSON
// (route config `oauthErrors`, read by the error handler); every reply `Cache-Control: no-store`
// (security-headers' default). Client authentication: HTTP Basic or the form, never both.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { AppError } from '../errors.js'
import { clientMeta } from '../services/client-meta.js'
import { IntrospectionReply, TokenForm, TokenForToken, TokenReply, oauthErrorResponse } from '../schemas/oauth.js'

const FORM = 'application/x-www-form-urlencoded'
const config = { oauthErrors: true }
const basicSecurity = [{ clientBasic: [] as string[] }]

const BAD_REQUEST = oauthErrorResponse('A parameter is missing, repeated or too long, the body is not a form, or the client authenticated both ways: `invalid_request`.', 'invalid_request')
const BAD_CLIENT = oauthErrorResponse('No client credentials, an unknown client, a wrong secret or a disabled client: `invalid_client` (with `WWW-Authenticate: Basic` unless the credentials came in the body).', 'invalid_client')
const LIMITED = oauthErrorResponse('Over the per-IP limit (`RATE_LIMIT_OAUTH`): `temporarily_unavailable`; `Retry-After` says when to retry.', 'temporarily_unavailable')

/** RFC 6749 §3.1: a parameter sent twice is an invalid request, not one of its values. */
export function parseForm (body: string): Record<string, string> {
  const form = new Map<string, string>()
  for (const [name, value] of new URLSearchParams(body)) {
    if (form.has(name)) throw new AppError('invalid_request', `The parameter ${name.slice(0, 100)} is repeated`)
    form.set(name, value)
  }
  // fromEntries defines own properties: a parameter named __proto__ is just a parameter.
  return Object.fromEntries(form)
}

const oauthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { oauth } = app
  // Forms only, in this scope: a JSON body is answered invalid_request, like any other non-form.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser(FORM, { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseForm(body as string))
    } catch (error) {
      done(error as Error, undefined)
    }
  })
  const onRequest = app.rateLimitHooks('oauth')
  const request = <F>(req: { headers: { authorization?: string }, body: F, ip: string }) => ({ authorization: req.headers.authorization, form: req.body, meta: clientMeta(req as never) })

  app.post('/token', {
    config,
    onRequest,
    schema: {
      tags: ['oauth'],
      summary: 'Get an access token for a service (client credentials)',
      description: 'RFC 6749 §4.4. `grant_type=client_credentials`; `scope` (optional) a space-separated subset of the client\'s scopes. The access token is signed like users\' (JWKS), with `sub` = `client_id` = the client id, `scope`, `aud` the client\'s audience (or `JWT_AUDIENCE`), and no refresh token. authd\'s own user routes refuse it.',
      consumes: [FORM],
      security: basicSecurity,
      body: TokenForm,
      response: {
        200: TokenReply,
        400: oauthErrorResponse('`invalid_request` (see the other endpoints), `unsupported_grant_type` (not `client_credentials`) or `invalid_scope` (a scope the client was not given).', 'invalid_scope'),
        401: BAD_CLIENT,
        429: LIMITED
      }
    }
  }, async (req) => await oauth.token(request(req)))

  app.post('/introspect', {
    config,
    onRequest,
    schema: {
      tags: ['oauth'],
      summary: 'Is this token active? (RFC 7662)',
      description: '`active: true` with the token\'s claims and `token_type` (`access_token` or `refresh_token`) only if the token verifies AND is alive: a user\'s access token whose session has not ended (logout, revocation, rotation-reuse, deactivation), a refresh token that is its session\'s live one, a service\'s token whose client is enabled. Anything else, garbage included: `{ "active": false }`.',
      consumes: [FORM],
      security: basicSecurity,
      body: TokenForToken,
      response: { 200: IntrospectionReply, 400: BAD_REQUEST, 401: BAD_CLIENT, 429: LIMITED }
    }
  }, async (req) => await oauth.introspect(request(req)))

  app.post('/revoke', {
    config,
    onRequest,
    schema: {
      tags: ['oauth'],
      summary: 'Revoke a refresh token\'s session (RFC 7009)',
      description: 'A refresh token: its session ends (as on logout). An access token or an unknown token: 200 and nothing happens (access tokens are short-lived; introspection reports them inactive once their session ends).',
      consumes: [FORM],
      security: basicSecurity,
      body: TokenForToken,
      response: { 200: { description: 'Done (or nothing to do); an empty body.', type: 'null' }, 400: BAD_REQUEST, 401: BAD_CLIENT, 429: LIMITED }
    }
  }, async (req, reply) => {
    await oauth.revoke(request(req))
    // RFC 7009 §2.2: 200, and the body does not matter; an empty one.
    return await reply.code(200).send(undefined as unknown as null)
  })
}

export default oauthRoutes
