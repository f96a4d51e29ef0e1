// The one catalogue of machine-readable error codes. Clients branch on `code`, so a code is
// never renamed or reused for something else (GoTrue keeps its codes the same way).
// `description` says when each code is answered (Markdown relative to docs/): `npm run docs`
// writes docs/errors.md from this list, and a test fails when the committed page differs.

export const ErrorCodes = {
  validation_failed: {
    status: 400,
    title: 'Validation failed',
    description: 'The body or parameters break the schema (missing field, unknown field, wrong type — nothing is coerced —, bad email or username format, too long); a password breaks the [password policy](accounts.md#password-policy) (field codes `password_too_short`, `password_too_long`, `password_too_similar`, `password_too_common`, `password_entirely_numeric`, every one that applies); a wrong current password on password change or account deletion (`invalid_password` field code). Text with U+0000 or a lone UTF-16 surrogate anywhere in the body or query (field code `invalid_character`). Also a URL that is not valid percent-encoding (field `url`), an `OPTIONS` request from an allowed origin without `Access-Control-Request-Method` (not a real preflight), and a request a plugin cannot serve as sent (e.g. an unsatisfiable `Range` under `/docs`). `errors[]` lists every problem.'
  },
  invalid_json: {
    status: 400,
    title: 'Malformed JSON body',
    description: 'The body is not valid JSON (or is empty while declared as JSON).'
  },
  unsupported_media_type: {
    status: 415,
    title: 'Unsupported media type',
    description: 'A body that is not `application/json` (`text/plain` included).'
  },
  payload_too_large: {
    status: 413,
    title: 'Request body too large',
    description: 'The body is larger than `BODY_LIMIT` (or a chunked body\'s chunk extensions are larger than Node accepts).'
  },
  malformed_request: {
    status: 400,
    title: 'Malformed HTTP request',
    description: 'The bytes are not a valid HTTP/1.1 request: an unknown method, a bad chunk size, `Content-Length` together with `Transfer-Encoding: chunked`, a control character in a header, an HTTP/1.1 request without `Host` (HTTP/1.0 without `Host` is served). Except for the missing `Host`, the reply ends with `Connection: close` and authd closes the connection.'
  },
  headers_too_large: {
    status: 431,
    title: 'Request headers too large',
    description: 'The request line and headers are over Node\'s limit (16 KB; `--max-http-header-size`). `Connection: close`: the client must open a new connection.'
  },
  expectation_failed: {
    status: 417,
    title: 'Expectation failed',
    description: 'An `Expect` header other than `100-continue`. `Connection: close`.'
  },
  request_timeout: {
    status: 408,
    title: 'Request timeout',
    description: 'The request\'s headers did not arrive within Node\'s `headersTimeout` (60 s). `Connection: close`.'
  },
  invalid_credentials: {
    status: 401,
    title: 'Invalid credentials',
    description: 'Login with an unknown email/username, a wrong password, or an inactive account — one answer for all three.'
  },
  authentication_required: {
    status: 401,
    title: 'Authentication required',
    description: 'A route that needs an access token got no `Authorization` header; a browser refresh or logout came without the refresh cookie.'
  },
  token_invalid: {
    status: 401,
    title: 'Token is invalid',
    description: 'A token that is malformed, badly signed, of the wrong kind (refresh for access or the reverse), from another issuer/audience, never issued, blacklisted (logged out, revoked), or whose session has ended or user is inactive or deleted.'
  },
  token_expired: {
    status: 401,
    title: 'Token has expired',
    description: 'A well-signed token past its `exp`.'
  },
  token_reused: {
    status: 401,
    title: 'Refresh token was reused',
    description: 'A refresh token that was already rotated, presented again after the grace window; the whole session has just been revoked.'
  },
  session_expired: {
    status: 401,
    title: 'Session has reached its maximum lifetime',
    description: 'A refresh of a session older than `SESSION_MAX_LIFETIME` (counted from its login); the session has just been ended. Log in again.'
  },
  account_inactive: {
    status: 403,
    title: 'Account is inactive',
    description: 'A sign-in through an identity provider (`POST /v1/app/auth/providers/{id}/token`, or `?error=account_inactive` on the browser callback\'s redirect) to an account an admin deactivated. (A password login to an inactive account gets `invalid_credentials`, a token of one `token_invalid`.)'
  },
  email_taken: {
    status: 409,
    title: 'Email address already registered',
    description: 'Register with an email that is already registered (compared lower-cased); `POST /v1/users/me/email` with an address another account has, or `POST /v1/auth/email/change/confirm` when another account took the address meanwhile (nothing changes).'
  },
  username_taken: {
    status: 409,
    title: 'Username already taken',
    description: 'Register or `PATCH /v1/users/me` with a username already taken (compared case-insensitively).'
  },
  self_lockout: {
    status: 409,
    title: 'Cannot lock yourself out',
    description: '`PATCH /v1/admin/users/{id}` by an admin on their own account that would deactivate them or remove their `admin` role. Nothing changes.'
  },
  forbidden: {
    status: 403,
    title: 'Forbidden',
    description: 'An admin route (`/v1/admin/*`) called by a user whose roles, as stored now (not as the access token says), do not include `admin`; a path under `/docs` the static-file server refuses to serve.'
  },
  csrf_failed: {
    status: 403,
    title: 'CSRF check failed',
    description: 'A `/v1/browser/auth/*` request whose `Origin` is not in `CORS_ORIGINS` (or, without `Origin`, with `Sec-Fetch-Site: cross-site`); a browser refresh or logout without the session\'s token in `X-CSRF-Token`. Nothing is rotated or revoked.'
  },
  not_found: {
    status: 404,
    title: 'Not found',
    description: 'No such route (a wrong method on a known path included), a path parameter longer than 100 characters, or `DELETE /v1/sessions/{id}` with an id that is not one of the caller\'s sessions. Every `{id}` in a path follows one rule: a UUID in its canonical 8-4-4-4-12 hex form, either case; anything else (a `urn:uuid:` prefix, braces, no dashes) names nothing and is 404 on every route (an id in a query string, such as `userId`, is 400 `validation_failed`).'
  },
  method_not_allowed: {
    status: 405,
    title: 'Method not allowed',
    description: 'In the catalogue; not raised today (Fastify answers a wrong method with 404).'
  },
  rate_limited: {
    status: 429,
    title: 'Too many requests',
    description: 'Over a per-IP limit; `Retry-After` says when to retry. Also `POST /v1/users/me/email` again within `MAIL_THROTTLE_SECONDS` of the previous request (one mail per user per window).'
  },
  account_locked: {
    status: 429,
    title: 'Too many failed logins',
    description: 'Login with an email or username that `LOCKOUT_THRESHOLD` failed logins have locked — even with the right password, and the same for names no account has ([Lockout](accounts.md#lockout-after-failed-logins)); `Retry-After` says when it unlocks.'
  },
  email_not_verified: {
    status: 403,
    title: 'Email address not verified',
    description: 'Login with the right password to an account whose address is not verified yet, while `EMAIL_VERIFICATION=mandatory` (a wrong password still gets `invalid_credentials`).'
  },
  verification_token_invalid: {
    status: 400,
    title: 'Verification link is invalid or expired',
    description: '`POST /v1/auth/email/verify` with a token that is unknown, used, expired, of another purpose, of an inactive account, or sent to an address the account no longer has.'
  },
  reset_token_invalid: {
    status: 400,
    title: 'Password-reset link is invalid or expired',
    description: '`POST /v1/auth/password/reset` with a token that is unknown, used, expired, superseded by a completed reset, of another purpose, of an inactive account, or sent to an address the account no longer has.'
  },
  email_code_invalid: {
    status: 400,
    title: 'Login code is wrong or expired',
    description: '`POST /v1/{client}/auth/code/confirm` with a code that is wrong, expired (`EMAIL_CODE_TTL`), used, replaced by a newer one, out of tries (`EMAIL_CODE_MAX_ATTEMPTS`), or for an address with no active account — one answer for all ([Login by email code](accounts.md#login-by-email-code)). Counts toward the address\'s [lockout](accounts.md#lockout-after-failed-logins). Ask for a new code.'
  },
  email_change_token_invalid: {
    status: 400,
    title: 'Email-change link is invalid or expired',
    description: '`POST /v1/auth/email/change/confirm` with a token that is unknown, used, expired (`EMAIL_CHANGE_TTL`), replaced by a newer request, of another purpose, or of an inactive account ([Email change](accounts.md#email-change)).'
  },
  mfa_invalid: {
    status: 400,
    title: 'Second-factor code is wrong',
    description: 'A TOTP code that is wrong, outside ±1 time step, or already used (each code works once); a recovery code that is unknown or used. On `POST /v1/{client}/auth/mfa` it counts toward the account\'s [lockout](accounts.md#lockout-after-failed-logins) and the `mfaToken`\'s attempts; on enrolment (`…/mfa/totp/confirm`) and re-authentication it is a field error of `code` or `recoveryCode`.'
  },
  webauthn_failed: {
    status: 400,
    title: 'Passkey check failed',
    description: 'A WebAuthn response that does not verify: its challenge is unknown, expired or already used (each works once), its origin is not one of `WEBAUTHN_ORIGINS`, it is not for `WEBAUTHN_RP_ID`, the user was not verified, the signature is wrong, the credential is unknown or already registered, or its signature counter did not grow (a cloned authenticator). See [Passkeys](accounts.md#passkeys).'
  },
  mfa_token_invalid: {
    status: 401,
    title: 'Second-factor login expired or unknown',
    description: '`POST /v1/{client}/auth/mfa` with an `mfaToken` that is unknown, used (each one completes one login), older than `MFA_TOKEN_TTL`, past `MFA_MAX_ATTEMPTS` wrong codes, or whose account changed its password or was deactivated since. Log in again.'
  },
  mfa_already_enabled: {
    status: 409,
    title: 'Second factor already on',
    description: '`POST /v1/users/me/mfa/totp` while TOTP is on: disable it first (`DELETE /v1/users/me/mfa/totp`, which needs a recent authentication) to enrol another authenticator.'
  },
  mfa_not_pending: {
    status: 409,
    title: 'No enrolment to confirm',
    description: '`POST /v1/users/me/mfa/totp/confirm` without an enrolment started by `POST /v1/users/me/mfa/totp` (or after it was confirmed).'
  },
  reauthentication_required: {
    status: 403,
    title: 'Recent authentication required',
    description: 'A sensitive action (password change, email change, account deletion, disabling a factor, new recovery codes, an admin\'s role change) more than `REAUTHENTICATION_WINDOW` seconds after the session last authenticated: call `POST /v1/users/me/reauthenticate` and retry.'
  },
  // Sign in with other identity providers (docs/accounts.md "Sign in with other providers").
  // The browser callback answers with a redirect, not problem JSON: it puts the code in `?error=`.
  provider_unknown: {
    status: 404,
    title: 'Unknown identity provider',
    description: 'A provider id that is not configured (`AUTH_PROVIDERS`); on the browser start and callback, `?error=provider_unknown`.'
  },
  provider_state_invalid: {
    status: 400,
    title: 'Provider sign-in state is invalid',
    description: 'Browser callback only (`?error=`): the state cookie is missing, expired (10 minutes), tampered with or for another provider, or the `state` the provider sent back is not the cookie\'s — a forged or replayed callback. Start again.'
  },
  provider_denied: {
    status: 400,
    title: 'Sign-in refused at the provider',
    description: 'Browser callback only (`?error=`): the provider answered with an error (the user cancelled or refused consent).'
  },
  provider_token_invalid: {
    status: 401,
    title: 'Provider token is invalid',
    description: 'The provider\'s answer does not verify: an `idToken` with a bad signature, another issuer, an audience that is not the provider\'s `clientId` or one of its `appClientIds`, expired, or without the `nonce` given; a code the provider refuses (unknown, used, expired, or the `codeVerifier` does not match). On the browser callback (`?error=provider_token_invalid`): the same for its code exchange — a replayed callback, an ID token for another nonce.'
  },
  provider_failed: {
    status: 502,
    title: 'The identity provider could not be used',
    description: 'The provider could not be reached or did not answer in time (discovery, keys, token or API request). On the browser start and callback: `?error=provider_failed`.'
  },
  provider_email_unverified: {
    status: 403,
    title: 'The provider gives no verified email address',
    description: 'A first sign-in through a provider that asserts no email address, or (with `EMAIL_VERIFICATION=mandatory`) none it says is verified: no account can be created from it.'
  },
  identity_link_required: {
    status: 409,
    title: 'Log in and link this identity',
    description: 'A first sign-in through a provider with the email address of an existing account, when the provider does not say the address is verified or the account\'s address is not verified: accounts are never joined on an unverified address. Log in to the account and link the provider explicitly (`POST /v1/users/me/identities/{provider}/start`).'
  },
  identity_in_use: {
    status: 409,
    title: 'This identity belongs to another account',
    description: 'Linking a provider identity (browser callback `?error=identity_in_use`) that is already linked to another account.'
  },
  last_login_method: {
    status: 409,
    title: 'The only way into the account',
    description: '`DELETE /v1/users/me/identities/{id}` of the account\'s last way in: it has no usable password, no passkey and no other identity. Set a password (password reset) or link another provider first.'
  },
  // OAuth endpoints (/oauth/token, /oauth/introspect, /oauth/revoke) only: these leave as RFC
  // 6749 §5.2 JSON ({ error, error_description }), not problem JSON (plugins/error-handler.ts).
  invalid_request: {
    status: 400,
    title: 'Invalid OAuth request',
    description: '`/oauth/*` only (RFC 6749 §5.2 JSON, not problem JSON): a missing or repeated parameter, a body that is not `application/x-www-form-urlencoded`, client credentials sent both in `Authorization: Basic` and in the body. Every other 4xx cause on these endpoints (a body too large, a bad character) is answered as `invalid_request` too.'
  },
  invalid_client: {
    status: 401,
    title: 'Client authentication failed',
    description: '`/oauth/*` only: no client credentials, an unknown `client_id`, a wrong secret (a rotated-out one included), a malformed `Authorization: Basic` header, or a disabled client — one answer for all. With `WWW-Authenticate: Basic realm="authd"` unless the credentials came in the body.'
  },
  unauthorized_client: {
    status: 400,
    title: 'Grant not allowed for this client',
    description: 'In the catalogue for OAuth clients that expect it; not raised today (every client may use `client_credentials`, the only grant of `/oauth/token`).'
  },
  unsupported_grant_type: {
    status: 400,
    title: 'Unsupported grant type',
    description: '`POST /oauth/token` with a `grant_type` other than `client_credentials`.'
  },
  invalid_scope: {
    status: 400,
    title: 'Invalid scope',
    description: '`POST /oauth/token` asking for a `scope` the client was not given (every requested scope must be one of the client\'s).'
  },
  service_unavailable: {
    status: 503,
    title: 'Service unavailable',
    description: 'The database cannot be reached: connection refused, reset or timed out (5 s to connect), the server starting up or shutting down, or no answer to a query within 10 s (a paused server, a network partition); and `GET /readyz` while the database does not answer within 2 s. authd recovers by itself when the database is back.'
  },
  internal_error: {
    status: 500,
    title: 'Internal server error',
    description: 'Anything unexpected. The detail only quotes the request id; the stack trace goes to the log, never to the client.'
  }
} as const satisfies Record<string, { status: number, title: string, description: string }>

export type ErrorCode = keyof typeof ErrorCodes

export interface FieldError { field: string, code: string, message: string }

/** A failure the client caused or must know about; the error handler turns it into problem JSON. */
export class AppError extends Error {
  readonly code: ErrorCode
  readonly status: number
  readonly errors?: FieldError[]
  readonly headers?: Record<string, string>

  constructor (code: ErrorCode, detail?: string, options: { errors?: FieldError[], headers?: Record<string, string> } = {}) {
    super(detail ?? ErrorCodes[code].title)
    this.name = 'AppError'
    this.code = code
    this.status = ErrorCodes[code].status
    this.errors = options.errors
    this.headers = options.headers
  }
}
