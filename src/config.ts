// Every setting comes from the environment (and `.env` in development), is validated once
// here against one TypeBox schema, and its TypeScript type is derived from that schema.
// `.env.example` documents each variable with the same default. Each `description` is Markdown
// relative to docs/: `npm run docs` renders them into docs/configuration.md, so the page cannot
// drift from the schema (test/store-independent/docs.test.ts checks both).
import { existsSync } from 'node:fs'
import { Type, type Static } from 'typebox'
import { Value } from 'typebox/value'
import { isPostgresUrl, parsePostgresUrl, PoolerFlagError } from './db/connection-url.js'
import { readProviders } from './services/provider-config.js'

/** An RFC 6265 cookie-name token (no separators, no spaces), or empty for the default name. */
const COOKIE_NAME = "^[!#$%&'*+.^_`|~0-9A-Za-z-]*$"

/** An absolute URL path without query or fragment (those belong to authd's link). */
const URL_PATH = '^/[A-Za-z0-9._~!$&\'()*+,;=:@%/-]*$'

const Int = (def: number, min: number, max: number, description: string) =>
  Type.Integer({ default: def, minimum: min, maximum: max, description })

export const ConfigSchema = Type.Object({
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')], { default: 'development', description: 'Decides the log format under `LOG_FORMAT=auto`, and where mail goes while `SMTP_URL` is empty (printed on stdout, dropped, or nowhere — [mail](accounts.md#email-verification-and-password-reset)). Development on a terminal also gets pretty logs (`LOG_FORMAT`). **Production** also requires `SMTP_URL` unless `EMAIL_VERIFICATION=none`; signing keys and `REFRESH_TOKEN_SECRET` from configuration unless `ALLOW_GENERATED_KEYS=true`, and key files only authd\'s user may read ([Keys and rotation](keys.md#keys-and-rotation)); and serves `/metrics` only with `METRICS_TOKEN` or on `METRICS_PORT` ([Metrics](operations.md#metrics)).' }),
  HOST: Type.String({ default: '0.0.0.0', minLength: 1, description: 'Interface to listen on.' }),
  PORT: Int(3000, 0, 65535, 'TCP port to listen on.'),
  LOG_LEVEL: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), { default: 'info', description: 'Logs (pino) go to stdout, with no password, token or cookie in them ([Logs](operations.md#logs)).' }),
  LOG_FORMAT: Type.Union([Type.Literal('auto'), Type.Literal('json'), Type.Literal('pretty')], { default: 'auto', description: '`json` (one JSON object a line), `pretty` (pino-pretty, for people) or `auto`: pretty when `NODE_ENV=development` and stdout is a terminal, JSON otherwise (production, CI, anything piped).' }),
  METRICS_TOKEN: Type.String({ default: '', description: 'Bearer token `GET /metrics` requires (at least 16 bytes). Empty: `/metrics` is open to whoever can reach it in development and test, and does not exist (404 `not_found`) with `NODE_ENV=production` ([Metrics](operations.md#metrics)).' }),
  METRICS_PORT: Int(0, 0, 65535, 'A port (on `HOST`, not `PORT`) that serves `GET /metrics` for a scraper on a private network; no token is needed there (`METRICS_TOKEN`, if set, still is), and `PORT` then has no `/metrics`. `0`: off. Must differ from `PORT`.'),
  DATA_DIR: Type.String({ default: './data', minLength: 1, description: 'The embedded database (`DATA_DIR/pglite`) and generated keys (`DATA_DIR/keys`: development, or production with `ALLOW_GENERATED_KEYS=true`) live here.' }),
  DATABASE_URL: Type.String({ default: '', description: 'Empty: embedded PGlite in `DATA_DIR/pglite`. `pglite://<dir>`: PGlite in `<dir>`. `memory://`: PGlite in memory, gone on exit. `postgresql://…` or `postgres://…`: that PostgreSQL database; add `?pgbouncer=true` (`true` or `false`) when it is reached through a transaction-mode pooler — authd then sends no named prepared statements ([Connection poolers](operations.md#connection-poolers-pgbouncer-supabase-neon)).' }),
  DIRECT_DATABASE_URL: Type.String({ default: '', description: '`postgresql://…` reaching the same database without a transaction-mode pooler (Prisma\'s `directUrl`): migrations run there — at start, `authd migrate`, and `npx prisma migrate …`. Empty: migrations use `DATABASE_URL`. Only with a PostgreSQL `DATABASE_URL`.' }),
  DATABASE_POOL_SIZE: Int(10, 1, 200, 'PostgreSQL connections per process. Unused with PGlite.'),
  MIGRATE_ON_START: Type.Boolean({ default: true, description: 'Apply pending migrations from `prisma/migrations` at start. With `false`, run `npm run migrate` yourself.' }),
  JWT_ISSUER: Type.String({ default: '', description: 'Override of the tokens\' `iss` and of the discovery documents\' `issuer`. Empty (the default): `PUBLIC_URL` (or its development default) is the issuer, as OpenID discovery expects ([Verifying tokens](verifying-tokens.md#issuer-and-discovery)). Set it only to keep another issuer; with `NODE_ENV=production` `PUBLIC_URL` or `JWT_ISSUER` is required.' }),
  JWT_PREVIOUS_ISSUERS: Type.String({ default: 'authd', description: 'Comma-separated `iss` values authd still accepts on tokens it signed itself (its routes, refresh, `/v1/auth/verify`, introspection), so that sessions survive an issuer change; a refresh gives the session tokens with the new issuer. `none`: no other. The default `authd` is the issuer before `PUBLIC_URL` became it: set `none` once `SESSION_MAX_LIFETIME` has passed since the upgrade ([Migration](verifying-tokens.md#migrating-from-the-issuer-authd)).' }),
  JWT_AUDIENCE: Type.String({ default: 'authd', minLength: 1, description: 'Comma-separated audiences of user access tokens (RFC 8725 §3.9): the first is authd\'s own — authd accepts a token only if its `aud` holds it, and refresh tokens carry `<first>:refresh`; the others name the services that may accept the tokens too. One value: `aud` is a string; several: an array ([Audiences](verifying-tokens.md#audiences)).' }),
  ACCESS_TOKEN_TTL: Int(300, 30, 86_400, 'Access-token lifetime in seconds.'),
  REFRESH_TOKEN_TTL: Int(86_400, 60, 31_536_000, 'Refresh-token lifetime in seconds. Every refresh issues a token with the full lifetime.'),
  REFRESH_GRACE_SECONDS: Int(10, 0, 300, 'Seconds during which a refresh token that was just rotated may be presented again; it is answered with the same new refresh token its rotation issued and a fresh access token (see [Token rules](tokens.md#token-rules)).'),
  SESSION_MAX_LIFETIME: Int(2_592_000, 60, 315_360_000, 'Seconds (default 30 days) a session lasts from its login, however often it is refreshed (ASVS v5 7.3.2). After it, refresh answers 401 `session_expired`, the session is ended, and its access tokens stop working on authd\'s own routes; `refreshExpiresIn` and the refresh cookie\'s `Max-Age` never reach past it.'),
  ACCESS_TOKEN_ALG: Type.Union([Type.Literal('RS256'), Type.Literal('ES256'), Type.Literal('EdDSA'), Type.Literal('HS256')], { default: 'ES256', description: 'Algorithm of new access-token signing keys: `ES256` (ECDSA P-256; every JOSE library verifies it, and it signs ~5× faster than RS256 with tokens ~250 bytes shorter), `RS256` (RSA 2048), `EdDSA` (Ed25519; not every library verifies it), or `HS256` — single-service mode: tokens are signed with `ACCESS_TOKEN_SECRET`, the JWKS is empty, and **other services cannot verify tokens locally** (they must call `POST /v1/auth/verify` or share the secret). See [Keys and rotation](keys.md#keys-and-rotation).' }),
  ACCESS_TOKEN_SECRET: Type.String({ default: '', description: 'HMAC secret (at least 32 bytes, not the refresh secret) that signs access tokens; required with, and only allowed with, `ACCESS_TOKEN_ALG=HS256`.' }),
  SIGNING_KEYS_FILE: Type.String({ default: '', description: 'Path of a JSON file holding the private JWK set of the access-token keys (format: [Keys and rotation](keys.md#keys-and-rotation)). Re-read when it changes; `authd keys rotate` / `prune` rewrite it in place.' }),
  SIGNING_KEYS: Type.String({ default: '', description: 'The same JSON set in a variable (or one PEM private key, `\\n`-escaped newlines allowed). `authd keys … --print` prints a new set to put here.' }),
  SIGNING_KEY_FILE: Type.String({ default: '', description: 'Path of one PEM private key (RSA ≥ 2048 bits, EC P-256 or Ed25519). Cannot rotate without a failure: prefer `SIGNING_KEYS_FILE`. With none of these three set, keys live in `DATA_DIR/keys/access/` (created on first start, kept) — with `NODE_ENV=production` only if `ALLOW_GENERATED_KEYS=true`. At most one of the three may be set.' }),
  SIGNING_KEYS_RELOAD_INTERVAL: Int(30, 0, 86_400, 'Seconds between checks of the key directory or key file for changes (a `stat`, re-read only on change), so a rotation reaches running instances without a restart. `0`: never.'),
  REFRESH_TOKEN_SECRET: Type.String({ default: '', description: 'HMAC secret (at least 32 bytes, e.g. `openssl rand -base64 48`) that signs refresh tokens (HS256). Empty: a random one is generated on first start into `DATA_DIR/keys/refresh-secret` and reused — with `NODE_ENV=production` only if `ALLOW_GENERATED_KEYS=true`.' }),
  ALLOW_GENERATED_KEYS: Type.Boolean({ default: false, description: 'With `NODE_ENV=production`, start with keys authd generates into `DATA_DIR/keys` (access-token keys, refresh secret) instead of refusing to start without `SIGNING_KEYS_FILE`/`SIGNING_KEYS`/`SIGNING_KEY_FILE` and `REFRESH_TOKEN_SECRET`; a warning is logged. For a single instance or a try-out. Development and test always may.' }),
  BCRYPT_COST: Int(12, 4, 16, 'bcrypt work factor. A stored hash of another cost is re-hashed at the user\'s next successful login.'),
  PASSWORD_MIN_LENGTH: Int(8, 1, 1024, 'Shortest accepted password, in characters (Unicode code points).'),
  PASSWORD_MAX_LENGTH: Int(256, 8, 4096, 'Longest accepted password, in characters; must not be below `PASSWORD_MIN_LENGTH`.'),
  PASSWORD_CHECK_COMMON: Type.Boolean({ default: true, description: 'Refuse the 20,000 most common passwords (`password_too_common`; see [Password policy](accounts.md#password-policy)).' }),
  PASSWORD_CHECK_SIMILARITY: Type.Boolean({ default: true, description: 'Refuse passwords too similar to the account\'s email, username or full name (`password_too_similar`).' }),
  PASSWORD_CHECK_NUMERIC: Type.Boolean({ default: true, description: 'Refuse passwords made only of digits (`password_entirely_numeric`).' }),
  LOCKOUT_THRESHOLD: Int(10, 0, 10_000, 'Failed logins with one email or username that lock it for `LOCKOUT_COOLOFF` ([Lockout](accounts.md#lockout-after-failed-logins)). `0`: no lockout.'),
  LOCKOUT_COOLOFF: Int(900, 1, 604_800, 'Seconds a locked email/username stays locked; logins with it get 429 `account_locked` meanwhile.'),
  LOCKOUT_WINDOW: Int(900, 1, 604_800, 'Seconds without a failure after which an email/username\'s failures are forgotten.'),
  DEVICE_TOKEN_TTL: Int(15_552_000, 0, 63_072_000, 'Seconds (default 180 days) a *known-device token* stays valid: issued at every successful login (`deviceToken` in the app reply, an HttpOnly cookie for browsers), it lets that device log in to the same account while the account is locked, under a limit of its own ([Lockout](accounts.md#lockout-after-failed-logins)). `0`: no device tokens.'),
  MFA_ENCRYPTION_KEY: Type.String({ default: '', description: 'Key (base64 or base64url of 32 random bytes, e.g. `openssl rand -base64 32`) that encrypts TOTP secrets at rest (AES-256-GCM) and keys the recovery-code hashes. Empty: derived from the refresh secret — set it in production so the refresh secret can be rotated without voiding every enrolled authenticator ([Second factor](accounts.md#second-factor)).' }),
  MFA_ISSUER: Type.String({ default: '', maxLength: 64, pattern: '^[^:]*$', description: 'The name authenticator apps show for authd accounts (the `issuer` of the `otpauth://` URI; no `:`). Empty: the host name of `FRONTEND_URL`.' }),
  MFA_TOKEN_TTL: Int(300, 30, 1800, 'Seconds an `mfaToken` (the answer to a right password when a second factor is on) can complete its login.'),
  MFA_MAX_ATTEMPTS: Int(5, 1, 100, 'Wrong codes one `mfaToken` takes before it dies (each also counts toward the account\'s lockout).'),
  MFA_REQUIRED_ROLES: Type.String({ default: '', description: 'Comma-separated roles (e.g. `admin`) whose users must have a second factor: until they enrol one, a right password answers `{ mfaEnrollmentRequired: true, mfaToken }` and no tokens; they enrol with `POST /v1/{client}/auth/mfa/totp { mfaToken }` and complete the login with a first code ([Second factor](accounts.md#second-factor)).' }),
  WEBAUTHN_RP_ID: Type.String({ default: '', maxLength: 253, pattern: '^[A-Za-z0-9.-]*$', description: 'The WebAuthn relying-party id passkeys are bound to: a registrable domain that is the pages\' host or a parent of it ([Passkeys](accounts.md#passkeys)). Changing it voids every registered passkey. Empty: the host name of `FRONTEND_URL`.' }),
  WEBAUTHN_RP_NAME: Type.String({ default: '', maxLength: 64, description: 'The name browsers show when creating a passkey. Empty: `MFA_ISSUER`, else the host name of `FRONTEND_URL`.' }),
  WEBAUTHN_ORIGINS: Type.String({ default: '', description: 'Comma-separated exact origins (`scheme://host[:port]`) of the pages that may create and use passkeys; a WebAuthn response from any other origin is refused (`webauthn_failed`). Empty: the origin of `FRONTEND_URL` plus `CORS_ORIGINS`.' }),
  WEBAUTHN_CHALLENGE_TTL: Int(300, 30, 1800, 'Seconds a WebAuthn challenge (from a `…/passkeys/options` or `…/auth/passkey/options` request) can be answered; each works once.'),
  REAUTHENTICATION_WINDOW: Int(300, 30, 86_400, 'Seconds after a login or `POST /v1/users/me/reauthenticate` during which sensitive actions (password change, email change, account deletion, disabling a factor, new recovery codes, admin role changes) are allowed; later they answer 403 `reauthentication_required`.'),
  BODY_LIMIT: Int(16_384, 1024, 1_048_576, 'Largest request body in bytes; larger gets 413 `payload_too_large`.'),
  RATE_LIMIT_ENABLED: Type.Boolean({ default: true, description: 'Per-IP rate limits (the `RATE_LIMIT_*` settings); `false` turns them all off.' }),
  RATE_LIMIT_LOGIN: Int(10, 1, 100_000, 'Requests per window per IP to login — and to the other routes that check a password or code (`POST /v1/users/me/password`, `DELETE /v1/users/me`, `POST /v1/{client}/auth/code/confirm`), which share this budget.'),
  RATE_LIMIT_REGISTER: Int(5, 1, 100_000, 'Register requests per window per IP.'),
  RATE_LIMIT_REFRESH: Int(60, 1, 100_000, 'Refresh requests per window per IP.'),
  RATE_LIMIT_EMAIL: Int(10, 1, 100_000, 'Requests per window per IP to the mail routes together (`/v1/auth/email/verify`, `/resend`, `/v1/auth/password/forgot`, `/reset`, `/v1/{client}/auth/code/request`, `POST /v1/users/me/email`, `/v1/auth/email/change/confirm`).'),
  RATE_LIMIT_OAUTH: Int(60, 1, 100_000, 'Requests per window per IP to the OAuth endpoints together (`/oauth/token`, `/oauth/introspect`, `/oauth/revoke`).'),
  RATE_LIMIT_WINDOW: Int(60, 1, 86_400, 'Rate-limit window in seconds.'),
  REDIS_URL: Type.String({ default: '', description: '`redis://…`: rate-limit counters live in Redis, shared by every instance. Empty: in process memory.' }),
  RATE_LIMIT_NAMESPACE: Type.String({ default: 'authd:rl:', minLength: 1, description: 'Prefix of the rate-limit keys in Redis; give each deployment that shares one Redis its own.' }),
  TRUST_PROXY: Type.String({ default: '', description: 'Comma-separated proxy addresses or CIDRs whose `X-Forwarded-For` is believed for the client IP (rate limits, session `ip`). Empty: no proxy is trusted; the client IP is the TCP peer.' }),
  HOUSEKEEPING_INTERVAL: Int(3600, 0, 604_800, 'Seconds between the service\'s own runs of [housekeeping](operations.md#housekeeping) (deleting expired refresh tokens and dead sessions); the first run is one interval after start. `0`: off (run `flush-expired` from cron instead).'),
  CORS_ORIGINS: Type.String({ default: '', description: 'Comma-separated exact origins (`scheme://host[:port]`, no path, no trailing slash) of the pages that may call authd from a browser: only they get CORS answers (with credentials) and only they may use `/v1/browser/auth/*`. A `*` or anything that is not an origin stops the start. Empty: no cross-origin access.' }),
  COOKIE_REFRESH_NAME: Type.String({ default: '', pattern: COOKIE_NAME, description: 'Name of the HttpOnly cookie holding a browser\'s refresh token. Empty: `__Host-authd_refresh`; `__Secure-authd_refresh` when `COOKIE_PATH` is set to something other than `/`; `authd_refresh` when `COOKIE_SECURE=false` ([why](browser-clients.md#cookie-names-and-cookie-tossing)). An explicit `__Host-…` name needs `COOKIE_PATH` empty or `/`.' }),
  COOKIE_CSRF_NAME: Type.String({ default: '', pattern: COOKIE_NAME, description: 'Name of the readable cookie holding the session\'s CSRF token. Empty: `__Host-authd_csrf`; `__Secure-authd_csrf` when `COOKIE_CSRF_DOMAIN` is set (`__Host-` forbids a Domain); `authd_csrf` when `COOKIE_SECURE=false`.' }),
  COOKIE_SECURE: Type.Boolean({ default: true, description: '`Secure` flag of both cookies. `false` is accepted only when every `CORS_ORIGINS` entry is `http://localhost`, `http://127.0.0.1` or `http://[::1]` (any port): development over plain HTTP.' }),
  COOKIE_SAMESITE: Type.Union([Type.Literal('Strict'), Type.Literal('Lax'), Type.Literal('None')], { default: 'Strict', description: 'Applies to both cookies. `None` (needs `COOKIE_SECURE=true`) only when the page\'s site differs from authd\'s.' }),
  COOKIE_PATH: Type.String({ default: '', pattern: '^(/[\\x21-\\x3A\\x3C-\\x7E]*)?$', description: '`Path` of the refresh cookie. Empty: `/` for a `__Host-` name (the prefix requires it), else `/v1/browser/auth`. Set it to the browser token endpoints *as the browser sees them* when a proxy mounts authd under a prefix (e.g. `/auth/v1/browser/auth`; the default name is then `__Secure-authd_refresh`).' }),
  COOKIE_CSRF_DOMAIN: Type.String({ default: '', pattern: '^[A-Za-z0-9.-]*$', description: '`Domain` of the CSRF cookie. Empty: host-only. Set the parent domain (`example.com`) when the page (`app.example.com`) must read the cookie set by authd (`api.example.com`). The refresh cookie is always host-only.' }),
  SMTP_URL: Type.String({ default: '', description: 'Where mail is sent: `smtp://user:pass@host:587` (STARTTLS when the server offers it; add `?requireTLS=true` to insist) or `smtps://user:pass@host:465` (TLS from the start); percent-encode special characters in the password. Empty: printed on stdout with `NODE_ENV=development`, dropped with `test`, and with `production` only allowed when `EMAIL_VERIFICATION=none` (authd then sends no mail and password reset is off). A bad value is named without echoing it.' }),
  MAIL_FROM: Type.String({ default: 'authd <no-reply@localhost>', minLength: 3, description: '`From` of every mail; set an address your SMTP server may send as.' }),
  FRONTEND_URL: Type.String({ default: 'http://localhost:5173', description: 'Base URL (http/https, a path allowed, no query or fragment) of the pages the mail links open.' }),
  EMAIL_VERIFY_URL_PATH: Type.String({ default: '/verify-email', pattern: URL_PATH, description: 'Path under `FRONTEND_URL` of the page that verifies an address; the link is `FRONTEND_URL + path + #token=…`.' }),
  PASSWORD_RESET_URL_PATH: Type.String({ default: '/reset-password', pattern: URL_PATH, description: 'Path under `FRONTEND_URL` of the page that sets a new password.' }),
  EMAIL_VERIFICATION: Type.Union([Type.Literal('none'), Type.Literal('optional'), Type.Literal('mandatory')], { default: 'optional', description: '`none`: no verification mail, `/v1/auth/email/*` answer 404. `optional`: a mail at registration, login allowed before verifying. `mandatory`: registration returns no tokens and login answers 403 `email_not_verified` until the address is verified.' }),
  EMAIL_VERIFICATION_TTL: Int(259_200, 60, 2_592_000, 'Seconds a verification link works (3 days).'),
  PASSWORD_RESET_TTL: Int(3600, 60, 86_400, 'Seconds a password-reset link works (1 hour).'),
  MAIL_THROTTLE_SECONDS: Int(60, 0, 86_400, 'At most one verification mail, one reset mail, one login-code mail and one email-change mail per address per this many seconds (`0`: no throttle); requests in between still get 202 and send nothing (an email change answers 429 `rate_limited`).'),
  // Passwordless login by a mailed code, and email change (issue 15).
  EMAIL_CODE_LOGIN: Type.Boolean({ default: true, description: '`POST /v1/{client}/auth/code/request` and `…/code/confirm`: log in with a code mailed to the account\'s address ([Login by email code](accounts.md#login-by-email-code)). `false`: both answer 404 `not_found`. Also off when authd cannot send mail.' }),
  EMAIL_CODE_TTL: Int(600, 60, 3600, 'Seconds a mailed login code (and its link) works.'),
  EMAIL_CODE_MAX_ATTEMPTS: Int(5, 1, 20, 'Tries one login code takes before it dies, the right one included (each wrong one also counts toward the account\'s lockout).'),
  EMAIL_CODE_URL_PATH: Type.String({ default: '/login/code', pattern: URL_PATH, description: 'Path under `FRONTEND_URL` of the page that completes a login by code; the mail\'s link is `FRONTEND_URL + path + #email=…&code=…`.' }),
  EMAIL_CHANGE_TTL: Int(3600, 60, 86_400, 'Seconds the link that confirms a new email address works (1 hour).'),
  EMAIL_CHANGE_URL_PATH: Type.String({ default: '/confirm-email-change', pattern: URL_PATH, description: 'Path under `FRONTEND_URL` of the page that confirms a new address ([Email change](accounts.md#email-change)); the link is `FRONTEND_URL + path + #token=…`.' }),
  // Sign in with other identity providers (docs/accounts.md "Sign in with other providers").
  PUBLIC_URL: Type.String({ default: '', description: 'authd\'s own base URL as browsers and providers reach it (http/https, a path allowed for a proxy prefix, no query or fragment), e.g. `https://auth.example.com`. The providers\' callback is `PUBLIC_URL/v1/browser/auth/providers/{id}/callback` (register it at each provider). Empty: `http://localhost:PORT` (or `http://HOST:PORT` for a specific `HOST`) — outside production only; with `NODE_ENV=production` and providers configured it is required. It is also the tokens\' `iss` and the discovery `issuer` unless `JWT_ISSUER` is set; with `NODE_ENV=production` one of the two is required.' }),
  AUTH_PROVIDERS: Type.String({ default: '', description: 'JSON array of the identity providers users may sign in with ([Sign in with other providers](accounts.md#sign-in-with-other-providers)): `[{ "id", "name"?, "type": "oidc" | "google" | "github", "issuer"?, "clientId", "clientSecret", "scopes"?, "appClientIds"?, "appRedirectUris"? }]`. A bad entry stops the start, naming the entry and field (never the secret). Empty: no providers.' }),
  AUTH_PROVIDERS_FILE: Type.String({ default: '', description: 'Path of a JSON file holding the same array as `AUTH_PROVIDERS` (keeps client secrets out of the environment). At most one of the two may be set.' }),
  PROVIDER_ERROR_URL_PATH: Type.String({ default: '/login', pattern: URL_PATH, description: 'Path under `FRONTEND_URL` that a failed provider sign-in returns to, with `?error=<code>` (`provider_state_invalid`, `provider_denied`, `provider_failed`, `provider_email_unverified`, `account_inactive`, `identity_in_use`, …).' })
})

