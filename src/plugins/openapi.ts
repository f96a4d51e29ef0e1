// The OpenAPI 3.1 document (@fastify/swagger), generated from the TypeBox schemas that also
// validate requests and shape replies, at GET /openapi.json; and Swagger UI
// (@fastify/swagger-ui, assets served from node_modules, no CDN) at GET /docs.
// Registered before the routes: @fastify/swagger collects them in an onRoute hook.
import { readFileSync } from 'node:fs'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { ProblemSchema } from '../schemas/common.js'
import { problemResponse } from '../schemas/responses.js'

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { name: string, version: string }

/** The tags routes use, in the order the docs page lists them. */
export const TAGS = [
  { name: 'app auth', description: 'Token endpoints for app clients (mobile, CLI, services): both tokens travel in JSON bodies.' },
  { name: 'browser auth', description: 'Token endpoints for browser pages: the refresh token lives in an HttpOnly cookie; refresh and logout need the `X-CSRF-Token` header, and every call an allowed `Origin` (CORS_ORIGINS).' },
  { name: 'email', description: 'Email-address verification.' },
  { name: 'password reset', description: 'Forgotten passwords: a reset link by email, then a new password.' },
  { name: 'users', description: 'The caller\'s own account (bearer access token).' },
  { name: 'mfa', description: 'The caller\'s second factor (TOTP with recovery codes) and re-authentication for sensitive actions (bearer access token).' },
  { name: 'passkeys', description: 'The caller\'s passkeys (WebAuthn): registration, renaming, removal (bearer access token). Logging in with one: `POST /v1/{client}/auth/passkey`.' },
  { name: 'identities', description: 'The caller\'s identities at other providers (Google, GitHub, any OpenID provider): list, link, unlink (bearer access token). Signing in with one: `/v1/browser/auth/providers`, `POST /v1/app/auth/providers/{id}/token`.' },
  { name: 'sessions', description: 'The caller\'s sessions, one per login (bearer access token).' },
  { name: 'admin', description: 'User administration; needs the `admin` role.' },
  { name: 'admin clients', description: 'Service credentials (OAuth 2 clients of the client-credentials grant); needs the `admin` role.' },
  { name: 'oauth', description: 'OAuth 2 endpoints for services (form bodies, client authentication by HTTP Basic or in the body): client credentials, introspection, revocation. Errors here are RFC 6749 §5.2 JSON, not problem JSON.' },
  { name: 'tokens', description: 'For services that accept authd\'s access tokens: the public keys, and a verify call.' },
  { name: 'operations', description: 'Health, readiness, metrics and this document.' }
]

/** The docs page loads only its own scripts and styles (and the logo, a data: image). */
const DOCS_CSP = [
  "default-src 'self'",
  "base-uri 'none'",
  "connect-src 'self'",
  "font-src 'self' data:",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "img-src 'self' data:",
  "object-src 'none'",
  "script-src 'self'",
  "script-src-attr 'none'",
  // The one <style> element Swagger UI inserts (its hash; another version may need another).
  "style-src 'self' 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='"
].join('; ')

async function openapiPlugin (app: FastifyInstance): Promise<void> {
  const { config } = app
  // One shared schema, so that the document has components.schemas.Problem and each error
  // response is a $ref to it (schemas/responses.ts).
  app.addSchema({ ...ProblemSchema, $id: 'Problem' })

  // Any route can fail unexpectedly (masked 500 internal_error): said once here, for all.
  app.addHook('onRoute', (route) => {
    if (route.schema?.response === undefined) return
    const response = route.schema.response as Record<string, unknown>
    if (response['500'] === undefined) route.schema = { ...route.schema, response: { ...response, 500: problemResponse(500) } }
  })

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: pkg.name,
        version: pkg.version,
        description: 'JWT authentication service: registration, login, rotating refresh tokens, sessions. ' +
          'Every error is RFC 9457 problem JSON (`application/problem+json`) with a stable `code`, ' +
          'except on the OAuth endpoints (`/oauth/*`), which answer RFC 6749 §5.2 JSON (`{ error, error_description }`); ' +
          'every reply carries `X-Request-Id`.',
        license: { name: 'MIT', identifier: 'MIT' }
      },
      // Relative: the server that serves this document (behind a proxy too).
      servers: [{ url: '/', description: 'This authd' }],
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'An access token from login, register or refresh.' },
          refreshCookie: { type: 'apiKey', in: 'cookie', name: config.COOKIE_REFRESH_NAME, description: 'The browser session\'s refresh token (HttpOnly cookie set by browser login/register/refresh).' },
          csrfHeader: { type: 'apiKey', in: 'header', name: 'X-CSRF-Token', description: 'The session\'s `csrfToken` (from the login/refresh body or the readable CSRF cookie).' },
          clientBasic: { type: 'http', scheme: 'basic', description: 'client_secret_basic: the client id and secret (each form-urlencoded) as HTTP Basic user and password. Or client_secret_post: `client_id` and `client_secret` as form fields of the body; never both.' },
          metricsToken: { type: 'http', scheme: 'bearer', description: 'METRICS_TOKEN, when one is configured.' }
        }
      },
      tags: TAGS
    },
    // Shared schemas keep their $id as their name in components.schemas (default: def-N).
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => typeof json.$id === 'string' ? json.$id : `def-${i}`
    },
    // OpenAPI 3.1 has `const`; no need to rewrite it to a one-value enum.
    convertConstToEnum: false
  })

  await app.register(swaggerUi, {
    routePrefix: '/docs',
    uiConfig: { deepLinking: true, tryItOutEnabled: false },
    // Replaces the API's "load nothing" policy (security-headers.ts) on the docs routes only.
    staticCSP: DOCS_CSP
  })

  app.get('/openapi.json', {
    schema: {
      tags: ['operations'],
      summary: 'This OpenAPI 3.1 document',
      response: {
        200: {
          description: 'The OpenAPI document (also shown at /docs).',
          content: {
            'application/json': {
              schema: { type: 'object', required: ['openapi', 'info', 'paths'], additionalProperties: true },
              example: { openapi: '3.1.0', info: { title: pkg.name, version: pkg.version }, paths: { '/healthz': { get: { summary: 'Liveness: the process answers' } } } }
            }
          }
        }
      }
    }
  }, async () => app.swagger())
}

export default fp(openapiPlugin, { name: 'openapi', dependencies: ['config', 'error-handler'] })
