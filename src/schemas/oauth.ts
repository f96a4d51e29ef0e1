// Service credentials and the OAuth endpoints: the admin API's client bodies and replies
// (problem JSON errors like every admin route), and the form bodies and RFC 6749 / 7662 / 7009
// replies of /oauth/token, /oauth/introspect and /oauth/revoke.
import { Type, type Static } from 'typebox'
import { IdParams, IsoDateTime } from './common.js'

export const EXAMPLE_CLIENT_ID = 'svc_Q2xpZW50SWRFeGFtcGxlMQ'
export const EXAMPLE_CLIENT_SECRET = 'fQ8V4jRk1tq9zJm2vX6c0bN3hL5dW7sY1pA4eG8kT2u'

/** The client ids authd hands out: `svc_` and 16 random bytes, base64url. */
export const CLIENT_ID_PATTERN = '^svc_[A-Za-z0-9_-]{22}$'
export const ClientId = Type.String({ pattern: CLIENT_ID_PATTERN, description: 'The public client id (`svc_…`).' })
export const ClientName = Type.String({ minLength: 1, maxLength: 100, pattern: '\\S', description: 'A label for people.' })
/** RFC 6749 §3.3 scope-token: printable ASCII except space, `"` and `\`. */
export const ScopeToken = Type.String({ minLength: 1, maxLength: 100, pattern: '^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$' })
/** An `aud` value: no whitespace. */
export const AudienceValue = Type.String({ minLength: 1, maxLength: 200, pattern: '^\\S+$' })

export const ClientCreateBody = Type.Object({
  name: ClientName,
  scopes: Type.Optional(Type.Array(ScopeToken, { maxItems: 50, uniqueItems: true, description: 'The scopes the client may ask for (it gets all of them when it asks for none).' })),
  audience: Type.Optional(Type.Array(AudienceValue, { maxItems: 20, uniqueItems: true, description: 'The `aud` of its tokens; empty or absent: `JWT_AUDIENCE`.' }))
}, { additionalProperties: false, examples: [{ name: 'orders service', scopes: ['orders:read', 'orders:write'], audience: ['billing'] }] })
export type ClientCreateInput = Static<typeof ClientCreateBody>

/** The admin API names a client by its `id` (a UUID), like users. */
export const ClientParams = IdParams('The client\'s id (not its client_id).')

const clientFields = {
  id: Type.String({ format: 'uuid' }),
  clientId: ClientId,
  name: Type.String(),
  scopes: Type.Array(Type.String()),
  audience: Type.Array(Type.String(), { description: 'Empty: the tokens carry `JWT_AUDIENCE`.' }),
  createdAt: IsoDateTime,
  secretRotatedAt: Type.Union([IsoDateTime, Type.Null()]),
  disabledAt: Type.Union([IsoDateTime, Type.Null()])
}
const EXAMPLE_CLIENT = {
  id: '6f1d2c9e-2b7a-4f0e-9a43-3f8e2d1c5b7a',
  clientId: EXAMPLE_CLIENT_ID,
  name: 'orders service',
  scopes: ['orders:read', 'orders:write'],
  audience: ['billing'],
  createdAt: '2026-11-28T09:00:00.000Z',
  secretRotatedAt: null,
  disabledAt: null
}

export const ClientSchema = Type.Object(clientFields, { additionalProperties: false, examples: [EXAMPLE_CLIENT] })
export const ClientWithSecret = Type.Object({
  ...clientFields,
  clientSecret: Type.String({ description: 'Shown this once: authd keeps only its hash.' })
}, { additionalProperties: false, examples: [{ ...EXAMPLE_CLIENT, clientSecret: EXAMPLE_CLIENT_SECRET }] })
export const ClientList = Type.Object({ clients: Type.Array(ClientSchema) }, { additionalProperties: false, examples: [{ clients: [EXAMPLE_CLIENT] }] })

/** A client as the admin API shows it: never its secret hash. */
export function toPublicClient (client: { id: string, clientId: string, name: string, scopes: string[], audience: string[], createdAt: Date, secretRotatedAt: Date | null, disabledAt: Date | null }): Static<typeof ClientSchema> {
  return {
    id: client.id,
    clientId: client.clientId,
    name: client.name,
    scopes: client.scopes,
    audience: client.audience,
    createdAt: client.createdAt.toISOString(),
    secretRotatedAt: client.secretRotatedAt?.toISOString() ?? null,
    disabledAt: client.disabledAt?.toISOString() ?? null
  }
}

