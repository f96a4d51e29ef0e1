// POST /v1/users/me/password: a signed-in user changes their password, proving the current
// one; every other session ends, this one goes on; failures change nothing.
import { randomBytes } from 'node:crypto'
import t, { type Test } from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { assertProblem, build, buildWithDatabase, login, me, newAccount, refresh, register, type AppTokens, type Session } from '../../helper.js'
import { decodePayload } from '../../jwt-helper.js'

const URL = '/v1/users/me/password'
const NEW_PASSWORD = 'a brand new passphrase 42'

const { app, database } = await buildWithDatabase(t)
const prisma = database.prisma

/**
 * helper.ts's assertProblem wants `m?: string` assertions, which tap's own (message-or-extra
 * rest parameter) does not type-check against; this adapter bridges the two without a cast.
 */
function problem (t: Test, res: LightMyRequestResponse, status: number, code: string): void {
  assertProblem({ equal: (a, b, m) => { t.equal(a, b, m ?? '') }, match: (a, b, m) => { t.match(a, b, m ?? '') } }, res, status, code)
}

const sid = (tokens: AppTokens): string => decodePayload<{ sid: string }>(tokens.access).sid

async function changePassword (app: FastifyInstance, access: string, payload: unknown, remoteAddress?: string): Promise<LightMyRequestResponse> {
  return await app.inject({
    method: 'POST',
    url: URL,
    headers: { authorization: `Bearer ${access}` },
    payload: payload as object,
    ...(remoteAddress === undefined ? {} : { remoteAddress })
  })
}

