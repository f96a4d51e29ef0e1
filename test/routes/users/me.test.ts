// GET/PATCH /v1/users/me: the current user as API.md describes it, bearer-token rejection
// (with the right WWW-Authenticate), what a user may and may not change about themselves.
import t from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { assertNewUser, assertProblem, buildWithDatabase, ISO_INSTANT, me, register, USER_FIELDS } from '../../helper.js'

const { app, database } = await buildWithDatabase(t)
const prisma = database.prisma

async function patchMe (app: FastifyInstance, access: string, payload: unknown): Promise<LightMyRequestResponse> {
  return await app.inject({ method: 'PATCH', url: '/v1/users/me', headers: { authorization: `Bearer ${access}` }, payload: payload as object })
}

/** The columns a rejected PATCH must leave alone. */
async function snapshot (id: string) {
  const row = await prisma.user.findUniqueOrThrow({ where: { id } })
  return {
    email: row.email,
    username: row.username,
    fullName: row.fullName,
    bio: row.bio,
    birthDate: row.birthDate?.toISOString() ?? null,
    roles: row.roles,
    isActive: row.isActive,
    emailVerified: row.emailVerified,
    passwordHash: row.passwordHash,
    updatedAt: row.updatedAt.toISOString()
  }
}

t.test('GET /v1/users/me returns the user exactly as API.md describes it', async (t) => {
  const s = await register(app, { fullName: 'Ada Lovelace', bio: 'first programmer' })
  const res = await me(app, s.tokens.access)
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^application\/json/)
  const user = res.json()
  assertNewUser(t, user, { email: s.email.toLowerCase(), username: s.user.username as string, fullName: 'Ada Lovelace', bio: 'first programmer' })
  t.notOk('passwordHash' in user, 'no password hash')
  t.notMatch(res.body, /password|\$2[aby]\$/i, 'nothing that looks like a password or bcrypt hash')
  t.equal(user.id, s.user.id)
  t.match(user.lastLoginAt, ISO_INSTANT, 'lastLoginAt is ISO-8601 (registration logs in)')
  t.same(user, s.user, 'the same user the registration returned')
})

t.test('without credentials: 401 authentication_required, no error= in the challenge', async (t) => {
  for (const headers of [{}, { authorization: '' }]) {
    const res = await app.inject({ method: 'GET', url: '/v1/users/me', headers })
    assertProblem(t, res, 401, 'authentication_required')
    t.equal(res.headers['www-authenticate'], 'Bearer realm="authd"')
  }
  const patch = await app.inject({ method: 'PATCH', url: '/v1/users/me', payload: { bio: 'x' } })
  assertProblem(t, patch, 401, 'authentication_required')
  t.equal(patch.headers['www-authenticate'], 'Bearer realm="authd"')
})

t.test('a bad Authorization header or token: 401 token_invalid with error="invalid_token"', async (t) => {
  const s = await register(app)
  const [header, payload, signature] = s.tokens.access.split('.') as [string, string, string]
  // Flip one character of the signature and, separately, of the payload.
  const flip = (part: string) => (part[5] === 'A' ? 'B' : 'A')
  const tamperedSig = `${header}.${payload}.${signature.slice(0, 5)}${flip(signature)}${signature.slice(6)}`
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>
  const forgedPayload = Buffer.from(JSON.stringify({ ...claims, roles: ['admin'] })).toString('base64url')
  const tamperedPayload = `${header}.${forgedPayload}.${signature}`

  const cases: Record<string, string> = {
    'Basic scheme': `Basic ${Buffer.from(`${s.email}:${s.password}`).toString('base64')}`,
    'Bearer without a token': 'Bearer',
    'Bearer with two tokens': `Bearer ${s.tokens.access} ${s.tokens.access}`,
    'token without scheme': s.tokens.access,
    garbage: 'Bearer not-a-jwt',
    'three garbage segments': 'Bearer aaa.bbb.ccc',
    'tampered signature': `Bearer ${tamperedSig}`,
    'tampered payload (roles: admin)': `Bearer ${tamperedPayload}`,
    'refresh token as access token': `Bearer ${s.tokens.refresh}`
  }
  for (const [name, authorization] of Object.entries(cases)) {
    const res = await app.inject({ method: 'GET', url: '/v1/users/me', headers: { authorization } })
    t.test(name, async (t) => {
      assertProblem(t, res, 401, 'token_invalid')
      t.equal(res.headers['www-authenticate'], 'Bearer realm="authd", error="invalid_token"')
    })
  }
  // The genuine token still works afterwards.
  t.equal((await me(app, s.tokens.access)).statusCode, 200)
})