export type Config = Static<typeof ConfigSchema>

export class ConfigError extends Error {}

/** Build the configuration from an environment-like object (strings), applying defaults. */
export function parseConfig (env: Record<string, string | undefined>): Config {
  const input: Record<string, unknown> = {}
  for (const key of Object.keys(ConfigSchema.properties)) {
    const raw = env[key]
    if (raw !== undefined && raw !== '') input[key] = raw
  }
  const withDefaults = Value.Default(ConfigSchema, input)
  const converted = Value.Convert(ConfigSchema, withDefaults)
  // Checked one variable at a time so that every bad variable is named, not only the first.
  const problems: string[] = []
  for (const [name, schema] of Object.entries(ConfigSchema.properties)) {
    const error = Value.Errors(schema, (converted as Record<string, unknown>)[name])[0]
    // Value.Convert truncates "1.5" to 1: a whole number must be written as one.
    const raw = env[name]
    const notWhole = (schema as { type?: string }).type === 'integer' && raw !== undefined && raw !== '' && !Number.isInteger(Number(raw))
    if (notWhole) {
      problems.push(`  ${name}=${JSON.stringify(raw)}: must be integer`)
      continue
    }
    if (error === undefined) continue
    const choices = (schema as { anyOf?: Array<{ const: string }> }).anyOf
    const message = choices ? `must be one of ${choices.map((c) => c.const).join(', ')}` : error.message
    problems.push(`  ${name}=${JSON.stringify(env[name] ?? '')}: ${message}`)
  }
  const config = converted as Config
  resolveCookieDefaults(config)
  // Checked with the others, so that these too are named alongside every other bad variable.
  if (config.PASSWORD_MIN_LENGTH > config.PASSWORD_MAX_LENGTH) {
    problems.push('  PASSWORD_MIN_LENGTH: must not exceed PASSWORD_MAX_LENGTH')
  }
  if (typeof config.REFRESH_TOKEN_SECRET === 'string' && config.REFRESH_TOKEN_SECRET !== '' && Buffer.byteLength(config.REFRESH_TOKEN_SECRET) < 32) {
    problems.push('  REFRESH_TOKEN_SECRET: must be at least 32 bytes')
  }
  // A guessable token would only pretend to protect /metrics.
  if (typeof config.METRICS_TOKEN === 'string' && config.METRICS_TOKEN !== '' && Buffer.byteLength(config.METRICS_TOKEN) < 16) {
    problems.push('  METRICS_TOKEN: must be at least 16 bytes (or empty)')
  }
  if (config.METRICS_PORT !== 0 && config.METRICS_PORT === config.PORT) problems.push(`  METRICS_PORT: must differ from PORT (${config.PORT})`)
  problems.push(...databaseProblems(config))
  problems.push(...signingKeyProblems(config))
  problems.push(...productionKeyProblems(config))
  problems.push(...browserProblems(config))
  problems.push(...mailProblems(config))
  problems.push(...providerConfigProblems(config))
  problems.push(...tokenClaimProblems(config))
  if (problems.length > 0) throw new ConfigError(`Invalid configuration:\n${problems.join('\n')}`)
  return config
}

