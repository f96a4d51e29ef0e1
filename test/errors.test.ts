// The one error path: whatever goes wrong, the client gets RFC 9457 problem JSON with a stable
// code and the request id (also in x-request-id); a 5xx never leaks the underlying error.
import { Writable } from 'node:stream'
import t, { type Test } from 'tap'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import { assertProblem, build, register } from './helper.js'

// One app for all but the BODY_LIMIT test; its error log is captured for the 5xx tests.
const logLines: string[] = []
const logStream = new Writable({ write (chunk, _encoding, done) { logLines.push(String(chunk)); done() } })
const app = await build(t, {}, { fastify: { logger: { level: 'error', stream: logStream } } })
const LOGIN = '/v1/app/auth/login'

/** Every problem reply: the documented members, the problem content type, the request id twice. */
function assertProblemShape (t: Test, res: LightMyRequestResponse, status: number, code: string): Record<string, unknown> {
  assertProblem(t, res, status, code)
  const body = res.json() as Record<string, unknown>
  t.equal(body.type, `https://authd.dev/errors/${code}`, 'type names the code')
  t.type(body.title, 'string')
  t.ok(String(body.detail).length > 0, 'a detail')
  t.type(body.requestId, 'string')
  t.ok(String(body.requestId).length > 0, 'a request id')
  t.equal(res.headers['x-request-id'], body.requestId, 'x-request-id equals body.requestId')
  t.match(res.headers['cache-control'], /no-store/, 'errors are not cached')
  t.notMatch(res.body, /"stack"|\n\s+at /, 'no stack trace')
  return body
}

const post = async (payload: string, contentType = 'application/json', url = LOGIN): Promise<LightMyRequestResponse> =>
  await app.inject({ method: 'POST', url, headers: { 'content-type': contentType }, payload })

t.test('malformed JSON: 400 invalid_json', async (t) => {
  const bodies = ['{"login":', '{login: "a", password: "b"}', "{'login': 'a'}", '{"login": "a", "password": "b",}', 'NaN', '{"login": "a"} trailing', '\u0000']
  for (const payload of bodies) {
    const res = await post(payload)
    t.test(JSON.stringify(payload), async (t) => { assertProblemShape(t, res, 400, 'invalid_json') })
  }
})

t.test('JSON with a __proto__ or constructor.prototype key: 400, no prototype pollution', async (t) => {
  const payloads = [
    '{"__proto__": {"polluted": "yes"}, "login": "a@example.com", "password": "password123"}',
    '{"login": "a@example.com", "password": "password123", "nested": {"__proto__": {"polluted": "yes"}}}',
    '{"constructor": {"prototype": {"polluted": "yes"}}, "login": "a@example.com", "password": "password123"}'
  ]
  for (const payload of payloads) {
    for (const url of [LOGIN, '/v1/app/auth/register', '/v1/auth/verify']) {
      const res = await post(payload, 'application/json', url)
      t.equal(res.statusCode, 400, `${url}: 400 for ${payload.slice(0, 40)}…`)
      t.match(res.headers['content-type'], /^application\/problem\+json/)
      t.match(res.json().code, /^(invalid_json|validation_failed)$/)
    }
  }
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype untouched')
})

t.test('a body over BODY_LIMIT: 413 payload_too_large', async (t) => {
  // Default BODY_LIMIT is 16 KiB.
  const big = JSON.stringify({ login: 'x'.repeat(17_000), password: 'y' })
  assertProblemShape(t, await post(big), 413, 'payload_too_large')
  assertProblemShape(t, await post(JSON.stringify({ token: 'a'.repeat(20_000) }), 'application/json', '/v1/auth/verify'), 413, 'payload_too_large')
  // Just under the limit is parsed (and then fails validation on its own terms).
  const under = await post(JSON.stringify({ login: 'x'.repeat(15_000), password: 'y' }))
  assertProblemShape(t, under, 400, 'validation_failed')
})