t.test('PATCH updates the editable fields and returns the new user', async (t) => {
  const s = await register(app)
  // Push updatedAt into the past so "it moved" does not depend on the clock's resolution.
  await prisma.user.update({ where: { id: s.user.id }, data: { updatedAt: new Date('2001-01-01T00:00:00Z') } })
  const before = (await me(app, s.tokens.access)).json()
  t.equal(before.updatedAt, '2001-01-01T00:00:00.000Z')

  const newName = `Renamed_${s.user.id.slice(0, 8)}`
  const res = await patchMe(app, s.tokens.access, { username: newName, fullName: 'Grace Hopper', bio: 'COBOL', birthDate: '1906-12-09' })
  t.equal(res.statusCode, 200, res.body)
  const user = res.json()
  t.same(Object.keys(user).sort(), USER_FIELDS)
  t.match(user, { id: s.user.id, email: before.email, username: newName, fullName: 'Grace Hopper', bio: 'COBOL', birthDate: '1906-12-09', roles: [], isActive: true, emailVerified: false })
  t.equal(user.createdAt, before.createdAt, 'createdAt unchanged')
  t.not(user.updatedAt, before.updatedAt, 'updatedAt moved')
  t.ok(Date.parse(user.updatedAt) > Date.parse(before.updatedAt), 'updatedAt moved forward')
  t.same((await me(app, s.tokens.access)).json(), user, 'GET shows the stored change')

  // The new username logs in (any case), the old one no longer does.
  const byNew = await app.inject({ method: 'POST', url: '/v1/app/auth/login', payload: { login: newName.toUpperCase(), password: s.password } })
  t.equal(byNew.statusCode, 200, 'login with the new username')
  const byOld = await app.inject({ method: 'POST', url: '/v1/app/auth/login', payload: { login: s.user.username, password: s.password } })
  t.equal(byOld.statusCode, 401, 'the old username is gone')

  // A partial PATCH changes only what it names.
  const partial = await patchMe(app, s.tokens.access, { bio: 'compilers' })
  t.equal(partial.statusCode, 200)
  t.match(partial.json(), { username: newName, fullName: 'Grace Hopper', bio: 'compilers', birthDate: '1906-12-09' })

  // An empty PATCH is a no-op that still answers with the user.
  const empty = await patchMe(app, s.tokens.access, {})
  t.equal(empty.statusCode, 200)
  t.match(empty.json(), { username: newName, bio: 'compilers' })

  // null clears birthDate and username; empty strings clear fullName and bio.
  const cleared = await patchMe(app, s.tokens.access, { birthDate: null, username: null, fullName: '', bio: '' })
  t.equal(cleared.statusCode, 200, cleared.body)
  t.match(cleared.json(), { birthDate: null, username: null, fullName: '', bio: '' })
  const row = await prisma.user.findUniqueOrThrow({ where: { id: s.user.id } })
  t.equal(row.birthDate, null, 'birth date cleared in the database')
  t.equal(row.usernameNormalized, null, 'username cleared in the database')
})

t.test('PATCH with the own username in another case is allowed', async (t) => {
  const s = await register(app)
  const res = await patchMe(app, s.tokens.access, { username: (s.user.username as string).toUpperCase() })
  t.equal(res.statusCode, 200, res.body)
  t.equal(res.json().username, (s.user.username as string).toUpperCase(), 'stored as typed')
})

t.test('PATCH of a field the user may not change: 400 validation_failed naming it, nothing stored', async (t) => {
  const s = await register(app)
  const forbidden: Record<string, unknown> = {
    roles: ['admin'],
    isActive: false,
    passwordHash: '$2b$04$abcdefghijklmnopqrstuuJ3kGcF0B2oC1gkqU6m7rB7bC1Bz3vBy',
    password: 'another password 123',
    emailVerified: true,
    email: 'someone-else@example.com',
    id: '00000000-0000-4000-8000-000000000000',
    createdAt: '2000-01-01T00:00:00.000Z',
    lastLoginAt: null,
    usernameNormalized: 'x',
    favouriteColour: 'blue'
  }
  const before = await snapshot(s.user.id)
  for (const [field, value] of Object.entries(forbidden)) {
    // Alone, and smuggled in next to a legitimate change: neither may be stored.
    for (const payload of [{ [field]: value }, { bio: 'smuggled', [field]: value }]) {
      const res = await patchMe(app, s.tokens.access, payload)
      t.test(`${Object.keys(payload).join('+')}`, async (t) => {
        assertProblem(t, res, 400, 'validation_failed')
        const errors = res.json().errors as Array<{ field: string, code: string }>
        t.ok(errors.some((e) => e.field === field), `the problem names "${field}" (${JSON.stringify(errors)})`)
      })
    }
  }
  t.same(await snapshot(s.user.id), before, 'the database row is unchanged')
  t.same((await me(app, s.tokens.access)).json(), s.user, 'GET shows the user unchanged')
})