/** Database URLs (see src/db/connection-url.ts). They may hold a password: never echoed. */
function databaseProblems (config: Config): string[] {
  const problems: string[] = []
  const databaseUrl = typeof config.DATABASE_URL === 'string' ? config.DATABASE_URL : ''
  const directUrl = typeof config.DIRECT_DATABASE_URL === 'string' ? config.DIRECT_DATABASE_URL : ''
  for (const [name, url] of [['DATABASE_URL', databaseUrl], ['DIRECT_DATABASE_URL', directUrl]] as const) {
    if (!isPostgresUrl(url)) continue
    try {
      parsePostgresUrl(url)
    } catch (error) {
      if (!(error instanceof PoolerFlagError)) throw error
      problems.push(`  ${name}: ${error.message} (value not shown)`)
    }
  }
  if (directUrl !== '') {
    if (!isPostgresUrl(directUrl)) problems.push('  DIRECT_DATABASE_URL: must be a postgresql:// or postgres:// URL (value not shown)')
    else if (!isPostgresUrl(databaseUrl)) problems.push('  DIRECT_DATABASE_URL: only used with a PostgreSQL DATABASE_URL (postgresql://…); unset it for the embedded database')
  }
  return problems
}

/** The access-token key variables that are set (at most one may be). */
const keyVariablesSet = (config: Config) =>
  (['SIGNING_KEYS_FILE', 'SIGNING_KEYS', 'SIGNING_KEY_FILE'] as const).filter((name) => typeof config[name] === 'string' && config[name] !== '')

