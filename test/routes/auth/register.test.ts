// POST /v1/app/auth/register (API.md: token endpoints, conventions).
import t from 'tap'
import { assertNewUser, assertProblem, buildWithDatabase, ISO_INSTANT, me, newAccount } from '../../helper.js'
import { decodeHeader, decodePayload } from '../../jwt-helper.js'

const URL = '/v1/app/auth/register'
const TOKEN_FIELDS = ['access', 'accessExpiresIn', 'refresh', 'refreshExpiresIn', 'tokenType']

const { app, database } = await buildWithDatabase(t)
const prisma = database.prisma

const post = async (payload: unknown) => await app.inject({ method: 'POST', url: URL, payload: payload as Record<string, unknown> })
const usersWithEmail = async (email: string) => await prisma.user.count({ where: { email: email.toLowerCase() } })

t.test('201 with exactly { user, tokens } as API.md shapes them', async (t) => {
  const account = newAccount({ fullName: 'Ada Lovelace', bio: 'Analyst' })
  const res = await post(account)
  t.equal(res.statusCode, 201, res.body)
  t.match(res.headers['content-type'], /^application\/json/)
  t.equal(res.headers['cache-control'], 'no-store', 'token responses are not cacheable')
  const body = res.json()
  t.same(Object.keys(body).sort(), ['tokens', 'user'])

  const { user, tokens } = body
  assertNewUser(t, user, { email: account.email, username: account.username, fullName: 'Ada Lovelace', bio: 'Analyst' })
  t.ok(user.lastLoginAt === null || ISO_INSTANT.test(user.lastLoginAt), 'lastLoginAt is null or an ISO time')

  t.same(Object.keys(tokens).sort(), TOKEN_FIELDS, 'exactly the app token fields')
  t.equal(tokens.tokenType, 'Bearer')
  t.equal(tokens.accessExpiresIn, 300)
  t.equal(tokens.refreshExpiresIn, 86400)
  t.type(tokens.access, 'string')
  t.type(tokens.refresh, 'string')
  t.not(tokens.access, tokens.refresh)
  t.equal(decodeHeader(tokens.access).typ, 'at+jwt')
  t.equal(decodePayload(tokens.access).sub, user.id)

  t.notMatch(res.body, /passwordHash|password_hash|bcrypt/i, 'no password hash anywhere in the body')
  t.notOk(res.body.includes(account.password), 'the password is not echoed')

  const meRes = await me(app, tokens.access)
  t.equal(meRes.statusCode, 200, 'the access token works right away')
  t.equal(meRes.json().id, user.id)
})

t.test('optional fields may be left out', async (t) => {
  const { email, password } = newAccount()
  const res = await post({ email, password })
  t.equal(res.statusCode, 201, res.body)
  const { user } = res.json()
  t.equal(user.username, null)
  t.equal(user.fullName, '')
  t.equal(user.bio, '')
})

t.test('email is stored lower-cased and unique regardless of case', async (t) => {
  const base = newAccount()
  const mixed = base.email.replace(/^user/, 'UsEr').replace('example.com', 'Example.COM')
  const first = await post({ ...base, email: mixed })
  t.equal(first.statusCode, 201, first.body)
  t.equal(first.json().user.email, base.email.toLowerCase(), 'reply shows the lower-cased address')
  const row = await prisma.user.findUnique({ where: { id: first.json().user.id } })
  t.equal(row?.email, base.email.toLowerCase(), 'stored lower-cased')

  const again = await post(newAccount({ email: base.email.toUpperCase() }))
  assertProblem(t, again, 409, 'email_taken')
  t.match(again.json().errors, [{ field: 'email', code: 'email_taken', message: String }])
  t.equal(await usersWithEmail(base.email), 1, 'still one account with that address')
})

t.test('username is unique regardless of case', async (t) => {
  const first = newAccount()
  t.equal((await post({ ...first, username: `${first.username}_Ab` })).statusCode, 201)

  const second = newAccount()
  const res = await post({ ...second, username: `${first.username}_Ab`.toUpperCase() })
  assertProblem(t, res, 409, 'username_taken')
  t.match(res.json().errors, [{ field: 'username', code: 'username_taken', message: String }])
  t.equal(await usersWithEmail(second.email), 0, 'the second account was not created')
})

t.test('a taken username that happens to contain "email" is still username_taken', async (t) => {
  const name = `email_${newAccount().username.slice(5, 25)}`
  t.equal((await post(newAccount({ username: name }))).statusCode, 201)
  const res = await post(newAccount({ username: name }))
  assertProblem(t, res, 409, 'username_taken')
  t.match(res.json().errors, [{ field: 'username', code: 'username_taken' }])
})

