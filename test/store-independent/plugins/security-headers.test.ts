// Response headers for a JSON API (helmet's, computed once) and Cache-Control: no-store on everything
// that carries tokens or personal data.
import t, { type Test } from 'tap'
import { build, register } from '../../helper.js'

const ORIGIN = 'http://localhost:5173'
const app = await build(t, { CORS_ORIGINS: ORIGIN, COOKIE_SECURE: 'false' })

function assertApiHeaders (t: Test, headers: Record<string, unknown>, what: string): void {
  t.equal(headers['x-content-type-options'], 'nosniff', `${what}: nosniff`)
  t.equal(headers['x-frame-options'], 'DENY', `${what}: frame denial`)
  t.match(headers['content-security-policy'], /frame-ancestors 'none'/, `${what}: frame-ancestors 'none'`)
  t.match(headers['content-security-policy'], /default-src 'none'/, `${what}: loads nothing if rendered`)
  t.match(headers['strict-transport-security'], /max-age=\d+/, `${what}: HSTS`)
  t.equal(headers['referrer-policy'], 'no-referrer')
  t.equal(headers['cross-origin-opener-policy'], 'same-origin')
  t.equal(headers['cross-origin-resource-policy'], 'same-origin')
  t.equal(headers['x-permitted-cross-domain-policies'], 'none')
  t.equal(headers['x-xss-protection'], '0', 'the old XSS auditor off, as OWASP advises')
  t.equal(headers['origin-agent-cluster'], '?1')
  t.equal(headers['x-dns-prefetch-control'], 'off')
  t.equal(headers['x-download-options'], 'noopen')
  t.notOk(headers['x-powered-by'])
}

t.test('security headers on successes, errors and unknown routes', async (t) => {
  assertApiHeaders(t, (await app.inject({ method: 'GET', url: '/healthz' })).headers, 'health')
  assertApiHeaders(t, (await app.inject({ method: 'GET', url: '/v1/users/me' })).headers, '401')
  assertApiHeaders(t, (await app.inject({ method: 'GET', url: '/no/such/route' })).headers, '404')
  assertApiHeaders(t, (await app.inject({ method: 'POST', url: '/v1/app/auth/login', payload: { login: 'x' } })).headers, '400')
})

t.test('Cache-Control: no-store on token, user and session replies', async (t) => {
  const s = await register(app)
  const auth = { authorization: `Bearer ${s.tokens.access}` }
  const browser = await app.inject({ method: 'POST', url: '/v1/browser/auth/login', headers: { origin: ORIGIN }, payload: { login: s.email, password: s.password } })
  t.equal(browser.statusCode, 200)
  const cookie = browser.cookies.map((c) => `${c.name}=${c.value}`).join('; ')
  const replies = {
    'app login': await app.inject({ method: 'POST', url: '/v1/app/auth/login', payload: { login: s.email, password: s.password } }),
    'app refresh': await app.inject({ method: 'POST', url: '/v1/app/auth/refresh', payload: { refresh: s.tokens.refresh } }),
    'browser login': browser,
    'browser refresh': await app.inject({ method: 'POST', url: '/v1/browser/auth/refresh', headers: { origin: ORIGIN, cookie, 'x-csrf-token': browser.json().tokens.csrfToken } }),
    'GET /v1/users/me': await app.inject({ method: 'GET', url: '/v1/users/me', headers: auth }),
    'PATCH /v1/users/me': await app.inject({ method: 'PATCH', url: '/v1/users/me', headers: auth, payload: { bio: 'hi' } }),
    'GET /v1/sessions': await app.inject({ method: 'GET', url: '/v1/sessions', headers: auth }),
    'a CORS preflight': await app.inject({ method: 'OPTIONS', url: '/v1/browser/auth/refresh', headers: { origin: ORIGIN, 'access-control-request-method': 'POST' } })
  }
  for (const [what, res] of Object.entries(replies)) {
    t.ok(res.statusCode < 300, `${what}: ${res.statusCode}`)
    t.equal(res.headers['cache-control'], 'no-store', `${what}: no-store`)
  }
  // The JWKS is meant to be cached and keeps its own policy.
  t.match((await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).headers['cache-control'], /^public, max-age=\d+$/)
})
