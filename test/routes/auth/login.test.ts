// POST /v1/app/auth/login (API.md: token endpoints; one answer for every failed login).
import t from 'tap'
import { assertProblem, build, buildWithDatabase, login, me, register } from '../../helper.js'

const { app, database } = await buildWithDatabase(t)
const prisma = database.prisma

const withoutRequestId = (body: Record<string, unknown>) => {
  const { requestId, ...rest } = body
  return rest
}

t.test('login by email, in any case', async (t) => {
  const s = await register(app)
  for (const variant of [s.email, s.email.toUpperCase(), s.email.replace(/^./, (c) => c.toUpperCase())]) {
    const res = await login(app, variant, s.password)
    t.equal(res.statusCode, 200, `${variant}: ${res.body.slice(0, 200)}`)
    const body = res.json()
    t.same(Object.keys(body).sort(), ['deviceToken', 'tokens', 'user'], 'user and tokens, and the known-device token')
    t.equal(body.user.id, s.user.id)
    t.equal(body.user.email, s.email.toLowerCase())
    t.equal(body.tokens.tokenType, 'Bearer')
    t.notMatch(res.body, /passwordHash|bcrypt/i, 'no hash in the reply')
    t.equal((await me(app, body.tokens.access)).statusCode, 200, 'the access token works')
  }
})

t.test('login by username, in any case', async (t) => {
  const s = await register(app)
  const username = s.user.username as string
  for (const variant of [username, username.toUpperCase()]) {
    const res = await login(app, variant, s.password)
    t.equal(res.statusCode, 200, `${variant}: ${res.body.slice(0, 200)}`)
    t.equal(res.json().user.id, s.user.id)
  }
})

t.test('each login is a new session with its own tokens', async (t) => {
  const s = await register(app)
  const a = (await login(app, s.email, s.password)).json()
  const b = (await login(app, s.email, s.password)).json()
  t.not(a.tokens.refresh, b.tokens.refresh)
  t.equal(await prisma.session.count({ where: { userId: s.user.id } }), 3, 'register + two logins')
})

t.test('wrong password, unknown user and inactive user get one identical 401', async (t) => {
  const s = await register(app)
  const inactive = await register(app)
  await prisma.user.update({ where: { id: inactive.user.id }, data: { isActive: false } })
  const sessionsBefore = await prisma.session.count()

  const attempts = {
    'wrong password': await login(app, s.email, `${s.password}x`),
    'wrong password by username': await login(app, s.user.username as string, 'not the password'),
    'unknown email': await login(app, `nobody-${s.email}`, s.password),
    'unknown username': await login(app, 'no_such_user_here', s.password),
    'inactive user, right password': await login(app, inactive.email, inactive.password)
  }
  const reference = withoutRequestId(attempts['wrong password'].json())
  for (const [name, res] of Object.entries(attempts)) {
    assertProblem(t, res, 401, 'invalid_credentials')
    t.equal(res.headers['www-authenticate'], 'Bearer realm="authd"', `${name}: WWW-Authenticate`)
    t.same(withoutRequestId(res.json()), reference, `${name}: same body as a wrong password`)
    t.notOk('errors' in res.json(), `${name}: no field errors that would tell the cases apart`)
  }
  t.equal(await prisma.session.count(), sessionsBefore, 'no session created by a failed login')
})

t.test('lastLoginAt is set by a successful login only', async (t) => {
  const s = await register(app)
  const old = new Date('2020-01-01T00:00:00.000Z')
  await prisma.user.update({ where: { id: s.user.id }, data: { lastLoginAt: old } })

  t.equal((await login(app, s.email, 'wrong password!')).statusCode, 401)
  t.same((await prisma.user.findUniqueOrThrow({ where: { id: s.user.id } })).lastLoginAt, old, 'a failed login leaves it alone')

  const res = await login(app, s.email, s.password)
  t.equal(res.statusCode, 200)
  const shown = res.json().user.lastLoginAt as string
  t.ok(new Date(shown) > old, 'the reply shows the new time')
  const stored = (await prisma.user.findUniqueOrThrow({ where: { id: s.user.id } })).lastLoginAt
  t.equal(stored?.toISOString(), shown, 'and it is stored')
})

t.test('no 72-byte truncation: every byte of a long password counts', async (t) => {
  const password = 'P4ssw0rd-'.repeat(8).slice(0, 72) + 'the-part-after-byte-72' + '#'.repeat(6)
  t.equal(Buffer.byteLength(password), 100)
  const s = await register(app, { password })
  t.equal((await login(app, s.email, password)).statusCode, 200, 'the exact password works')

  const samePrefix = password.slice(0, 72) + 'something-else-entirely' + '!'.repeat(5)
  t.equal(samePrefix.slice(0, 72), password.slice(0, 72))
  assertProblem(t, await login(app, s.email, samePrefix), 401, 'invalid_credentials')
  assertProblem(t, await login(app, s.email, password.slice(0, 72)), 401, 'invalid_credentials')

  // Multi-byte characters: 40 × 'é' is 80 bytes; changing the 40th character is past byte 72.
  const accented = 'é'.repeat(40)
  const a = await register(app, { password: accented })
  t.equal((await login(app, a.email, accented)).statusCode, 200)
  assertProblem(t, await login(app, a.email, 'é'.repeat(39) + 'e'), 401, 'invalid_credentials')
})

t.test('stored hashes are upgraded when BCRYPT_COST changes', async (t) => {
  const first = await buildWithDatabase(t, { BCRYPT_COST: '4' })
  const s = await register(first.app)
  const userId = s.user.id
  const stored = async () => (await first.database.prisma.user.findUniqueOrThrow({ where: { id: userId } })).passwordHash
  const original = await stored()
  t.match(original, /^bcrypt_sha256\$\$2b\$04\$/, 'hashed at cost 4')

  // Two instances on one database (the first owns and closes it).
  const second = await build(t, { BCRYPT_COST: '5' }, { database: first.database })
  // A failed login never rewrites the hash.
  assertProblem(t, await login(second, s.email, 'not the password'), 401, 'invalid_credentials')
  t.equal(await stored(), original, 'unchanged after a wrong password')

  t.equal((await login(second, s.email, s.password)).statusCode, 200)
  const upgraded = await stored()
  t.match(upgraded, /^bcrypt_sha256\$\$2b\$05\$/, 'rehashed at cost 5 on login')
  t.not(upgraded, original)

  t.equal((await login(second, s.email, s.password)).statusCode, 200, 'the new hash works')
  t.equal(await stored(), upgraded, 'not rehashed again at the same cost')
  assertProblem(t, await login(second, s.email, `${s.password}!`), 401, 'invalid_credentials')
  t.equal((await login(first.app, s.email, s.password)).statusCode, 200, 'an instance still at cost 4 accepts it too')
})
