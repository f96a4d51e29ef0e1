// The authorization server metadata of GET /.well-known/openid-configuration and
// /.well-known/oauth-authorization-server (RFC 8414; OpenID Connect Discovery 1.0 §3).
import { Type, type Static } from 'typebox'

const Urls = Type.String({ format: 'uri' })
const Names = (description: string) => Type.Array(Type.String(), { description })

export const DiscoveryDocumentSchema = Type.Object({
  issuer: Type.String({ description: 'authd\'s issuer: `PUBLIC_URL` (or `JWT_ISSUER`), equal to the `iss` of every new token.' }),
  jwks_uri: Urls,
  token_endpoint: Urls,
  introspection_endpoint: Urls,
  revocation_endpoint: Urls,
  grant_types_supported: Names('Grant types of the token endpoint: `client_credentials` (users log in through authd\'s own API, not an authorization endpoint).'),
  response_types_supported: Names('Empty: authd has no authorization endpoint, so no response type (the member is required by OpenID discovery).'),
  subject_types_supported: Names('`public`: a user\'s `sub` is the same for every service.'),
  id_token_signing_alg_values_supported: Names('The algorithms of the keys that sign access tokens (authd issues no ID tokens): the key set\'s.'),
  token_endpoint_auth_methods_supported: Names('How a client authenticates at the token endpoint.'),
  introspection_endpoint_auth_methods_supported: Names('How a client authenticates at the introspection endpoint.'),
  revocation_endpoint_auth_methods_supported: Names('How a client authenticates at the revocation endpoint.'),
  claims_supported: Names('The claims authd\'s access tokens carry (users\' and services\').'),
  service_documentation: Urls
}, {
  additionalProperties: false,
  examples: [{
    issuer: 'https://auth.example.com',
    jwks_uri: 'https://auth.example.com/.well-known/jwks.json',
    token_endpoint: 'https://auth.example.com/oauth/token',
    introspection_endpoint: 'https://auth.example.com/oauth/introspect',
    revocation_endpoint: 'https://auth.example.com/oauth/revoke',
    grant_types_supported: ['client_credentials'],
    response_types_supported: [],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['ES256'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    claims_supported: ['iss', 'aud', 'sub', 'sid', 'jti', 'iat', 'exp', 'roles', 'amr', 'auth_time', 'client_id', 'scope'],
    service_documentation: 'https://auth.example.com/docs'
  }]
})
export type DiscoveryDocument = Static<typeof DiscoveryDocumentSchema>