/** Access-token key variables that contradict each other (see docs/keys.md "Keys and rotation"). */
function signingKeyProblems (config: Config): string[] {
  const problems: string[] = []
  const secret = typeof config.ACCESS_TOKEN_SECRET === 'string' ? config.ACCESS_TOKEN_SECRET : ''
  const keyVariables = keyVariablesSet(config)
  if (config.ACCESS_TOKEN_ALG === 'HS256') {
    if (secret === '') problems.push('  ACCESS_TOKEN_SECRET: required when ACCESS_TOKEN_ALG=HS256')
    for (const name of keyVariables) problems.push(`  ${name}: not used with ACCESS_TOKEN_ALG=HS256 (the key is ACCESS_TOKEN_SECRET)`)
  } else {
    if (secret !== '') problems.push(`  ACCESS_TOKEN_SECRET: only used with ACCESS_TOKEN_ALG=HS256 (ACCESS_TOKEN_ALG is ${String(config.ACCESS_TOKEN_ALG)})`)
    if (keyVariables.length > 1) problems.push(`  ${keyVariables.join(', ')}: set only one of them`)
  }
  if (secret !== '' && Buffer.byteLength(secret) < 32) problems.push('  ACCESS_TOKEN_SECRET: must be at least 32 bytes')
  if (secret !== '' && secret === config.REFRESH_TOKEN_SECRET) problems.push('  ACCESS_TOKEN_SECRET: must differ from REFRESH_TOKEN_SECRET')
  return problems
}