t.test('PATCH to a username another user holds (in any case): 409 username_taken', async (t) => {
  const other = await register(app)
  const s = await register(app)
  const before = await snapshot(s.user.id)
  const taken = other.user.username as string
  for (const username of [taken, taken.toUpperCase(), taken[0]!.toUpperCase() + taken.slice(1)]) {
    const res = await patchMe(app, s.tokens.access, { username, bio: 'not stored either' })
    assertProblem(t, res, 409, 'username_taken')
    t.match(res.json().errors, [{ field: 'username', code: 'username_taken' }])
  }
  t.same(await snapshot(s.user.id), before, 'nothing changed')
  t.equal((await me(app, other.tokens.access)).json().username, taken, 'the holder keeps the name')
})

t.test('PATCH with wrong types or bad values: 400 validation_failed', async (t) => {
  const s = await register(app)
  const before = await snapshot(s.user.id)
  const cases: Record<string, { payload: unknown, field: string }> = {
    'fullName number': { payload: { fullName: 123 }, field: 'fullName' },
    'fullName null': { payload: { fullName: null }, field: 'fullName' },
    'bio object': { payload: { bio: { text: 'x' } }, field: 'bio' },
    'bio array': { payload: { bio: ['x'] }, field: 'bio' },
    'username number': { payload: { username: 12345 }, field: 'username' },
    'username boolean': { payload: { username: true }, field: 'username' },
    'username too short': { payload: { username: 'ab' }, field: 'username' },
    'username with @': { payload: { username: 'a@b.example' }, field: 'username' },
    'username with space': { payload: { username: 'two words' }, field: 'username' },
    'fullName too long': { payload: { fullName: 'x'.repeat(151) }, field: 'fullName' },
    'bio too long': { payload: { bio: 'x'.repeat(2001) }, field: 'bio' },
    'birthDate number': { payload: { birthDate: 19061209 }, field: 'birthDate' },
    'birthDate date-time': { payload: { birthDate: '1906-12-09T00:00:00Z' }, field: 'birthDate' },
    'birthDate day first': { payload: { birthDate: '09-12-1906' }, field: 'birthDate' },
    'birthDate month 13': { payload: { birthDate: '1906-13-09' }, field: 'birthDate' },
    'birthDate 30 February': { payload: { birthDate: '2001-02-30' }, field: 'birthDate' },
    'birthDate words': { payload: { birthDate: 'yesterday' }, field: 'birthDate' },
    'array body': { payload: [{ bio: 'x' }], field: 'body' },
    'string body': { payload: '"bio"', field: 'body' }
  }
  for (const [name, { payload, field }] of Object.entries(cases)) {
    const res = typeof payload === 'string'
      ? await app.inject({ method: 'PATCH', url: '/v1/users/me', headers: { authorization: `Bearer ${s.tokens.access}`, 'content-type': 'application/json' }, payload })
      : await patchMe(app, s.tokens.access, payload)
    t.test(name, async (t) => {
      assertProblem(t, res, 400, 'validation_failed')
      const errors = (res.json().errors ?? []) as Array<{ field: string }>
      t.ok(errors.some((e) => e.field === field), `names "${field}" (${JSON.stringify(errors)})`)
    })
  }
  t.same(await snapshot(s.user.id), before, 'nothing changed')
})

t.test('a deactivated user\'s valid access token is refused', async (t) => {
  const s = await register(app)
  t.equal((await me(app, s.tokens.access)).statusCode, 200, 'works while active (and is now in the verified-token cache)')
  await prisma.user.update({ where: { id: s.user.id }, data: { isActive: false } })
  const get = await me(app, s.tokens.access)
  assertProblem(t, get, 401, 'token_invalid')
  t.equal(get.headers['www-authenticate'], 'Bearer realm="authd", error="invalid_token"')
  const patch = await patchMe(app, s.tokens.access, { bio: 'still here?' })
  t.equal(patch.statusCode, 401, 'PATCH refused too')
  t.equal((await prisma.user.findUniqueOrThrow({ where: { id: s.user.id } })).bio, '', 'and stored nothing')
})

t.test('a deleted user\'s access token is refused', async (t) => {
  const s = await register(app)
  t.equal((await me(app, s.tokens.access)).statusCode, 200)
  await prisma.user.delete({ where: { id: s.user.id } })
  assertProblem(t, await me(app, s.tokens.access), 401, 'token_invalid')
  const patch = await patchMe(app, s.tokens.access, { bio: 'ghost' })
  assertProblem(t, patch, 401, 'token_invalid')
  t.equal(await prisma.user.count({ where: { id: s.user.id } }), 0, 'PATCH did not bring the user back')
})

t.test('an access token of a logged-out session is refused', async (t) => {
  const s = await register(app)
  const out = await app.inject({ method: 'POST', url: '/v1/app/auth/logout', payload: { refresh: s.tokens.refresh } })
  t.equal(out.statusCode, 204)
  assertProblem(t, await me(app, s.tokens.access), 401, 'token_invalid')
})
