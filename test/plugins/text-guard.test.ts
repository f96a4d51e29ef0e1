// Text the database cannot store — U+0000 (PostgreSQL text cannot hold it) and lone UTF-16
// surrogates (Prisma refuses the query) — is refused up front on every route with 400
// validation_failed naming the field, instead of failing in the database with a 500.
import { Writable } from 'node:stream'
import t from 'tap'
import { assertProblem, build, register } from '../helper.js'

// Error-level lines: a refused request must not log one (a 500 would).
const errorLines: string[] = []
const logStream = new Writable({ write (chunk, _encoding, done) { errorLines.push(String(chunk)); done() } })
const ORIGIN = 'https://app.example.com'
const app = await build(t, { CORS_ORIGINS: ORIGIN }, { fastify: { logger: { level: 'error', stream: logStream } } })
const session = await register(app)
const auth = { authorization: `Bearer ${session.tokens.access}` }

t.test('a NUL in a body string is a 400 naming the field, and nothing is stored', async (t) => {
  const res = await app.inject({ method: 'PATCH', url: '/v1/users/me', headers: auth, payload: { fullName: 'Ada\u0000Lovelace', bio: 'fine' } })
  assertProblem(t, res, 400, 'validation_failed')
  t.same(res.json().errors, [{ field: 'fullName', code: 'invalid_character', message: 'must not contain the NUL character (U+0000)' }])
  const me = await app.inject({ method: 'GET', url: '/v1/users/me', headers: auth })
  t.equal(me.json().bio, '', 'the other field of the refused request was not stored either')
})

t.test('register, login and nested values are covered too', async (t) => {
  const reg = await app.inject({ method: 'POST', url: '/v1/app/auth/register', payload: { email: 'nul@example.com', password: 'correct horse battery 7', bio: 'x\u0000' } })
  assertProblem(t, reg, 400, 'validation_failed')
  const login = await app.inject({ method: 'POST', url: '/v1/app/auth/login', payload: { login: `${session.email}\u0000`, password: session.password } })
  assertProblem(t, login, 400, 'validation_failed')
  t.equal(login.json().errors[0].field, 'login')
  const nested = await app.inject({ method: 'PATCH', url: '/v1/users/me', headers: auth, payload: { fullName: 'ok', extra: { list: ['a', 'b\u0000'] } } })
  assertProblem(t, nested, 400, 'validation_failed')
  t.equal(nested.json().errors[0].field, 'extra.list[1]')
  const again = await app.inject({ method: 'POST', url: '/v1/app/auth/login', payload: { login: session.email, password: session.password } })
  t.equal(again.statusCode, 200, 'the account still logs in normally')
})

const SURROGATE = 'must be valid Unicode (contains a lone UTF-16 surrogate)'

/** Sends a JSON body written by hand: JSON.stringify would escape the surrogate the same way, but this shows what the wire carries. */
const send = async (method: 'POST' | 'PATCH', url: string, json: string, headers: Record<string, string> = {}) =>
  await app.inject({ method, url, headers: { 'content-type': 'application/json', ...headers }, payload: json })

t.test('a lone surrogate in a body string is a 400 naming the field (the routes that answered 500)', async (t) => {
  const cases: Array<[string, 'POST' | 'PATCH', string, string, string, Record<string, string>?]> = [
    ['app login', 'POST', '/v1/app/auth/login', '{"login":"x\\udc00y","password":"correct horse battery 7"}', 'login'],
    ['browser login', 'POST', '/v1/browser/auth/login', '{"login":"x\\udc00y","password":"correct horse battery 7"}', 'login', { origin: ORIGIN }],
    ['app register', 'POST', '/v1/app/auth/register', '{"email":"lone@example.com","password":"correct horse battery 7","fullName":"\\ud800"}', 'fullName'],
    ['browser register', 'POST', '/v1/browser/auth/register', '{"email":"lone@example.com","password":"correct horse battery 7","bio":"ab\\ud83d"}', 'bio', { origin: ORIGIN }],
    ['PATCH /v1/users/me', 'PATCH', '/v1/users/me', '{"bio":"\\udfffx"}', 'bio', auth]
  ]
  for (const [name, method, url, json, field, headers] of cases) {
    const res = await send(method, url, json, headers)
    assertProblem(t, res, 400, 'validation_failed')
    t.same(res.json().errors, [{ field, code: 'invalid_character', message: SURROGATE }], `${name}: the field is named`)
    t.match(res.json().detail, /lone UTF-16 surrogate/, `${name}: the detail says which kind`)
  }
  t.same(errorLines, [], 'nothing was logged at error level')
  const again = await app.inject({ method: 'POST', url: '/v1/app/auth/login', payload: { login: session.email, password: session.password } })
  t.equal(again.statusCode, 200, 'the account still logs in normally')
})

t.test('high and low surrogates at the start, middle and end; in keys, nested values and the query', async (t) => {
  for (const lone of ['\\ud800', '\\udbff', '\\udc00', '\\udfff']) {
    for (const text of [`${lone}abc`, `ab${lone}c`, `abc${lone}`, `${lone}`]) {
      const res = await send('PATCH', '/v1/users/me', `{"fullName":"${text}"}`, auth)
      assertProblem(t, res, 400, 'validation_failed')
      t.equal(res.json().errors[0].field, 'fullName', `"${text}" is refused`)
    }
  }
  const key = await send('PATCH', '/v1/users/me', '{"bio":"fine","x\\ud800":"y"}', auth)
  assertProblem(t, key, 400, 'validation_failed')
  t.same(key.json().errors, [{ field: 'x\\ud800', code: 'invalid_character', message: SURROGATE }], 'a key is named with the surrogate written as an escape')
  const nested = await send('PATCH', '/v1/users/me', '{"fullName":"ok","extra":{"list":["a","b\\udc00"]}}', auth)
  t.equal(nested.json().errors[0].field, 'extra.list[1]')
  const both = await send('PATCH', '/v1/users/me', '{"fullName":"a\\u0000","bio":"\\ud800"}', auth)
  t.same(both.json().errors.map((e: { field: string, message: string }) => [e.field, e.message]).sort(), [['bio', SURROGATE], ['fullName', 'must not contain the NUL character (U+0000)']])
  t.match(both.json().detail, /NUL.*surrogate/, 'the detail names both kinds')
  // The query string is read too. (A percent-encoded surrogate cannot get in that way:
  // fast-querystring keeps a value it cannot decode as the ASCII text that was sent.)
  const query = await app.inject({ method: 'GET', url: '/v1/users/me?x=a%00', headers: auth })
  assertProblem(t, query, 400, 'validation_failed')
  t.equal(query.json().errors[0].field, 'x')
})

t.test('well-formed text passes: surrogate pairs (emoji) are real characters', async (t) => {
  const res = await send('PATCH', '/v1/users/me', '{"fullName":"Ada \\ud83d\\ude00","bio":"😀 \\u00e9"}', auth)
  t.equal(res.statusCode, 200, res.body)
  t.equal(res.json().fullName, 'Ada 😀')
  t.equal(res.json().bio, '😀 é')
})