/**
 * NODE_ENV=production never signs with keys it made up itself: a generated key lives on one
 * host's disk (replicas would each make their own, and a lost volume logs everyone out) and
 * nobody chose where it is kept. ALLOW_GENERATED_KEYS=true is the explicit way to accept that.
 */
function productionKeyProblems (config: Config): string[] {
  if (config.NODE_ENV !== 'production' || config.ALLOW_GENERATED_KEYS === true) return []
  const problems: string[] = []
  const configured = config.ACCESS_TOKEN_ALG === 'HS256' || keyVariablesSet(config).length > 0
  if (!configured) {
    problems.push('  SIGNING_KEYS_FILE / SIGNING_KEYS: NODE_ENV=production needs the access-token signing keys from configuration. ' +
      'Create a key set with `SIGNING_KEYS_FILE=signing-keys.json authd keys rotate` (writes the file, mode 0600) or print one for SIGNING_KEYS ' +
      'with `SIGNING_KEYS_FILE=signing-keys.json authd keys rotate --print`; or set ALLOW_GENERATED_KEYS=true to generate keys into DATA_DIR/keys')
  }
  if (typeof config.REFRESH_TOKEN_SECRET !== 'string' || config.REFRESH_TOKEN_SECRET === '') {
    problems.push('  REFRESH_TOKEN_SECRET: required with NODE_ENV=production (at least 32 bytes, e.g. `openssl rand -base64 48`; the same on every instance); ' +
      'or set ALLOW_GENERATED_KEYS=true to generate it into DATA_DIR/keys/refresh-secret')
  }
  return problems
}