t.test('BODY_LIMIT is configurable', async (t) => {
  const small = await build(t, { BODY_LIMIT: '1024' })
  const payload = JSON.stringify({ login: 'x'.repeat(1_500), password: 'y' })
  const res = await small.inject({ method: 'POST', url: LOGIN, headers: { 'content-type': 'application/json' }, payload })
  assertProblemShape(t, res, 413, 'payload_too_large')
  t.not((await post(payload)).statusCode, 413, 'the same body is within the default limit')
})

t.test('a non-JSON content type: 415 unsupported_media_type', async (t) => {
  const cases: Array<[string, string]> = [
    ['text/plain', JSON.stringify({ login: 'a@example.com', password: 'password123' })],
    ['text/plain;charset=UTF-8', 'login=a&password=b'],
    ['application/x-www-form-urlencoded', 'login=a%40example.com&password=password123'],
    ['multipart/form-data; boundary=x', '--x\r\nContent-Disposition: form-data; name="login"\r\n\r\na\r\n--x--'],
    ['application/xml', '<login>a</login>'],
    ['text/html', '<p>hi</p>']
  ]
  for (const [contentType, payload] of cases) {
    const res = await post(payload, contentType)
    t.test(contentType, async (t) => {
      const body = assertProblemShape(t, res, 415, 'unsupported_media_type')
      t.match(body.detail, /application\/json/, 'says what to send instead')
    })
  }
})

t.test('an empty body with a JSON content type: 400', async (t) => {
  for (const url of [LOGIN, '/v1/auth/verify', '/v1/app/auth/refresh']) {
    const res = await post('', 'application/json', url)
    t.equal(res.statusCode, 400, url)
    t.match(res.headers['content-type'], /^application\/problem\+json/)
    t.match(res.json().code, /^(invalid_json|validation_failed)$/)
  }
  // No body and no content type at all: the body is missing.
  const none = await app.inject({ method: 'POST', url: LOGIN })
  assertProblemShape(t, none, 400, 'validation_failed')
})

t.test('well-formed JSON of the wrong shape: 400 validation_failed with field errors', async (t) => {
  const cases: Record<string, { payload: string, fields: string[] }> = {
    'login is a number': { payload: '{"login": 42, "password": "password123"}', fields: ['login'] },
    'password is a number': { payload: '{"login": "a@example.com", "password": 12345678}', fields: ['password'] },
    'login is an operator object': { payload: '{"login": {"$ne": null}, "password": "password123"}', fields: ['login'] },
    'password is an array': { payload: '{"login": "a@example.com", "password": ["password123"]}', fields: ['password'] },
    'login is a boolean': { payload: '{"login": true, "password": "password123"}', fields: ['login'] },
    'both missing': { payload: '{}', fields: ['login', 'password'] },
    'unknown field': { payload: '{"login": "a@example.com", "password": "password123", "remember": true}', fields: ['remember'] },
    'array body': { payload: '[{"login": "a@example.com", "password": "password123"}]', fields: ['body'] },
    'null body': { payload: 'null', fields: ['body'] },
    'string body': { payload: '"a@example.com"', fields: ['body'] },
    'number body': { payload: '42', fields: ['body'] }
  }
  for (const [name, { payload, fields }] of Object.entries(cases)) {
    const res = await post(payload)
    t.test(name, async (t) => {
      const body = assertProblemShape(t, res, 400, 'validation_failed')
      const errors = body.errors as Array<{ field: string, code: string, message: string }>
      t.ok(Array.isArray(errors) && errors.length > 0, 'lists field errors')
      for (const e of errors) t.match(e, { field: String, code: String, message: String })
      for (const field of fields) t.ok(errors.some((e) => e.field === field), `names "${field}" (${JSON.stringify(errors)})`)
    })
  }
  // Every problem is reported at once, not only the first.
  const both = await post('{"login": 1, "password": 2}')
  t.same(((both.json().errors ?? []) as Array<{ field: string }>).map((e) => e.field).sort(), ['login', 'password'], 'all errors reported')
  // Types are not coerced: a number is not turned into the string a field expects.
  const coerced = await post('{"token": 12345}', 'application/json', '/v1/auth/verify')
  assertProblemShape(t, coerced, 400, 'validation_failed')
})