async function loginTokens (s: Session, password = s.password): Promise<AppTokens> {
  const res = await login(app, s.email, password)
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`)
  return res.json().tokens
}

/** Both tokens of a session work (returns the rotated pair) or both are refused. */
async function assertAlive (t: Test, tokens: AppTokens, alive: boolean, name: string): Promise<AppTokens> {
  const access = await me(app, tokens.access)
  const refreshed = await refresh(app, tokens.refresh)
  if (alive) {
    t.equal(access.statusCode, 200, `${name}: access token works`)
    t.equal(refreshed.statusCode, 200, `${name}: refresh token works`)
    return refreshed.json().tokens
  }
  problem(t, access, 401, 'token_invalid')
  t.equal(refreshed.statusCode, 401, `${name}: refresh token refused`)
  return tokens
}

const storedHash = async (userId: string) => (await prisma.user.findUniqueOrThrow({ where: { id: userId } })).passwordHash

/** Everything a refused change must leave as it was: the hash, and every session alive. */
async function assertNothingChanged (t: Test, s: Session, hash: string, others: AppTokens[]): Promise<void> {
  t.equal(await storedHash(s.user.id), hash, 'password hash unchanged')
  t.equal(await prisma.session.count({ where: { userId: s.user.id, revokedAt: { not: null } } }), 0, 'no session revoked')
  for (const [i, tokens] of others.entries()) await assertAlive(t, tokens, true, `session ${i}`)
  t.equal((await login(app, s.email, s.password)).statusCode, 200, 'the old password still logs in')
}

t.test('204: new password stored, other sessions revoked, this one kept', async (t) => {
  const s = await register(app)
  let current = s.tokens
  const laptop = await loginTokens(s)
  let phone = await loginTokens(s)
  phone = await assertAlive(t, phone, true, 'phone before') // a rotated family: every token must go
  const bystander = await register(app)
  const hashBefore = await storedHash(s.user.id)

  const res = await changePassword(app, current.access, { currentPassword: s.password, newPassword: NEW_PASSWORD })
  t.equal(res.statusCode, 204, res.body)
  t.equal(res.body, '', 'no body')

  const hash = await storedHash(s.user.id)
  t.not(hash, hashBefore, 'a new hash is stored')
  t.notMatch(hash, NEW_PASSWORD, 'not the password itself')
  t.match(hash, /^bcrypt_sha256\$/, 'hashed like every other password')

  current = await assertAlive(t, current, true, 'the session that changed it')
  await assertAlive(t, laptop, false, 'laptop')
  await assertAlive(t, phone, false, 'phone')
  await assertAlive(t, bystander.tokens, true, 'another user')

  for (const other of [laptop, phone]) {
    const row = await prisma.session.findUniqueOrThrow({ where: { id: sid(other) } })
    t.equal(row.revokeReason, 'password_changed')
    t.equal(await prisma.outstandingToken.count({ where: { sessionId: sid(other), blacklisted: null } }), 0, 'every token of the family blacklisted')
  }
  t.equal((await prisma.session.findUniqueOrThrow({ where: { id: sid(current) } })).revokedAt, null, 'current session not revoked')

  problem(t, await login(app, s.email, s.password), 401, 'invalid_credentials')
  const fresh = await loginTokens(s, NEW_PASSWORD)
  const sessions = await app.inject({ method: 'GET', url: '/v1/sessions', headers: { authorization: `Bearer ${fresh.access}` } })
  t.same(sessions.json().map((x: { id: string }) => x.id).sort(), [sid(current), sid(fresh)].sort(), 'only this session and the new login are live')

  // The new password can itself be changed, by the session that set it.
  const again = await changePassword(app, current.access, { currentPassword: NEW_PASSWORD, newPassword: s.password })
  t.equal(again.statusCode, 204)
  await assertAlive(t, fresh, false, 'the login made with the interim password')
})

t.test('wrong current password: 400 naming currentPassword, nothing changed', async (t) => {
  const s = await register(app)
  const other = await loginTokens(s)
  const hash = await storedHash(s.user.id)
  for (const currentPassword of ['wrong password', s.password.toUpperCase(), `${s.password} `, NEW_PASSWORD]) {
    const res = await changePassword(app, s.tokens.access, { currentPassword, newPassword: NEW_PASSWORD })
    problem(t, res, 400, 'validation_failed')
    t.same(res.json().errors, [{ field: 'currentPassword', code: 'invalid_password', message: 'is incorrect' }])
    t.equal(res.headers['www-authenticate'], undefined, 'not an authentication failure: the client keeps its tokens')
  }
  await assertNothingChanged(t, s, hash, [s.tokens, other])
  problem(t, await login(app, s.email, NEW_PASSWORD), 401, 'invalid_credentials')
})

t.test('a new password that breaks the policy: 400 naming newPassword, nothing changed', async (t) => {
  const s = await register(app)
  const hash = await storedHash(s.user.id)
  // Not 'short': that is also among the common passwords, a second error (every failure is listed).
  const short = await changePassword(app, s.tokens.access, { currentPassword: s.password, newPassword: 'tiny pw' })
  problem(t, short, 400, 'validation_failed')
  t.match(short.json().errors, [{ field: 'newPassword', code: 'password_too_short' }])
  t.equal(short.json().errors.length, 1)

  // Both wrong: both reported at once.
  const both = await changePassword(app, s.tokens.access, { currentPassword: 'wrong password', newPassword: 'x' })
  problem(t, both, 400, 'validation_failed')
  t.same(both.json().errors.map((e: { field: string }) => e.field).sort(), ['currentPassword', 'newPassword'])

  // The body's hard cap (4096) is checked before the policy's maximum (256 by default).
  const long = await changePassword(app, s.tokens.access, { currentPassword: s.password, newPassword: 'x'.repeat(257) })
  problem(t, long, 400, 'validation_failed')
  t.match(long.json().errors, [{ field: 'newPassword', code: 'password_too_long' }])
  await assertNothingChanged(t, s, hash, [s.tokens])
})

t.test('malformed bodies: 400 validation_failed naming the field, nothing changed', async (t) => {
  const s = await register(app)
  const hash = await storedHash(s.user.id)
  const ok = { currentPassword: s.password, newPassword: NEW_PASSWORD }
  const cases: Record<string, { payload: unknown, field: string }> = {
    'unknown field': { payload: { ...ok, revokeOtherSessions: false }, field: 'revokeOtherSessions' },
    'password smuggled': { payload: { ...ok, passwordHash: 'bcrypt_sha256$x' }, field: 'passwordHash' },
    'snake_case names': { payload: { old_password: s.password, new_password: NEW_PASSWORD }, field: 'old_password' },
    'missing currentPassword': { payload: { newPassword: NEW_PASSWORD }, field: 'currentPassword' },
    'missing newPassword': { payload: { currentPassword: s.password }, field: 'newPassword' },
    number: { payload: { currentPassword: s.password, newPassword: 12345678 }, field: 'newPassword' },
    'empty currentPassword': { payload: { currentPassword: '', newPassword: NEW_PASSWORD }, field: 'currentPassword' },
    'array body': { payload: [ok], field: 'body' }
  }
  for (const [name, { payload, field }] of Object.entries(cases)) {
    const res = await changePassword(app, s.tokens.access, payload)
    t.test(name, async (t) => {
      problem(t, res, 400, 'validation_failed')
      const errors = (res.json().errors ?? []) as Array<{ field: string }>
      t.ok(errors.some((e) => e.field === field), `names "${field}" (${JSON.stringify(errors)})`)
    })
  }
  await assertNothingChanged(t, s, hash, [s.tokens])
})

t.test('without a live session: 401 before the body is even looked at', async (t) => {
  const s = await register(app)
  const body = { currentPassword: s.password, newPassword: NEW_PASSWORD }
  const anonymous = await app.inject({ method: 'POST', url: URL, payload: body })
  problem(t, anonymous, 401, 'authentication_required')
  t.equal(anonymous.headers['www-authenticate'], 'Bearer realm="authd"')
  problem(t, await changePassword(app, s.tokens.refresh, body), 401, 'token_invalid')

  const other = await loginTokens(s)
  const out = await app.inject({ method: 'POST', url: '/v1/app/auth/logout', payload: { refresh: other.refresh } })
  t.equal(out.statusCode, 204)
  for (const payload of [body, { junk: true }]) {
    const res = await changePassword(app, other.access, payload)
    problem(t, res, 401, 'token_invalid')
    t.equal(res.headers['www-authenticate'], 'Bearer realm="authd", error="invalid_token"')
  }
  t.equal((await login(app, s.email, s.password)).statusCode, 200, 'the password did not change')
})

t.test('two concurrent changes from one session: exactly one wins, and its password is the one stored', async (t) => {
  const s = await register(app)
  const candidates = ['first new passphrase', 'second new passphrase']
  const results = await Promise.all(candidates.map(async (newPassword) =>
    await changePassword(app, s.tokens.access, { currentPassword: s.password, newPassword })))
  const statuses = results.map((r) => r.statusCode).sort()
  t.same(statuses, [204, 400], `one 204, one 400 (${results.map((r) => r.body).join(' | ')})`)
  const loser = results.find((r) => r.statusCode === 400)
  t.match(loser?.json().errors, [{ field: 'currentPassword', code: 'invalid_password' }])
  const winner = candidates[results.findIndex((r) => r.statusCode === 204)] as string
  const loserPassword = candidates.find((c) => c !== winner) as string
  t.equal((await login(app, s.email, winner)).statusCode, 200, 'the winner\'s password logs in')
  t.equal((await login(app, s.email, loserPassword)).statusCode, 401, 'the loser\'s does not')
  await assertAlive(t, s.tokens, true, 'the session that changed it')
})

t.test('wrong guesses draw on the login rate limit of the client\'s IP', async (t) => {
  const limited = await build(t, { RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_LOGIN: '3' })
  // A random documentation address: counters may live in a Redis shared with other test files.
  const randomIp = () => `2001:db8:${randomBytes(2).toString('hex')}::${randomBytes(2).toString('hex')}`
  const ip = randomIp()
  const account = newAccount()
  const registered = await limited.inject({ method: 'POST', url: '/v1/app/auth/register', payload: account, remoteAddress: randomIp() })
  t.equal(registered.statusCode, 201, registered.body)
  const s = { ...registered.json(), email: account.email, password: account.password } as Session
  const guess = async () => await changePassword(limited, s.tokens.access, { currentPassword: 'guess', newPassword: NEW_PASSWORD }, ip)
  for (let i = 0; i < 3; i++) t.equal((await guess()).statusCode, 400, `guess ${i + 1} is checked`)
  problem(t, await guess(), 429, 'rate_limited')
  // The same budget as logging in from that address.
  const res = await limited.inject({ method: 'POST', url: '/v1/app/auth/login', payload: { login: s.email, password: s.password }, remoteAddress: ip })
  problem(t, res, 429, 'rate_limited')
})