t.test('simultaneous registrations of one address: one account, the rest 409', async (t) => {
  const base = newAccount()
  const attempts = await Promise.all(Array.from({ length: 6 }, async (_, i) =>
    await post(newAccount({ email: i % 2 === 0 ? base.email : base.email.toUpperCase() }))))
  const statuses = attempts.map((r) => r.statusCode).sort()
  t.same(statuses, [201, 409, 409, 409, 409, 409], `one 201, five 409 (${statuses.join(',')})`)
  for (const r of attempts.filter((r) => r.statusCode === 409)) t.equal(r.json().code, 'email_taken')
  t.equal(await usersWithEmail(base.email), 1)

  const name = newAccount().username
  const byName = await Promise.all(Array.from({ length: 4 }, async (_, i) =>
    await post(newAccount({ username: i % 2 === 0 ? name : name.toUpperCase() }))))
  t.same(byName.map((r) => r.statusCode).sort(), [201, 409, 409, 409])
  for (const r of byName.filter((r) => r.statusCode === 409)) t.equal(r.json().code, 'username_taken')
})

t.test('unknown body fields are rejected, not stored', async (t) => {
  for (const extra of [{ isAdmin: true }, { roles: ['admin'] }, { emailVerified: true }, { passwordHash: 'x' }, { isActive: false }]) {
    const account = newAccount()
    const res = await post({ ...account, ...extra })
    assertProblem(t, res, 400, 'validation_failed')
    const field = Object.keys(extra)[0]
    t.match(res.json().errors, [{ field, code: 'unknown_field', message: String }], `${field} is named`)
    t.equal(await usersWithEmail(account.email), 0, `no user row after ${field}`)
  }
})

t.test('malformed bodies are 400 validation_failed with field errors', async (t) => {
  const cases: Array<{ name: string, body: (a: ReturnType<typeof newAccount>) => Record<string, unknown>, field: string, code: string }> = [
    { name: 'bad email', body: (a) => ({ ...a, email: 'not-an-email' }), field: 'email', code: 'invalid_format' },
    { name: 'missing email', body: ({ email, ...a }) => a, field: 'email', code: 'required' },
    { name: 'missing password', body: ({ password, ...a }) => a, field: 'password', code: 'required' },
    { name: 'email of wrong type', body: (a) => ({ ...a, email: 42 }), field: 'email', code: 'invalid_type' },
    { name: 'numeric password (no coercion)', body: (a) => ({ ...a, password: 1234567890 }), field: 'password', code: 'invalid_type' },
    { name: 'username of wrong type', body: (a) => ({ ...a, username: ['x'] }), field: 'username', code: 'invalid_type' },
    { name: 'username with @', body: (a) => ({ ...a, username: 'a@b' }), field: 'username', code: 'invalid_format' },
    { name: 'fullName null', body: (a) => ({ ...a, fullName: null }), field: 'fullName', code: 'invalid_type' }
  ]
  for (const c of cases) {
    const account = newAccount()
    const res = await post(c.body(account))
    assertProblem(t, res, 400, 'validation_failed')
    t.match(res.json().errors, [{ field: c.field, code: c.code }], `${c.name}: ${c.field} ${c.code}`)
    t.equal(await usersWithEmail(account.email), 0, `${c.name}: no user row`)
  }

  const notJson = await app.inject({ method: 'POST', url: URL, headers: { 'content-type': 'application/json' }, payload: '{"email":' })
  assertProblem(t, notJson, 400, 'invalid_json')
  const array = await post([newAccount()])
  assertProblem(t, array, 400, 'validation_failed')
})

t.test('password policy: at least PASSWORD_MIN_LENGTH (8) characters', async (t) => {
  const short = newAccount({ password: 'seven77' })
  const res = await post(short)
  assertProblem(t, res, 400, 'validation_failed')
  t.match(res.json().errors, [{ field: 'password', code: 'password_too_short', message: String }])
  t.equal(await usersWithEmail(short.email), 0, 'no user row behind')

  // Characters, not UTF-16 units: four emoji are four characters (eight units).
  const emoji = newAccount({ password: '😀😀😀😀' })
  const emojiRes = await post(emoji)
  assertProblem(t, emojiRes, 400, 'validation_failed')
  t.match(emojiRes.json().errors, [{ field: 'password', code: 'password_too_short' }])

  const exact = await post(newAccount({ password: 'eight888' }))
  t.equal(exact.statusCode, 201, 'exactly eight characters is enough')
})

t.test('a failed register leaves nothing behind', async (t) => {
  const before = { users: await prisma.user.count(), sessions: await prisma.session.count(), tokens: await prisma.outstandingToken.count() }
  const taken = newAccount()
  t.equal((await post(taken)).statusCode, 201)
  const afterFirst = { users: await prisma.user.count(), sessions: await prisma.session.count(), tokens: await prisma.outstandingToken.count() }
  t.same(afterFirst, { users: before.users + 1, sessions: before.sessions + 1, tokens: before.tokens + 1 })

  const failures = [
    await post(newAccount({ email: taken.email })),
    await post(newAccount({ username: taken.username.toUpperCase() })),
    await post(newAccount({ password: 'short' })),
    await post({ ...newAccount(), extra: 1 })
  ]
  t.same(failures.map((r) => r.statusCode), [409, 409, 400, 400])
  t.same({ users: await prisma.user.count(), sessions: await prisma.session.count(), tokens: await prisma.outstandingToken.count() }, afterFirst,
    'no user, session or token row from the failed attempts')
})
