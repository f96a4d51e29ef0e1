// Sign in with other identity providers: the browser flow's query strings, the app's token
// exchange, and the identities linked to an account.
import { Type } from 'typebox'
import { IdParams, IsoDateTime } from './common.js'
import { PROVIDER_ID_PATTERN } from '../services/provider-config.js'
import { EXAMPLE_IDENTITY } from './examples.js'

export const ProviderParams = Type.Object({
  id: Type.String({ pattern: PROVIDER_ID_PATTERN, description: 'The provider id, as configured in AUTH_PROVIDERS (e.g. `google`).', examples: ['google'] })
})

/** Route option of the provider routes: an `{id}` that is not even a provider id names nothing (404 not_found). */
export const PROVIDER_NOT_FOUND = { notFoundOnBadParams: 'No identity provider has this id' }

export const ProviderList = Type.Array(Type.Object({ id: Type.String(), name: Type.String() }), {
  examples: [[{ id: 'google', name: 'Google' }, { id: 'github', name: 'GitHub' }]]
})

const Next = Type.String({ maxLength: 2048, description: 'A path of the frontend to land on afterwards (`/settings`); anything else (another host, `//host`, `/\\host`) lands on `/`.' })

export const StartQuery = Type.Object({ next: Type.Optional(Next) }, { additionalProperties: false, examples: [{ next: '/dashboard' }] })

const Param = (description: string) => Type.Optional(Type.String({ maxLength: 4096, description }))

/** The provider's authorization response; other parameters a provider adds pass through to openid-client. */
export const CallbackQuery = Type.Object({
  code: Param('The authorization code.'),
  state: Param('The state of the start, checked against its cookie.'),
  iss: Param('The provider\'s issuer (RFC 9207), when it sends one.'),
  error: Param('The provider\'s refusal (e.g. `access_denied`).'),
  error_description: Param('Its description (never shown to the user).')
}, { additionalProperties: true, examples: [{ code: 'SplxlOBeZQQYbYS6WxSbIA', state: 'af0ifjsldkj', iss: 'https://accounts.google.com' }] })

export const LinkStartBody = Type.Object({ next: Type.Optional(Next) }, { additionalProperties: false, examples: [{ next: '/settings/identities' }] })

export const LinkStartReply = Type.Object({
  url: Type.String({ description: 'The provider\'s authorization URL: navigate the page there (`location.assign(url)`).' })
}, { examples: [{ url: 'https://accounts.google.com/o/oauth2/v2/auth?client_id=…&response_type=code&redirect_uri=…&scope=openid+email+profile&code_challenge=…&code_challenge_method=S256&state=…&nonce=…' }] })

const Jws = Type.String({ minLength: 1, maxLength: 16_384 })

export const ProviderTokenBody = Type.Object({
  idToken: Type.Optional(Type.String({ ...Jws, description: 'An ID token the app got from the provider itself (OpenID providers only): its audience must be the provider\'s clientId or one of its appClientIds.' })),
  nonce: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: 'The nonce the app sent the provider, if it sent one: the ID token must carry it (with idToken or with the code, whose ID token then must).' })),
  code: Type.Optional(Type.String({ minLength: 1, maxLength: 4096, description: 'The authorization code the app received (its own PKCE flow).' })),
  codeVerifier: Type.Optional(Type.String({ minLength: 43, maxLength: 128, description: 'The PKCE code verifier of that flow.' })),
  redirectUri: Type.Optional(Type.String({ minLength: 1, maxLength: 2048, description: 'The redirect_uri of that flow: one of the provider\'s appRedirectUris.' }))
}, {
  additionalProperties: false,
  description: 'Either `{ idToken, nonce? }` or `{ code, codeVerifier, redirectUri, nonce? }`.',
  examples: [{ idToken: 'eyJhbGciOiJSUzI1NiIsImtpZCI6IjFlOWdkazcifQ.eyJpc3MiOiJodHRwczovL2FjY291bnRzLmdvb2dsZS5jb20ifQ.c2lnbmF0dXJl' }]
})

export const Identity = Type.Object({
  id: Type.String({ format: 'uuid' }),
  provider: Type.String(),
  subject: Type.String({ description: 'The user\'s id at the provider (OIDC `sub`, GitHub\'s user id).' }),
  email: Type.String({ description: 'The address the provider gave when the identity was linked.' }),
  createdAt: IsoDateTime
})

export const IdentityList = Type.Array(Identity, { examples: [[EXAMPLE_IDENTITY]] })

export const IdentityParams = IdParams('The identity id (from GET /v1/users/me/identities).')
