// No password, token, CSRF token, cookie value or client secret ever reaches a log line, even at level
// `trace`, through every flow that carries one (app and browser clients, password change,
// verify, metrics) and through the failure paths (malformed JSON, a token in a query string,
// an unexpected error that carries request data). Every line of a request carries its id.
import { Writable } from 'node:stream'
import t from 'tap'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { buildApp } from '../../src/app.js'
import { openDatabase } from '../../src/db/database.js'
import { loggerOptions } from '../../src/logger.js'
import { freshPostgresUrl, newAccount, onPostgres, testConfig, testKeys } from '../helper.js'
import { pgliteTemplate } from '../pglite-template.js'

const ORIGIN = 'http://localhost:5173'
const METRICS_TOKEN = 'metrics-token-never-logged-0123'

/** An authd whose logs (production options, level trace) go to `lines`, with one failing route. */
async function buildLogged (lines: string[]): Promise<FastifyInstance> {
  const config = testConfig(t, { LOG_LEVEL: 'trace', CORS_ORIGINS: ORIGIN, COOKIE_SECURE: 'false', METRICS_TOKEN })
  const database = await openDatabase({
    url: onPostgres ? await freshPostgresUrl(t) : 'memory://',
    dataDir: config.DATA_DIR,
    poolSize: 5,
    migrate: true,
    ...(onPostgres ? {} : { pgliteTemplate: await pgliteTemplate() })
  })
  const stream = new Writable({ write (chunk: Buffer, _encoding, done) { lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== '')); done() } })
  const app = await buildApp(config, { keys: await testKeys(), database, fastify: { logger: { ...loggerOptions(config), stream } } })
  // A fault the way libraries report them: request data hung on the error (Node's client
  // errors carry the raw request bytes, drivers the query's values), a token in the message.
  app.post('/test/explode', async (request) => {
    const body = request.body as { password: string, note: string }
    throw Object.assign(new Error(`cannot handle token ${body.note}`), {
      rawPacket: Buffer.from(`POST /test/explode HTTP/1.1\r\nAuthorization: ${String(request.headers.authorization)}\r\n`),
      meta: { password: body.password },
      requestBody: body,
      cause: new Error(`password was ${body.password}`)
    })
  })
  t.teardown(async () => {
    await app.close()
    await database.close()
  })
  await app.ready()
  return app
}

const lines: string[] = []
const app = await buildLogged(lines)
/** Every string that must never be logged. */
const secrets = new Set<string>()
const replies: LightMyRequestResponse[] = []

function keep (...values: Array<string | undefined>): void {
  for (const value of values) {
    if (value === undefined || value === '') continue
    secrets.add(value)
    // A JWT's signature alone is as good as the token to no one, but would show it was logged.
    const parts = value.split('.')
    if (parts.length === 3 && (parts[2] as string).length > 0) secrets.add(parts[2] as string)
  }
}

async function call (options: InjectOptions, expected: number): Promise<LightMyRequestResponse> {
  const res = await app.inject(options)
  replies.push(res)
  for (const c of res.cookies) keep(c.value)
  // The path only: these test messages are printed, and the URLs of some calls carry tokens.
  t.equal(res.statusCode, expected, `${String(options.method)} ${String(options.url).split('?')[0]} → ${expected} (${res.body.slice(0, 200)})`)
  return res
}