t.test('an unknown route: 404 not_found', async (t) => {
  const requests: InjectOptions[] = [
    { method: 'GET', url: '/nope' },
    { method: 'GET', url: '/v1/users/someone-else' },
    { method: 'POST', url: '/v1/app/auth/nope', payload: {} },
    { method: 'GET', url: '/v2/users/me' },
    { method: 'DELETE', url: '/.well-known/jwks.json' }
  ]
  for (const request of requests) {
    const res = await app.inject(request)
    t.test(`${request.method} ${request.url}`, async (t) => {
      if (res.statusCode === 405) {
        assertProblemShape(t, res, 405, 'method_not_allowed')
        return
      }
      assertProblemShape(t, res, 404, 'not_found')
    })
  }
})

t.test('request ids are chosen by the server, unique per request', async (t) => {
  const a = await app.inject({ method: 'GET', url: '/nope', headers: { 'x-request-id': 'forged-id' } })
  const b = await app.inject({ method: 'GET', url: '/nope', headers: { 'x-request-id': 'forged-id' } })
  t.not(a.headers['x-request-id'], 'forged-id', 'a client-sent id is not echoed')
  t.not(a.json().requestId, 'forged-id')
  t.not(a.headers['x-request-id'], b.headers['x-request-id'], 'unique per request')
  // Successful replies carry one too.
  const ok = await app.inject({ method: 'GET', url: '/healthz' })
  t.type(ok.headers['x-request-id'], 'string')
})

t.test('an internal error: 500 internal_error with the request id, nothing leaked', async (t) => {
  const lines = logLines
  const s = await register(app)
  const users = app.db.prisma.user
  const realFindUnique = users.findUnique
  const secret = 'boom: SELECT password_hash FROM users WHERE email = \'victim@example.com\' -- s3cr3t'
  ;(users as { findUnique: unknown }).findUnique = async () => { throw new Error(secret) }
  t.teardown(() => { (users as { findUnique: unknown }).findUnique = realFindUnique })

  const res = await app.inject({ method: 'POST', url: LOGIN, payload: { login: s.email, password: s.password } })
  const body = assertProblemShape(t, res, 500, 'internal_error')
  t.match(body.detail, String(body.requestId), 'the detail quotes the request id')
  for (const leak of ['boom', 'SELECT', 'password_hash', 'victim', 's3cr3t', 'findUnique', 'auth-service', '.ts:', 'Error:']) {
    t.notOk(res.body.includes(leak), `does not leak "${leak}"`)
  }
  t.notOk(res.body.includes(s.password), 'does not echo the password')
  t.same(Object.keys(body).sort(), ['code', 'detail', 'requestId', 'status', 'title', 'type'], 'only the problem members')

  // Operators find the real error in the log under the same request id.
  const logged = lines.map((l) => JSON.parse(l) as { reqId?: string, err?: { message?: string } }).find((l) => l.reqId === body.requestId && l.err !== undefined)
  t.ok(logged, 'the failure is logged with the request id')
  t.match(logged?.err?.message, /boom/, 'with the real error')
  t.notOk(lines.join('\n').includes(s.password), 'the log does not hold the password')

  // The service carries on once the fault is gone.
  ;(users as { findUnique: unknown }).findUnique = realFindUnique
  t.equal((await app.inject({ method: 'POST', url: LOGIN, payload: { login: s.email, password: s.password } })).statusCode, 200)
})

t.test('a lost database connection: 503 service_unavailable, nothing leaked', async (t) => {
  const s = await register(app)
  const users = app.db.prisma.user
  const realFindUnique = users.findUnique
  ;(users as { findUnique: unknown }).findUnique = async () => {
    throw Object.assign(new Error('connect ECONNREFUSED 10.1.2.3:5432 (user=authd password=hunter2)'), { code: 'ECONNREFUSED' })
  }
  t.teardown(() => { (users as { findUnique: unknown }).findUnique = realFindUnique })
  const res = await app.inject({ method: 'POST', url: LOGIN, payload: { login: s.email, password: s.password } })
  assertProblemShape(t, res, 503, 'service_unavailable')
  t.notMatch(res.body, /ECONNREFUSED|10\.1\.2\.3|hunter2/, 'the driver error is not leaked')
})
