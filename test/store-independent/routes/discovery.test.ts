// The discovery documents (RFC 8414 / OpenID discovery) and the public documents' headers: the
// issuer is PUBLIC_URL (dev: derived), every URL absolute under it; JWKS and discovery answer any
// origin (`*`, no credentials) with a cache lifetime, while the browser routes keep CORS_ORIGINS.
import t from 'tap'
import { parseConfig } from '../../../src/config.js'
import { build, configError, TEST_ISSUER } from '../../helper.js'

const PATHS = ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']
const AUTH = ['client_secret_basic', 'client_secret_post']

t.test('both documents: the same metadata, absolute URLs under the public URL', async (t) => {
  const app = await build(t)
  const [oidc, rfc8414] = await Promise.all(PATHS.map(async (url) => await app.inject({ url })))
  t.equal(oidc?.statusCode, 200)
  t.same(oidc?.json(), rfc8414?.json(), 'one document under both names')
  t.same(oidc?.json(), {
    issuer: TEST_ISSUER,
    jwks_uri: `${TEST_ISSUER}/.well-known/jwks.json`,
    token_endpoint: `${TEST_ISSUER}/oauth/token`,
    introspection_endpoint: `${TEST_ISSUER}/oauth/introspect`,
    revocation_endpoint: `${TEST_ISSUER}/oauth/revoke`,
    grant_types_supported: ['client_credentials'],
    response_types_supported: [],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
    token_endpoint_auth_methods_supported: AUTH,
    introspection_endpoint_auth_methods_supported: AUTH,
    revocation_endpoint_auth_methods_supported: AUTH,
    claims_supported: ['iss', 'aud', 'sub', 'sid', 'jti', 'iat', 'exp', 'roles', 'amr', 'auth_time', 'client_id', 'scope'],
    service_documentation: `${TEST_ISSUER}/docs`
  })
  // Every advertised endpoint exists.
  for (const url of ['/.well-known/jwks.json', '/docs']) t.not((await app.inject({ url })).statusCode, 404, url)
  for (const url of ['/oauth/token', '/oauth/introspect', '/oauth/revoke']) t.ok(app.hasRoute({ method: 'POST', url }), url)
})

t.test('PUBLIC_URL with a proxy prefix; JWT_ISSUER changes only the issuer; the algorithm follows the keys', async (t) => {
  const app = await build(t, { PUBLIC_URL: 'https://example.com/auth/' })
  const doc = (await app.inject({ url: PATHS[0] as string })).json()
  t.match(doc, { issuer: 'https://example.com/auth', jwks_uri: 'https://example.com/auth/.well-known/jwks.json', token_endpoint: 'https://example.com/auth/oauth/token' })
  const overridden = await build(t, { PUBLIC_URL: 'https://auth.example.com', JWT_ISSUER: 'https://issuer.example.com' })
  t.match((await overridden.inject({ url: PATHS[1] as string })).json(), { issuer: 'https://issuer.example.com', jwks_uri: 'https://auth.example.com/.well-known/jwks.json' })
  const hs = await build(t, { ACCESS_TOKEN_ALG: 'HS256', ACCESS_TOKEN_SECRET: 'an access secret of at least thirty-two bytes' }, { keys: undefined })
  t.same((await hs.inject({ url: PATHS[0] as string })).json().id_token_signing_alg_values_supported, ['HS256'], 'single-service mode says so')
})

t.test('JWKS and discovery: Access-Control-Allow-Origin *, no credentials, cacheable — even with CORS_ORIGINS', async (t) => {
  const app = await build(t, { CORS_ORIGINS: 'https://app.example.com' })
  for (const url of [...PATHS, '/.well-known/jwks.json']) {
    for (const origin of ['https://elsewhere.example', 'https://app.example.com', undefined]) {
      const res = await app.inject({ url, headers: origin === undefined ? {} : { origin } })
      t.equal(res.statusCode, 200)
      t.equal(res.headers['access-control-allow-origin'], '*', `${url} from ${origin ?? 'no origin'}: *`)
      t.notOk('access-control-allow-credentials' in res.headers, 'never with credentials')
      t.equal(res.headers['cache-control'], 'public, max-age=300')
    }
  }
  // The browser routes are unchanged: their origin only, with credentials; nothing for others.
  const allowed = await app.inject({ method: 'POST', url: '/v1/browser/auth/login', headers: { origin: 'https://app.example.com' }, payload: {} })
  t.equal(allowed.headers['access-control-allow-origin'], 'https://app.example.com')
  t.equal(allowed.headers['access-control-allow-credentials'], 'true')
  const other = await app.inject({ method: 'POST', url: '/v1/browser/auth/login', headers: { origin: 'https://elsewhere.example' }, payload: {} })
  t.notOk('access-control-allow-origin' in other.headers, 'another origin: no CORS answer on a browser route')
  const preflight = await app.inject({ method: 'OPTIONS', url: '/v1/browser/auth/refresh', headers: { origin: 'https://elsewhere.example', 'access-control-request-method': 'POST' } })
  t.equal(preflight.statusCode, 404, 'a preflight from another origin is still refused')
  const ok = await app.inject({ method: 'OPTIONS', url: '/v1/browser/auth/refresh', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' } })
  t.equal(ok.statusCode, 204)
  t.equal(ok.headers['access-control-allow-credentials'], 'true')
})

t.test('NODE_ENV=production needs PUBLIC_URL or JWT_ISSUER', async (t) => {
  const production = { NODE_ENV: 'production', EMAIL_VERIFICATION: 'none', ALLOW_GENERATED_KEYS: 'true' }
  t.match(configError(production).message, /PUBLIC_URL: required with NODE_ENV=production.*or set JWT_ISSUER/)
  t.match(configError({ ...production, JWT_AUDIENCE: 'authd,,orders' }).message, /JWT_AUDIENCE=.*comma-separated/, 'an empty audience is refused too')
  t.match(configError({ JWT_AUDIENCE: 'authd, my service' }).message, /JWT_AUDIENCE/, 'and one with a space')
  t.doesNotThrow(() => parseConfig({ ...production, PUBLIC_URL: 'https://auth.example.com' }))
  t.doesNotThrow(() => parseConfig({ ...production, JWT_ISSUER: 'https://auth.example.com' }))
})