/** Where the browser token endpoints are mounted (src/app.ts): the refresh cookie's narrowest path. */
export const BROWSER_AUTH_PATH = '/v1/browser/auth'

/**
 * The name a cookie `base` gets by default: the strongest prefix its attributes allow
 * (RFC 6265bis 4.1.3). `__Host-` (Secure, Path=/, no Domain) cannot be set or shadowed by another
 * host of the domain — the defence against cookie tossing from a sibling subdomain; `__Secure-`
 * (Secure only) when a Domain or narrower Path rules `__Host-` out; none without Secure, which
 * browsers require of both prefixes. Every authd cookie takes its default name from here.
 */
export function prefixedCookieName (base: string, attributes: { secure: boolean, path: string, domain: string }): string {
  if (!attributes.secure) return base
  return attributes.path === '/' && attributes.domain === '' ? `__Host-${base}` : `__Secure-${base}`
}

/**
 * Empty COOKIE_REFRESH_NAME, COOKIE_CSRF_NAME and COOKIE_PATH become concrete values here, once,
 * so the rest of the code (and browserProblems below) only ever sees real names and paths.
 */
function resolveCookieDefaults (config: Config): void {
  // A bad COOKIE_SECURE is reported on its own; resolving as if it were the default keeps the two
  // empty names from also being reported as equal.
  const secure = config.COOKIE_SECURE !== false
  if (config.COOKIE_REFRESH_NAME === '') {
    // An explicit COOKIE_PATH other than / (a proxy prefix) rules out __Host-: __Secure- then.
    config.COOKIE_REFRESH_NAME = prefixedCookieName('authd_refresh', { secure, path: config.COOKIE_PATH === '' ? '/' : config.COOKIE_PATH, domain: '' })
  }
  if (config.COOKIE_PATH === '') config.COOKIE_PATH = /^__Host-/i.test(String(config.COOKIE_REFRESH_NAME)) ? '/' : BROWSER_AUTH_PATH
  if (config.COOKIE_CSRF_NAME === '') config.COOKIE_CSRF_NAME = prefixedCookieName('authd_csrf', { secure, path: '/', domain: config.COOKIE_CSRF_DOMAIN })
}

