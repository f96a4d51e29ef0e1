// U+0000 cannot be stored in PostgreSQL text: every route refuses it up front with 400
// validation_failed naming the field, instead of failing in the database with a 500.
import t from 'tap'
import { assertProblem, build, register } from '../helper.js'

const app = await build(t)
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