t.test('every flow that carries a secret, at log level trace', async (t) => {
  const account = newAccount()
  const newPassword = `${account.password} but longer`
  const wrongPassword = 'a wrong password 7f3a9c'
  const malformedPassword = 'malformed json password 5d21e8'
  keep(account.password, newPassword, wrongPassword, malformedPassword, METRICS_TOKEN)

  const registered = (await call({ method: 'POST', url: '/v1/app/auth/register', payload: account }, 201)).json()
  keep(registered.tokens.access, registered.tokens.refresh)
  const loggedIn = (await call({ method: 'POST', url: '/v1/app/auth/login', payload: { login: account.email, password: account.password } }, 200)).json()
  keep(loggedIn.tokens.access, loggedIn.tokens.refresh, loggedIn.deviceToken)
  // A known-device token both ways: in the reply body, and back in X-Device-Token.
  const known = (await call({ method: 'POST', url: '/v1/app/auth/login', headers: { 'x-device-token': loggedIn.deviceToken }, payload: { login: account.email, password: account.password } }, 200)).json()
  keep(known.tokens.access, known.tokens.refresh, known.deviceToken)
  await call({ method: 'POST', url: '/v1/app/auth/login', payload: { login: account.email, password: wrongPassword } }, 401)
  const refreshed = (await call({ method: 'POST', url: '/v1/app/auth/refresh', payload: { refresh: loggedIn.tokens.refresh } }, 200)).json()
  keep(refreshed.tokens.access, refreshed.tokens.refresh)
  const bearer = { authorization: `Bearer ${refreshed.tokens.access}` }
  await call({ method: 'GET', url: '/v1/users/me', headers: bearer }, 200)
  await call({ method: 'POST', url: '/v1/users/me/password', headers: bearer, payload: { currentPassword: account.password, newPassword } }, 204)
  await call({ method: 'POST', url: '/v1/auth/verify', payload: { token: refreshed.tokens.access } }, 200)
  await call({ method: 'POST', url: '/v1/auth/verify', payload: { token: registered.tokens.refresh } }, 401)
  await call({ method: 'POST', url: '/v1/app/auth/logout', payload: { refresh: refreshed.tokens.refresh } }, 204)
  // A refresh token already used: reuse detection logs a warning.
  await call({ method: 'POST', url: '/v1/app/auth/refresh', payload: { refresh: loggedIn.tokens.refresh } }, 401)

  // Browser client: cookies both ways and X-CSRF-Token.
  const browserLogin = await call({ method: 'POST', url: '/v1/browser/auth/login', headers: { origin: ORIGIN }, payload: { login: account.email, password: newPassword } }, 200)
  keep(browserLogin.json().tokens.access, browserLogin.json().tokens.csrfToken)
  const cookieHeader = (res: LightMyRequestResponse) => res.cookies.map((c) => `${c.name}=${c.value}`).join('; ')
  const browserRefresh = await call({
    method: 'POST',
    url: '/v1/browser/auth/refresh',
    headers: { origin: ORIGIN, cookie: cookieHeader(browserLogin), 'x-csrf-token': browserLogin.json().tokens.csrfToken }
  }, 200)
  keep(browserRefresh.json().tokens.access, browserRefresh.json().tokens.csrfToken)
  await call({ method: 'POST', url: '/v1/browser/auth/logout', headers: { origin: ORIGIN, cookie: cookieHeader(browserRefresh), 'x-csrf-token': 'a-wrong-csrf-token-value-91b2' } }, 403)
  keep('a-wrong-csrf-token-value-91b2')
  await call({ method: 'POST', url: '/v1/browser/auth/logout', headers: { origin: ORIGIN, cookie: cookieHeader(browserRefresh), 'x-csrf-token': browserRefresh.json().tokens.csrfToken } }, 204)

  // Service credentials: a client secret in HTTP Basic and in a form body, tokens in forms.
  const { client, secret } = await app.oauthClients.create({ name: 'logged', scopes: ['a'] }, null)
  const basicAuth = Buffer.from(`${client.clientId}:${secret}`).toString('base64')
  keep(secret, basicAuth)
  const form = { 'content-type': 'application/x-www-form-urlencoded' }
  const serviceToken = (await call({ method: 'POST', url: '/oauth/token', headers: { ...form, authorization: `Basic ${basicAuth}` }, payload: 'grant_type=client_credentials' }, 200)).json().access_token as string
  keep(serviceToken)
  const posted = `client_id=${client.clientId}&client_secret=${secret}`
  await call({ method: 'POST', url: '/oauth/token', headers: form, payload: `grant_type=client_credentials&${posted}` }, 200)
  await call({ method: 'POST', url: '/oauth/token', headers: form, payload: `grant_type=client_credentials&client_id=${client.clientId}&client_secret=${secret}x` }, 401)
  await call({ method: 'POST', url: '/oauth/token', headers: form, payload: `${posted}&client_secret=${secret}` }, 400)
  await call({ method: 'POST', url: '/oauth/introspect', headers: form, payload: `token=${known.tokens.access}&${posted}` }, 200)
  await call({ method: 'POST', url: '/oauth/revoke', headers: form, payload: `token=${known.tokens.refresh}&${posted}` }, 200)
  keep((await app.oauthClients.rotateSecret({ clientId: client.clientId }, null)).secret)

  // Failure paths.
  await call({ method: 'POST', url: '/v1/app/auth/login', headers: { 'content-type': 'application/json' }, payload: `{"login":"${account.email}","password":"${malformedPassword}"` }, 400)
  await call({ method: 'POST', url: '/v1/app/auth/login', headers: { 'content-type': 'text/plain' }, payload: `password=${malformedPassword}` }, 415)
  await call({ method: 'GET', url: `/v1/users/me?access_token=${refreshed.tokens.access}` }, 401)
  await call({ method: 'GET', url: `/no/such/route?token=${registered.tokens.refresh}&password=${encodeURIComponent(account.password)}` }, 404)
  // `note` is no secret field: only the JWT's shape gives the token in the message away.
  await call({ method: 'POST', url: '/test/explode', headers: bearer, payload: { password: account.password, note: registered.tokens.access } }, 500)
  await call({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } }, 200)
  // Something in authd logging an object with secret fields.
  app.log.info({ body: { password: account.password, refresh: refreshed.tokens.refresh }, token: registered.tokens.access }, 'an object with secrets')

  // Wait for the last reply's "request completed" line (pino writes synchronously here).
  const text = lines.join('\n')
  t.ok(lines.length > replies.length * 2, `logged (${lines.length} lines)`)
  for (const line of lines) t.doesNotThrow(() => JSON.parse(line), 'every line is JSON')
  t.ok(secrets.size >= 20, `checked ${secrets.size} secrets`)
  for (const secret of secrets) {
    t.notOk(text.includes(secret), `not logged: ${secret.slice(0, 12)}… (${secret.length} chars)${text.includes(secret) ? lines.filter((l) => l.includes(secret)).join('\n') : ''}`)
    // Percent-encoded (a query string) too.
    t.notOk(text.includes(encodeURIComponent(secret)), `not logged encoded: ${secret.slice(0, 12)}…`)
  }

  const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>)
  for (const res of replies) {
    const id = res.headers['x-request-id']
    t.ok(parsed.some((l) => l.reqId === id && l.msg === 'request completed'), `request ${id} is in the log by its id`)
  }
  const failed = parsed.find((l) => l.msg === 'request failed') as { err?: Record<string, unknown>, reqId?: string } | undefined
  t.ok(failed?.err, 'the 500 was logged with its error')
  t.same(Object.keys(failed?.err ?? {}).sort(), ['cause', 'message', 'stack', 'type'], 'only the error\'s type, message, stack and cause')
  t.match(failed?.err?.message, /\[redacted jwt\]/, 'the token in the message is masked')
  t.ok(parsed.some((l) => (l.req as { url?: string } | undefined)?.url === '/v1/users/me?[redacted]'), 'a URL is logged without its query string')
  t.ok(parsed.some((l) => l.msg === 'an object with secrets' && (l.body as { password?: string }).password === '[redacted]'), 'secret fields are redacted')
})