/**
 * The exact origins of CORS_ORIGINS, normalised as browsers send them in `Origin`
 * (lower-case host, no default port, no trailing slash). Throws a ConfigError naming a bad entry.
 */
export function allowedOrigins (value: string): string[] {
  const origins: string[] = []
  for (const entry of value.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    // A wildcard would hand credentialed access to every site on the web.
    if (entry.includes('*')) throw new ConfigError(`CORS_ORIGINS: "${entry}" — wildcards are not allowed; list each origin`)
    let url: URL
    try {
      url = new URL(entry)
    } catch {
      throw new ConfigError(`CORS_ORIGINS: "${entry}" is not an origin like https://app.example.com`)
    }
    const bare = url.pathname === '/' && url.search === '' && url.hash === '' && url.username === '' && url.password === '' && !entry.endsWith('/')
    if (!['http:', 'https:'].includes(url.protocol) || !bare) {
      throw new ConfigError(`CORS_ORIGINS: "${entry}" is not an origin (scheme://host[:port], no path, no trailing slash)`)
    }
    origins.push(url.origin)
  }
  return origins
}

const LOOPBACK_HTTP = /^http:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/

/** Cookie and CORS settings that contradict each other or would be unsafe. */
function browserProblems (config: Config): string[] {
  if (typeof config.CORS_ORIGINS !== 'string') return []
  let origins: string[]
  try {
    origins = allowedOrigins(config.CORS_ORIGINS)
  } catch (error) {
    return [`  ${(error as Error).message}`]
  }
  const problems: string[] = []
  // Without Secure the refresh token would cross plain HTTP; that is only acceptable when every
  // page that may use it is served from this machine (development).
  const remote = origins.filter((origin) => !LOOPBACK_HTTP.test(origin))
  if (config.COOKIE_SECURE === false && remote.length > 0) {
    problems.push(`  COOKIE_SECURE: may be false only when every CORS_ORIGINS entry is http://localhost or http://127.0.0.1 (not ${remote.join(', ')})`)
  }
  // Browsers drop SameSite=None cookies that are not Secure.
  if (config.COOKIE_SAMESITE === 'None' && config.COOKIE_SECURE === false) problems.push('  COOKIE_SAMESITE: None requires COOKIE_SECURE=true')
  // Browsers drop cookies whose prefix promises what the attributes do not keep.
  for (const name of ['COOKIE_REFRESH_NAME', 'COOKIE_CSRF_NAME'] as const) {
    const value = String(config[name])
    if (/^__(Secure|Host)-/i.test(value) && config.COOKIE_SECURE === false) problems.push(`  ${name}: a __Secure-/__Host- name requires COOKIE_SECURE=true`)
  }
  if (/^__Host-/i.test(String(config.COOKIE_REFRESH_NAME)) && config.COOKIE_PATH !== '/') problems.push('  COOKIE_REFRESH_NAME: a __Host- name requires COOKIE_PATH=/')
  if (/^__Host-/i.test(String(config.COOKIE_CSRF_NAME)) && config.COOKIE_CSRF_DOMAIN !== '') problems.push('  COOKIE_CSRF_NAME: a __Host- name requires an empty COOKIE_CSRF_DOMAIN')
  if (config.COOKIE_REFRESH_NAME === config.COOKIE_CSRF_NAME) problems.push('  COOKIE_CSRF_NAME: must differ from COOKIE_REFRESH_NAME')
  return problems
}

/**
 * Mail settings. The rule for production is simple: authd needs SMTP_URL there unless it sends
 * no mail at all — EMAIL_VERIFICATION=none, which also turns password reset off (its mail has
 * nowhere to go). The console transport (development) would print tokens on a server's stdout.
 */
