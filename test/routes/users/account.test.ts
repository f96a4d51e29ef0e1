// DELETE /v1/users/me: a user deletes their own account, confirming with the password.
// Afterwards the user, every session and every token row are gone and no token works.
import t, { type Test } from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { assertProblem, buildWithDatabase, login, me, refresh, register, type AppTokens, type Session } from '../../helper.js'
import { decodePayload } from '../../jwt-helper.js'

const { app, database } = await buildWithDatabase(t)
const prisma = database.prisma

/**
 * helper.ts's assertProblem wants `m?: string` assertions, which tap's own (message-or-extra
 * rest parameter) does not type-check against; this adapter bridges the two without a cast.
 */
function problem (t: Test, res: LightMyRequestResponse, status: number, code: string): void {
  assertProblem({ equal: (a, b, m) => { t.equal(a, b, m ?? '') }, match: (a, b, m) => { t.match(a, b, m ?? '') } }, res, status, code)
}

async function deleteMe (access: string, payload?: unknown): Promise<LightMyRequestResponse> {
  return await app.inject({
    method: 'DELETE',
    url: '/v1/users/me',
    headers: { authorization: `Bearer ${access}` },
    ...(payload === undefined ? {} : { payload: payload as object })
  })
}

async function loginTokens (s: Session): Promise<AppTokens> {
  const res = await login(app, s.email, s.password)
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`)
  return res.json().tokens
}

/** Row counts of everything that belongs to a user. */
async function rows (userId: string) {
  const jtis = (await prisma.outstandingToken.findMany({ where: { userId }, select: { jti: true } })).map((o) => o.jti)
  return {
    users: await prisma.user.count({ where: { id: userId } }),
    sessions: await prisma.session.count({ where: { userId } }),
    outstanding: jtis.length,
    blacklisted: await prisma.blacklistedToken.count({ where: { jti: { in: jtis } } })
  }
}

async function assertWorks (t: Test, tokens: AppTokens, name: string): Promise<AppTokens> {
  t.equal((await me(app, tokens.access)).statusCode, 200, `${name}: access token works`)
  const res = await refresh(app, tokens.refresh)
  t.equal(res.statusCode, 200, `${name}: refresh token works`)
  return res.json().tokens
}

t.test('204: the user, its sessions and all its token rows are gone; no token works', async (t) => {
  const s = await register(app)
  // A rotated family (so there are blacklisted rows too) and a second session.
  const rotated = await assertWorks(t, s.tokens, 'before')
  const other = await loginTokens(s)
  const bystander = await register(app)
  const jtisBefore = (await prisma.outstandingToken.findMany({ where: { userId: s.user.id }, select: { jti: true } })).map((o) => o.jti)
  const before = await rows(s.user.id)
  t.ok(before.outstanding >= 3 && before.blacklisted >= 1 && before.sessions === 2, `there is something to delete (${JSON.stringify(before)})`)

  const res = await deleteMe(rotated.access, { password: s.password })
  t.equal(res.statusCode, 204, res.body)
  t.equal(res.body, '', 'no body')

  t.same(await rows(s.user.id), { users: 0, sessions: 0, outstanding: 0, blacklisted: 0 }, 'no row of the user is left')
  t.equal(await prisma.blacklistedToken.count({ where: { jti: { in: jtisBefore } } }), 0, 'blacklist rows of its tokens gone')

  for (const [name, tokens] of Object.entries({ 'the deleting session': rotated, 'the other session': other, 'the first (rotated) pair': s.tokens })) {
    const access = await me(app, tokens.access)
    problem(t, access, 401, 'token_invalid')
    t.equal(access.headers['www-authenticate'], 'Bearer realm="authd", error="invalid_token"')
    const refreshed = await refresh(app, tokens.refresh)
    t.equal(refreshed.statusCode, 401, `${name}: refresh token refused (${refreshed.json().code})`)
  }
  problem(t, await login(app, s.email, s.password), 401, 'invalid_credentials')
  problem(t, await deleteMe(rotated.access, { password: s.password }), 401, 'token_invalid')

  await assertWorks(t, bystander.tokens, 'another user')
  t.equal((await rows(bystander.user.id)).users, 1)

  // The address is free again.
  const again = await app.inject({ method: 'POST', url: '/v1/app/auth/register', payload: { email: s.email, password: s.password } })
  t.equal(again.statusCode, 201, 'the email can be registered again')
  t.not(again.json().user.id, s.user.id, 'as a new user')
})

t.test('wrong password: 400 naming password, nothing deleted', async (t) => {
  const s = await register(app)
  const before = await rows(s.user.id)
  for (const password of ['wrong password', s.password.toUpperCase(), `${s.password}x`]) {
    const res = await deleteMe(s.tokens.access, { password })
    problem(t, res, 400, 'validation_failed')
    t.same(res.json().errors, [{ field: 'password', code: 'invalid_password', message: 'is incorrect' }])
    t.equal(res.headers['www-authenticate'], undefined, 'not an authentication failure')
  }
  t.same(await rows(s.user.id), before, 'every row still there')
  await assertWorks(t, s.tokens, 'the session')
  t.equal((await login(app, s.email, s.password)).statusCode, 200, 'the account still logs in')
})

t.test('malformed or missing bodies: 400 validation_failed, nothing deleted', async (t) => {
  const s = await register(app)
  const before = await rows(s.user.id)
  const cases: Record<string, { payload: unknown, field: string }> = {
    'unknown field': { payload: { password: s.password, reason: 'bye' }, field: 'reason' },
    'currentPassword instead': { payload: { currentPassword: s.password }, field: 'currentPassword' },
    'missing password': { payload: {}, field: 'password' },
    'password number': { payload: { password: 12345678 }, field: 'password' },
    'password null': { payload: { password: null }, field: 'password' },
    'empty password': { payload: { password: '' }, field: 'password' },
    'array body': { payload: [{ password: s.password }], field: 'body' }
  }
  for (const [name, { payload, field }] of Object.entries(cases)) {
    const res = await deleteMe(s.tokens.access, payload)
    t.test(name, async (t) => {
      problem(t, res, 400, 'validation_failed')
      const errors = (res.json().errors ?? []) as Array<{ field: string }>
      t.ok(errors.some((e) => e.field === field), `names "${field}" (${JSON.stringify(errors)})`)
    })
  }
  // No body at all: the password is still required.
  const empty = await deleteMe(s.tokens.access)
  t.equal(empty.statusCode, 400, `no body: 400 (${empty.body.slice(0, 200)})`)
  t.same(await rows(s.user.id), before, 'every row still there')
})

t.test('without a live session: 401 first, nothing deleted', async (t) => {
  const s = await register(app)
  const anonymous = await app.inject({ method: 'DELETE', url: '/v1/users/me', payload: { password: s.password } })
  problem(t, anonymous, 401, 'authentication_required')
  t.equal(anonymous.headers['www-authenticate'], 'Bearer realm="authd"')
  problem(t, await deleteMe(s.tokens.refresh, { password: s.password }), 401, 'token_invalid')

  const other = await loginTokens(s)
  const otherSid = decodePayload<{ sid: string }>(other.access).sid
  const revoke = await app.inject({ method: 'DELETE', url: `/v1/sessions/${otherSid}`, headers: { authorization: `Bearer ${s.tokens.access}` } })
  t.equal(revoke.statusCode, 204)
  for (const payload of [{ password: s.password }, { junk: 1 }]) {
    const res = await deleteMe(other.access, payload)
    problem(t, res, 401, 'token_invalid')
  }
  t.equal((await rows(s.user.id)).users, 1, 'the account is still there')
})