// --- the OAuth endpoints (form bodies) ------------------------------------------------------------

const FormValue = (description: string) => Type.String({ maxLength: 4096, description })
/** Client authentication in the body (client_secret_post); or HTTP Basic instead, never both. */
const clientCredentials = {
  client_id: Type.Optional(FormValue('client_secret_post: the client id (or send HTTP Basic instead).')),
  client_secret: Type.Optional(FormValue('client_secret_post: the client secret.'))
}

// RFC 6749 §3.1: parameters the endpoint does not know are ignored, hence additionalProperties.
export const TokenForm = Type.Object({
  grant_type: FormValue('`client_credentials`, the only grant.'),
  scope: Type.Optional(FormValue('Space-separated; each one of the client\'s scopes. Absent: all of them.')),
  ...clientCredentials
}, { additionalProperties: true, examples: [{ grant_type: 'client_credentials', scope: 'orders:read', client_id: EXAMPLE_CLIENT_ID, client_secret: EXAMPLE_CLIENT_SECRET }] })
export type TokenFormInput = Static<typeof TokenForm>

export const TokenForToken = Type.Object({
  token: FormValue('An access or refresh token authd issued (anything else is simply not active).'),
  token_type_hint: Type.Optional(FormValue('`access_token` or `refresh_token`; optional, and authd finds out by itself.')),
  ...clientCredentials
}, { additionalProperties: true, examples: [{ token: 'eyJhbGciOiJSUzI1NiIsImtpZCI6IjRmMWMiLCJ0eXAiOiJhdCtqd3QifQ.eyJzdWIiOiJiY2E3ZWM3ZiJ9.c2lnbmF0dXJl', client_id: EXAMPLE_CLIENT_ID, client_secret: EXAMPLE_CLIENT_SECRET }] })
export type TokenForTokenInput = Static<typeof TokenForToken>

export const TokenReply = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer({ description: 'Seconds: `ACCESS_TOKEN_TTL`.' }),
  scope: Type.String({ description: 'The scopes granted, space-separated.' })
}, { additionalProperties: false, examples: [{ access_token: 'eyJhbGciOiJSUzI1NiIsImtpZCI6IjRmMWMiLCJ0eXAiOiJhdCtqd3QifQ.eyJzdWIiOiJzdmNfIn0.c2lnbmF0dXJl', token_type: 'Bearer', expires_in: 300, scope: 'orders:read' }] })

export const IntrospectionReply = Type.Object({
  active: Type.Boolean(),
  token_type: Type.Optional(Type.Union([Type.Literal('access_token'), Type.Literal('refresh_token')])),
  sub: Type.Optional(Type.String()),
  client_id: Type.Optional(Type.String()),
  scope: Type.Optional(Type.String()),
  sid: Type.Optional(Type.String()),
  roles: Type.Optional(Type.Array(Type.String())),
  amr: Type.Optional(Type.Array(Type.String())),
  auth_time: Type.Optional(Type.Integer()),
  iss: Type.Optional(Type.String()),
  aud: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())])),
  jti: Type.Optional(Type.String()),
  iat: Type.Optional(Type.Integer()),
  exp: Type.Optional(Type.Integer())
}, {
  additionalProperties: false,
  examples: [
    { active: true, token_type: 'access_token', sub: 'bca7ec7f-5c7a-4de9-b0a0-68f952b9bec1', sid: '0b6f0a8e-8a55-4f5e-9d55-2f0a6a1b9c3d', roles: [], amr: ['pwd'], auth_time: 1795856400, iss: 'https://auth.example.com', aud: 'authd', jti: '5f0c…', iat: 1795856400, exp: 1795856700 },
    { active: false }
  ]
})
export type Introspection = Static<typeof IntrospectionReply>

export const OAuthErrorSchema = Type.Object({
  error: Type.String({ description: 'RFC 6749 §5.2: `invalid_request`, `invalid_client`, `unsupported_grant_type`, `invalid_scope`, `unauthorized_client`; `temporarily_unavailable` (429, 503), `server_error` (500).' }),
  error_description: Type.String()
}, { additionalProperties: false })

/** An error response of an OAuth endpoint (RFC 6749 §5.2 JSON, not problem JSON). */
export function oauthErrorResponse (description: string, error: string) {
  return { description, content: { 'application/json': { schema: OAuthErrorSchema, example: { error, error_description: description } } } }
}
