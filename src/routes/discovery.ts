// Authorization server metadata (RFC 8414) at both well-known names: OpenID discovery's
// (`/.well-known/openid-configuration`, what Spring's issuer-uri, ASP.NET's Authority,
// openid-client's discovery() and most gateways fetch) and RFC 8414's. Services configured with
// the issuer URL alone find the JWKS and the OAuth endpoints here.
// The document is built from the issuer (PUBLIC_URL or JWT_ISSUER) and the base URL (PUBLIC_URL):
// both are fixed at start-up, only the algorithms follow the key set (a rotation to another alg).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { publicBaseUrl } from '../config.js'
import { PUBLIC_CORS } from '../plugins/cors.js'
import { JWKS_MAX_AGE } from '../keys/key-set.js'
import { DiscoveryDocumentSchema, type DiscoveryDocument } from '../schemas/discovery.js'

const CLIENT_AUTH = ['client_secret_basic', 'client_secret_post']
// token-service.ts: users' tokens { iss, aud, sub, sid, jti, iat, exp, roles, amr, auth_time },
// services' { iss, aud, sub, client_id, scope, jti, iat, exp }.
const CLAIMS = ['iss', 'aud', 'sub', 'sid', 'jti', 'iat', 'exp', 'roles', 'amr', 'auth_time', 'client_id', 'scope']

const discoveryRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const base = publicBaseUrl(app.config)
  const document = (): DiscoveryDocument => ({
    issuer: app.tokens.issuer,
    jwks_uri: `${base}/.well-known/jwks.json`,
    token_endpoint: `${base}/oauth/token`,
    introspection_endpoint: `${base}/oauth/introspect`,
    revocation_endpoint: `${base}/oauth/revoke`,
    grant_types_supported: ['client_credentials'],
    // Required members that authd, with no authorization endpoint and no ID tokens, fills honestly.
    response_types_supported: [],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: app.tokens.signingAlgorithms(),
    token_endpoint_auth_methods_supported: CLIENT_AUTH,
    introspection_endpoint_auth_methods_supported: CLIENT_AUTH,
    revocation_endpoint_auth_methods_supported: CLIENT_AUTH,
    claims_supported: CLAIMS,
    service_documentation: `${base}/docs`
  })

  for (const [url, summary] of [
    ['/.well-known/openid-configuration', 'OpenID discovery document'],
    ['/.well-known/oauth-authorization-server', 'OAuth 2 authorization server metadata (RFC 8414)']
  ] as const) {
    app.get(url, {
      config: PUBLIC_CORS,
      schema: {
        tags: ['tokens'],
        summary,
        description: 'The issuer, the JWKS and OAuth endpoints, the algorithms and the claims of authd\'s tokens, for services and libraries configured with the issuer URL (RFC 8414; OpenID Connect Discovery). ' +
          `Public: \`Access-Control-Allow-Origin: *\`, cacheable for ${JWKS_MAX_AGE} s. Both names serve the same document.`,
        response: { 200: DiscoveryDocumentSchema }
      }
    }, async (_request, reply) => {
      reply.header('cache-control', `public, max-age=${JWKS_MAX_AGE}`)
      return document()
    })
  }
}

export default discoveryRoutes