function mailProblems (config: Config): string[] {
  const problems: string[] = []
  const smtp = typeof config.SMTP_URL === 'string' ? config.SMTP_URL : ''
  if (smtp !== '') {
    let url: URL | undefined
    try { url = new URL(smtp) } catch {}
    if (url === undefined || !['smtp:', 'smtps:'].includes(url.protocol) || url.hostname === '') {
      // The value may hold a password: name the variable, never echo it.
      problems.push('  SMTP_URL: must be smtp://[user:pass@]host[:port] or smtps://… (value not shown)')
    }
  } else if (config.NODE_ENV === 'production' && config.EMAIL_VERIFICATION !== 'none') {
    problems.push('  SMTP_URL: required with NODE_ENV=production (verification and password-reset mail); set EMAIL_VERIFICATION=none to run without mail and without password reset')
  }
  if (typeof config.FRONTEND_URL === 'string') {
    let url: URL | undefined
    try { url = new URL(config.FRONTEND_URL) } catch {}
    if (url === undefined || !['http:', 'https:'].includes(url.protocol) || url.search !== '' || url.hash !== '' || config.FRONTEND_URL.includes('#') || config.FRONTEND_URL.includes('?')) {
      problems.push(`  FRONTEND_URL=${JSON.stringify(config.FRONTEND_URL)}: must be an http(s) URL without query or fragment, e.g. https://app.example.com`)
    }
  }
  return problems
}

/**
 * authd's public base URL (PUBLIC_URL, without a trailing slash), or the development default
 * derived from HOST and PORT. The tokens' issuer too, unless JWT_ISSUER overrides it (tokenIssuer).
 */
export function publicBaseUrl (config: Pick<Config, 'PUBLIC_URL' | 'HOST' | 'PORT'>): string {
  if (config.PUBLIC_URL !== '') return config.PUBLIC_URL.replace(/\/+$/, '')
  const host = ['0.0.0.0', '::', ''].includes(config.HOST) ? 'localhost' : config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST
  return `http://${host}:${config.PORT}`
}

type IssuerSettings = Pick<Config, 'PUBLIC_URL' | 'HOST' | 'PORT' | 'JWT_ISSUER' | 'JWT_PREVIOUS_ISSUERS'>

const commaList = (value: string): string[] => [...new Set(value.split(',').map((s) => s.trim()).filter((s) => s !== ''))]

/** The `iss` of new tokens and the discovery `issuer`: JWT_ISSUER, else the public URL. */
export const tokenIssuer = (config: IssuerSettings): string => config.JWT_ISSUER !== '' ? config.JWT_ISSUER : publicBaseUrl(config)

/** Every `iss` authd accepts on its own tokens: the issuer first, then JWT_PREVIOUS_ISSUERS (the transition). */
export const acceptedIssuers = (config: IssuerSettings): string[] =>
  // An empty variable means its default here, so `none` is how the transition is ended.
  [...new Set([tokenIssuer(config), ...(config.JWT_PREVIOUS_ISSUERS.trim() === 'none' ? [] : commaList(config.JWT_PREVIOUS_ISSUERS))])]

/** JWT_AUDIENCE as a list; the first is authd's own audience. */
export const tokenAudiences = (config: Pick<Config, 'JWT_AUDIENCE'>): string[] => commaList(config.JWT_AUDIENCE)

/** The issuer and audience settings (docs/verifying-tokens.md). */
function tokenClaimProblems (config: Config): string[] {
  const problems: string[] = []
  if (typeof config.JWT_AUDIENCE === 'string') {
    const audiences = config.JWT_AUDIENCE.split(',').map((s) => s.trim())
    if (audiences.some((a) => a === '' || /\s/.test(a))) problems.push(`  JWT_AUDIENCE=${JSON.stringify(config.JWT_AUDIENCE)}: must be a comma-separated list of audiences, none empty, without spaces`)
  }
  if (typeof config.JWT_ISSUER === 'string' && config.JWT_ISSUER !== config.JWT_ISSUER.trim()) problems.push('  JWT_ISSUER: must not start or end with spaces')
  // The issuer is what every verifier is configured with: a production one must not be a guess from HOST and PORT.
  if (config.NODE_ENV === 'production' && config.PUBLIC_URL === '' && config.JWT_ISSUER === '') {
    problems.push('  PUBLIC_URL: required with NODE_ENV=production (authd\'s public base URL, e.g. https://auth.example.com: the tokens\' `iss` and the discovery `issuer`); or set JWT_ISSUER')
  }
  return problems
}

/** PUBLIC_URL and the providers (AUTH_PROVIDERS / AUTH_PROVIDERS_FILE, checked in services/provider-config.ts). */
function providerConfigProblems (config: Config): string[] {
  const problems: string[] = []
  if (typeof config.PUBLIC_URL === 'string' && config.PUBLIC_URL !== '') {
    let url: URL | undefined
    try { url = new URL(config.PUBLIC_URL) } catch {}
    if (url === undefined || !['http:', 'https:'].includes(url.protocol) || config.PUBLIC_URL.includes('#') || config.PUBLIC_URL.includes('?') || url.username !== '' || url.password !== '') {
      problems.push(`  PUBLIC_URL=${JSON.stringify(config.PUBLIC_URL)}: must be an absolute http(s) URL without query or fragment, e.g. https://auth.example.com`)
    }
  }
  const { providers, problems: found } = readProviders(config)
  problems.push(...found.map((problem) => `  ${problem}`))
  if (providers.length > 0 && config.NODE_ENV === 'production' && config.PUBLIC_URL === '') {
    problems.push('  PUBLIC_URL: required with NODE_ENV=production when providers are configured (their callback URL is built from it)')
  }
  return problems
}

/** Read `.env` (when present, without overriding the real environment) and parse process.env. */
export function loadConfig (): Config {
  if (existsSync('.env')) process.loadEnvFile('.env')
  return parseConfig(process.env)
}
