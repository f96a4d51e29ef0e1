// CORS (@fastify/cors): only the exact origins of CORS_ORIGINS get an answer, with credentials;
// a wildcard stops the start-up.
import t from 'tap'
import { ConfigError } from '../../src/config.js'
import { build, register } from '../helper.js'

const ALLOWED = 'http://localhost:5173'
const app = await build(t, { CORS_ORIGINS: `${ALLOWED}, https://app.example.com` })

const preflight = async (origin: string, url = '/v1/browser/auth/refresh', method = 'POST') => await app.inject({
  method: 'OPTIONS',
  url,
  headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': 'content-type,x-csrf-token' }
})

t.test('a preflight from an allowed origin: that origin, credentials, the allowed headers, cached 600 s', async (t) => {
  for (const origin of [ALLOWED, 'https://app.example.com']) {
    const res = await preflight(origin)
    t.equal(res.statusCode, 204)
    t.equal(res.headers['access-control-allow-origin'], origin, 'the origin itself, never *')
    t.equal(res.headers['access-control-allow-credentials'], 'true')
    t.equal(res.headers['access-control-max-age'], '600')
    t.match(res.headers['access-control-allow-headers'], /\bAuthorization\b/)
    t.match(res.headers['access-control-allow-headers'], /\bContent-Type\b/)
    t.match(res.headers['access-control-allow-headers'], /\bX-CSRF-Token\b/)
    t.match(res.headers.vary, /Origin/, 'Vary: Origin, as the answer depends on it')
  }
  // The shared routes are callable from the page too (bearer token, PATCH and DELETE).
  for (const [url, method] of [['/v1/users/me', 'PATCH'], ['/v1/sessions', 'DELETE'], ['/v1/users/me', 'GET']]) {
    const res = await preflight(ALLOWED, url, method)
    t.equal(res.statusCode, 204)
    t.match(res.headers['access-control-allow-methods'], new RegExp(`\\b${method}\\b`), `${method} allowed`)
  }
})

t.test('an actual request from an allowed origin carries the CORS grant and exposed headers', async (t) => {
  const s = await register(app)
  const res = await app.inject({ method: 'GET', url: '/v1/users/me', headers: { origin: ALLOWED, authorization: `Bearer ${s.tokens.access}` } })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['access-control-allow-origin'], ALLOWED)
  t.equal(res.headers['access-control-allow-credentials'], 'true')
  t.match(res.headers['access-control-expose-headers'], /X-Request-Id/)
})

t.test('a disallowed origin gets no CORS header at all', async (t) => {
  for (const origin of ['https://evil.example', 'http://localhost:5174', 'https://app.example.com.evil.example', 'null']) {
    const res = await preflight(origin)
    t.notOk(res.headers['access-control-allow-origin'], `${origin}: no Access-Control-Allow-Origin`)
    t.notOk(res.headers['access-control-allow-credentials'], `${origin}: no Allow-Credentials`)
    t.not(res.statusCode, 204, 'the preflight is not answered as a success')
    const get = await app.inject({ method: 'GET', url: '/healthz', headers: { origin } })
    t.equal(get.statusCode, 200, 'a simple request is still served (the browser hides the reply)')
    t.notOk(get.headers['access-control-allow-origin'])
  }
  const none = await app.inject({ method: 'GET', url: '/healthz' })
  t.notOk(none.headers['access-control-allow-origin'], 'no Origin, no CORS headers')
})

t.test('empty CORS_ORIGINS (the default): no cross-origin access', async (t) => {
  const closed = await build(t)
  const res = await closed.inject({ method: 'OPTIONS', url: '/v1/users/me', headers: { origin: ALLOWED, 'access-control-request-method': 'GET' } })
  t.notOk(res.headers['access-control-allow-origin'])
  t.notOk(res.headers['access-control-allow-credentials'])
})

t.test('a wildcard or a malformed origin stops the start-up with a ConfigError naming CORS_ORIGINS', async (t) => {
  for (const value of ['*', `${ALLOWED},*`, 'https://*.example.com', 'app.example.com', 'https://app.example.com/', 'https://app.example.com/path', 'ftp://files.example.com']) {
    await t.rejects(build(t, { CORS_ORIGINS: value }), { constructor: ConfigError, message: /CORS_ORIGINS/ }, `CORS_ORIGINS=${value}`)
  }
})
