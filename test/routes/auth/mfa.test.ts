// A second factor (TOTP, RFC 6238, with recovery codes): enrolment, login in two steps, and
// the attacks each rule is there to stop — a replayed code, a code of an earlier step, a reused
// recovery code, a reused or expired mfaToken, guessing past the attempts and the lockout.
import { randomUUID } from 'node:crypto'
import { decodeJwt } from 'jose'
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { totpCodeAt } from '../../../src/services/totp.js'
import { assertProblem, buildWithDatabase, login, me, refresh, register, type Session } from '../../helper.js'

const bearer = (access: string) => ({ authorization: `Bearer ${access}` })

/** Registers a user and turns TOTP on; the secret and the recovery codes come back. */
async function enrolled (app: FastifyInstance): Promise<Session & { secret: string, recoveryCodes: string[] }> {
  const s = await register(app)
  const start = await app.inject({ method: 'POST', url: '/v1/users/me/mfa/totp', headers: bearer(s.tokens.access) })
  if (start.statusCode !== 200) throw new Error(`enrol: ${start.body}`)
  const { secret } = start.json()
  const confirm = await app.inject({ method: 'POST', url: '/v1/users/me/mfa/totp/confirm', headers: bearer(s.tokens.access), payload: { code: totpCodeAt(secret, Date.now()) } })
  if (confirm.statusCode !== 200) throw new Error(`confirm: ${confirm.body}`)
  return { ...s, secret, recoveryCodes: confirm.json().recoveryCodes }
}

async function mfaToken (app: FastifyInstance, s: Session): Promise<string> {
  const res = await login(app, s.email, s.password)
  if (res.statusCode !== 200 || res.json().mfaRequired !== true) throw new Error(`login: ${res.body}`)
  return res.json().mfaToken
}

const complete = async (app: FastifyInstance, payload: Record<string, unknown>) =>
  await app.inject({ method: 'POST', url: '/v1/app/auth/mfa', payload })

t.test('enrolment: a secret and otpauth URI, nothing active until a first code confirms it; then ten recovery codes', async (t) => {
  const { app, database } = await buildWithDatabase(t)
  const s = await register(app)
  const start = await app.inject({ method: 'POST', url: '/v1/users/me/mfa/totp', headers: bearer(s.tokens.access) })
  t.equal(start.statusCode, 200)
  const { secret, otpauthUri } = start.json()
  const uri = new URL(otpauthUri)
  t.equal(uri.protocol, 'otpauth:')
  t.equal(uri.searchParams.get('secret'), secret, 'the URI carries the secret')
  t.match(decodeURIComponent(uri.pathname), s.email, 'and names the account')

  // Not active yet: a login still answers tokens.
  t.ok((await login(app, s.email, s.password)).json().tokens, 'pending enrolment: login unchanged')
  const stored = await database.prisma.mfaTotp.findUniqueOrThrow({ where: { userId: s.user.id } })
  t.notMatch(stored.secretEncrypted, secret, 'the secret is not stored in clear')

  assertProblem(t, await app.inject({ method: 'POST', url: '/v1/users/me/mfa/totp/confirm', headers: bearer(s.tokens.access), payload: { code: totpCodeAt(secret, Date.now() - 120_000) } }), 400, 'mfa_invalid')
  const confirm = await app.inject({ method: 'POST', url: '/v1/users/me/mfa/totp/confirm', headers: bearer(s.tokens.access), payload: { code: totpCodeAt(secret, Date.now()) } })
  t.equal(confirm.statusCode, 200)
  const codes: string[] = confirm.json().recoveryCodes
  t.equal(codes.length, 10)
  t.equal(new Set(codes).size, 10, 'all different')
  const rows = await database.prisma.mfaRecoveryCode.findMany({ where: { userId: s.user.id } })
  t.equal(rows.length, 10)
  t.notOk(rows.some((row) => codes.some((code) => row.codeHash.includes(code.replace('-', '')))), 'only hashes are stored')

  const status = await app.inject({ method: 'GET', url: '/v1/users/me/mfa', headers: bearer(s.tokens.access) })
  t.same(status.json(), { totp: true, recoveryCodesLeft: 10, passkeys: [] })
  assertProblem(t, await app.inject({ method: 'POST', url: '/v1/users/me/mfa/totp', headers: bearer(s.tokens.access) }), 409, 'mfa_already_enabled')
  assertProblem(t, await app.inject({ method: 'POST', url: '/v1/users/me/mfa/totp/confirm', headers: bearer(s.tokens.access), payload: { code: totpCodeAt(secret, Date.now()) } }), 409, 'mfa_not_pending')
})

t.test('login with TOTP on: the right password opens nothing; the code completes it with amr pwd+otp+mfa', async (t) => {
  const { app, database } = await buildWithDatabase(t)
  const s = await enrolled(app)
  const sessionsBefore = await database.prisma.session.count({ where: { userId: s.user.id } })
  const first = await login(app, s.email, s.password)
  t.equal(first.statusCode, 200)
  t.same(Object.keys(first.json()).sort(), ['methods', 'mfaRequired', 'mfaToken'], 'no user, no tokens')
  t.same(first.json().methods, ['totp', 'recovery_code'])
  t.equal(await database.prisma.session.count({ where: { userId: s.user.id } }), sessionsBefore, 'no session yet')

  // A wrong password still looks like any wrong password: nothing says the account has MFA.
  const wrong = await login(app, s.email, 'not the password at all')
  assertProblem(t, wrong, 401, 'invalid_credentials')

  const done = await complete(app, { mfaToken: first.json().mfaToken, code: totpCodeAt(s.secret, Date.now() + 30_000) })
  t.equal(done.statusCode, 200, done.body)
  const claims = decodeJwt(done.json().tokens.access)
  t.same(claims.amr, ['pwd', 'otp', 'mfa'])
  t.type(claims.auth_time, 'number')
  t.equal((await me(app, done.json().tokens.access)).statusCode, 200)
  const refreshed = await refresh(app, done.json().tokens.refresh)
  t.same(decodeJwt(refreshed.json().tokens.access).amr, ['pwd', 'otp', 'mfa'], 'a refreshed token keeps the session\'s amr')
  t.equal(decodeJwt(refreshed.json().tokens.access).auth_time, claims.auth_time, 'and its auth_time')
  t.same(decodeJwt(s.tokens.access).amr, ['pwd'], 'a password-only session says pwd')
})

t.test('attacks on the code: the same code again, a code of an earlier step, a reused mfaToken', async (t) => {
  const { app } = await buildWithDatabase(t)
  const s = await enrolled(app)
  const code = totpCodeAt(s.secret, Date.now() + 30_000)
  const token = await mfaToken(app, s)
  t.equal((await complete(app, { mfaToken: token, code })).statusCode, 200)
  assertProblem(t, await complete(app, { mfaToken: token, code }), 401, 'mfa_token_invalid')

  const again = await mfaToken(app, s)
  assertProblem(t, await complete(app, { mfaToken: again, code }), 400, 'mfa_invalid')
  assertProblem(t, await complete(app, { mfaToken: again, code: totpCodeAt(s.secret, Date.now()) }), 400, 'mfa_invalid')
  assertProblem(t, await complete(app, { mfaToken: again, code: '000000' }), 400, 'mfa_invalid')
  assertProblem(t, await complete(app, { mfaToken: 'x'.repeat(43), code }), 401, 'mfa_token_invalid')
  assertProblem(t, await complete(app, { mfaToken: again }), 400, 'validation_failed')
  assertProblem(t, await complete(app, { mfaToken: again, code, recoveryCode: s.recoveryCodes[0] }), 400, 'validation_failed')
})

t.test('two completions at once with one mfaToken and one code: exactly one session', async (t) => {
  const { app, database } = await buildWithDatabase(t)
  const s = await enrolled(app)
  const token = await mfaToken(app, s)
  const code = totpCodeAt(s.secret, Date.now() + 30_000)
  const before = await database.prisma.session.count({ where: { userId: s.user.id } })
  const answers = await Promise.all(Array.from({ length: 6 }, async () => await complete(app, { mfaToken: token, code })))
  t.equal(answers.filter((a) => a.statusCode === 200).length, 1, answers.map((a) => a.statusCode).join(','))
  t.equal(await database.prisma.session.count({ where: { userId: s.user.id } }), before + 1)
})

t.test('recovery codes: each works once, the count goes down, a used one is refused', async (t) => {
  const { app, database } = await buildWithDatabase(t)
  const s = await enrolled(app)
  const [first] = s.recoveryCodes
  const ok = await complete(app, { mfaToken: await mfaToken(app, s), recoveryCode: first?.toUpperCase() })
  t.equal(ok.statusCode, 200, 'case does not matter')
  t.equal((await app.inject({ method: 'GET', url: '/v1/users/me/mfa', headers: bearer(ok.json().tokens.access) })).json().recoveryCodesLeft, 9)
  assertProblem(t, await complete(app, { mfaToken: await mfaToken(app, s), recoveryCode: first }), 400, 'mfa_invalid')
  const events = await database.prisma.auditEvent.findMany({ where: { userId: s.user.id, type: 'recovery_code_used' } })
  t.match(events, [{ detail: { left: 9 } }], 'audited with how many remain')
})

t.test('guessing: an mfaToken dies after MFA_MAX_ATTEMPTS wrong codes; failures lock the account', async (t) => {
  const { app, database } = await buildWithDatabase(t, { MFA_MAX_ATTEMPTS: '3', LOCKOUT_THRESHOLD: '5' })
  const s = await enrolled(app)
  const token = await mfaToken(app, s)
  for (let i = 0; i < 3; i++) assertProblem(t, await complete(app, { mfaToken: token, code: '000000' }), 400, 'mfa_invalid')
  assertProblem(t, await complete(app, { mfaToken: token, code: totpCodeAt(s.secret, Date.now() + 30_000) }), 401, 'mfa_token_invalid')
  // A right password does not forgive the failures while the second factor is missing.
  const next = await mfaToken(app, s)
  t.equal((await complete(app, { mfaToken: next, code: '000000' })).statusCode, 400)
  assertProblem(t, await complete(app, { mfaToken: next, code: '000000' }), 429, 'account_locked')
  assertProblem(t, await login(app, s.email, s.password), 429, 'account_locked')
  t.ok(await database.prisma.auditEvent.count({ where: { userId: s.user.id, type: 'mfa_failed' } }) >= 5, 'every failure audited')
})

t.test('an mfaToken dies with a password change and after MFA_TOKEN_TTL', async (t) => {
  const { app, database } = await buildWithDatabase(t)
  const s = await enrolled(app)
  const token = await mfaToken(app, s)
  await database.prisma.user.update({ where: { id: s.user.id }, data: { passwordHash: 'bcrypt_sha256$changed' } })
  assertProblem(t, await complete(app, { mfaToken: token, code: totpCodeAt(s.secret, Date.now() + 30_000) }), 401, 'mfa_token_invalid')
  await database.prisma.user.update({ where: { id: s.user.id }, data: { passwordHash: (await database.prisma.user.findUniqueOrThrow({ where: { id: s.user.id } })).passwordHash } })

  const { app: app2 } = await buildWithDatabase(t)
  const s2 = await enrolled(app2)
  const late = await mfaToken(app2, s2)
  const { prisma } = (app2 as unknown as { db: { prisma: typeof database.prisma } }).db
  await prisma.mfaChallenge.updateMany({ where: { userId: s2.user.id }, data: { expiresAt: new Date(Date.now() - 1000) } })
  assertProblem(t, await complete(app2, { mfaToken: late, code: totpCodeAt(s2.secret, Date.now() + 30_000) }), 401, 'mfa_token_invalid')
})

t.test('step-up: sensitive actions need a recent authentication; reauthenticate refreshes it', async (t) => {
  const { app, database } = await buildWithDatabase(t)
  const s = await enrolled(app)
  const done = await complete(app, { mfaToken: await mfaToken(app, s), code: totpCodeAt(s.secret, Date.now() + 30_000) })
  const access = done.json().tokens.access
  const sid = decodeJwt(access).sid as string
  await database.prisma.session.update({ where: { id: sid }, data: { authTime: new Date(Date.now() - 3600_000) } })

  assertProblem(t, await app.inject({ method: 'DELETE', url: '/v1/users/me/mfa/totp', headers: bearer(access) }), 403, 'reauthentication_required')
  assertProblem(t, await app.inject({ method: 'POST', url: '/v1/users/me/mfa/recovery-codes', headers: bearer(access) }), 403, 'reauthentication_required')
  assertProblem(t, await app.inject({ method: 'POST', url: '/v1/users/me/password', headers: bearer(access), payload: { currentPassword: s.password, newPassword: 'a brand new password 7' } }), 403, 'reauthentication_required')
  assertProblem(t, await app.inject({ method: 'DELETE', url: '/v1/users/me', headers: bearer(access), payload: { password: s.password } }), 403, 'reauthentication_required')
  // With a second factor on, the password alone does not step up.
  assertProblem(t, await app.inject({ method: 'POST', url: '/v1/users/me/reauthenticate', headers: bearer(access), payload: { password: s.password } }), 403, 'reauthentication_required')
  assertProblem(t, await app.inject({ method: 'POST', url: '/v1/users/me/reauthenticate', headers: bearer(access), payload: { code: '000000' } }), 400, 'mfa_invalid')

  // The login used the code of the next time step; no later one is valid yet: a recovery code.
  assertProblem(t, await app.inject({ method: 'POST', url: '/v1/users/me/reauthenticate', headers: bearer(access), payload: { code: totpCodeAt(s.secret, Date.now() + 30_000) } }), 400, 'mfa_invalid')
  const step = await app.inject({ method: 'POST', url: '/v1/users/me/reauthenticate', headers: bearer(access), payload: { recoveryCode: s.recoveryCodes[2] } })
  t.equal(step.statusCode, 204, step.body)
  const codes = await app.inject({ method: 'POST', url: '/v1/users/me/mfa/recovery-codes', headers: bearer(access) })
  t.equal(codes.statusCode, 200)
  t.equal(codes.json().recoveryCodes.length, 10)
  assertProblem(t, await complete(app, { mfaToken: await mfaToken(app, s), recoveryCode: s.recoveryCodes[1] }), 400, 'mfa_invalid')
  t.equal((await app.inject({ method: 'DELETE', url: '/v1/users/me/mfa/totp', headers: bearer(access) })).statusCode, 204)
  t.ok((await login(app, s.email, s.password)).json().tokens, 'TOTP off: the password alone logs in again')
  t.match(await database.prisma.auditEvent.findMany({ where: { userId: s.user.id, type: { in: ['mfa_enabled', 'reauthenticated', 'recovery_codes_regenerated', 'mfa_disabled'] } }, orderBy: { id: 'asc' } }),
    [{ type: 'mfa_enabled' }, { type: 'reauthenticated', detail: { method: 'recovery_code' } }, { type: 'recovery_codes_regenerated' }, { type: 'mfa_disabled' }])
})

t.test('reauthenticate with a password (no second factor) and its refusals', async (t) => {
  const { app, database } = await buildWithDatabase(t)
  const s = await register(app)
  await database.prisma.session.updateMany({ where: { userId: s.user.id }, data: { authTime: new Date(Date.now() - 3600_000) } })
  assertProblem(t, await app.inject({ method: 'POST', url: '/v1/users/me/password', headers: bearer(s.tokens.access), payload: { currentPassword: s.password, newPassword: 'a brand new password 7' } }), 403, 'reauthentication_required')
  assertProblem(t, await app.inject({ method: 'POST', url: '/v1/users/me/reauthenticate', headers: bearer(s.tokens.access), payload: { password: 'wrong password here' } }), 400, 'validation_failed')
  assertProblem(t, await app.inject({ method: 'POST', url: '/v1/users/me/reauthenticate', headers: bearer(s.tokens.access), payload: {} }), 400, 'validation_failed')
  t.equal((await app.inject({ method: 'POST', url: '/v1/users/me/reauthenticate', headers: bearer(s.tokens.access), payload: { password: s.password } })).statusCode, 204)
  t.equal((await app.inject({ method: 'POST', url: '/v1/users/me/password', headers: bearer(s.tokens.access), payload: { currentPassword: s.password, newPassword: 'a brand new password 7' } })).statusCode, 204)
})

t.test('the browser client: mfaRequired without cookies, then cookies on completion', async (t) => {
  const { app, config } = await buildWithDatabase(t, { CORS_ORIGINS: 'http://localhost:5173', COOKIE_SECURE: 'false' })
  const s = await enrolled(app)
  const origin = { origin: 'http://localhost:5173' }
  const first = await app.inject({ method: 'POST', url: '/v1/browser/auth/login', headers: origin, payload: { login: s.email, password: s.password } })
  t.equal(first.statusCode, 200)
  t.equal(first.json().mfaRequired, true)
  t.notOk(first.headers['set-cookie'], 'no cookie before the second factor')
  const done = await app.inject({ method: 'POST', url: '/v1/browser/auth/mfa', headers: origin, payload: { mfaToken: first.json().mfaToken, code: totpCodeAt(s.secret, Date.now() + 30_000) } })
  t.equal(done.statusCode, 200, done.body)
  t.match(String(done.headers['set-cookie']), config.COOKIE_REFRESH_NAME, 'the refresh cookie is set')
  assertProblem(t, await app.inject({ method: 'POST', url: '/v1/browser/auth/mfa', headers: { origin: 'https://evil.example' }, payload: { mfaToken: first.json().mfaToken, code: '123456' } }), 403, 'csrf_failed')
})

t.test('an admin resets a user\'s factor; role changes need the admin\'s recent authentication', async (t) => {
  const { app, database } = await buildWithDatabase(t)
  const admin = await register(app)
  await database.prisma.user.update({ where: { id: admin.user.id }, data: { roles: ['admin'] } })
  const user = await enrolled(app)
  // Raw SQL: pglite-prisma-adapter refuses Prisma's bytea values (the repository writes base64 too).
  await database.prisma.$executeRawUnsafe(`INSERT INTO passkeys (id, user_id, credential_id, public_key, device_type, backed_up, name)
    VALUES ($1::uuid, $2::uuid, 'lost-credential', decode('6b6579', 'hex'), 'singleDevice', false, 'Lost phone')`, randomUUID(), user.user.id)
  const reset = await app.inject({ method: 'DELETE', url: `/v1/admin/users/${user.user.id}/mfa`, headers: bearer(admin.tokens.access) })
  t.equal(reset.statusCode, 204, reset.body)
  t.ok((await login(app, user.email, user.password)).json().tokens, 'the user logs in with the password alone')
  t.match(await database.prisma.auditEvent.findMany({ where: { userId: user.user.id, type: 'admin_mfa_reset' } }), [{ actorId: admin.user.id, detail: { removed: true, passkeysRemoved: 1 } }])
  t.equal(await database.prisma.passkey.count({ where: { userId: user.user.id } }), 0, 'the lost passkey is gone too')

  await database.prisma.session.updateMany({ where: { userId: admin.user.id }, data: { authTime: new Date(Date.now() - 3600_000) } })
  assertProblem(t, await app.inject({ method: 'PATCH', url: `/v1/admin/users/${user.user.id}`, headers: bearer(admin.tokens.access), payload: { roles: ['admin'] } }), 403, 'reauthentication_required')
  t.equal((await app.inject({ method: 'PATCH', url: `/v1/admin/users/${user.user.id}`, headers: bearer(admin.tokens.access), payload: { isActive: true } })).statusCode, 200, 'other changes need no step-up')
})

t.test('MFA_REQUIRED_ROLES: an admin without a factor enrols one inside the login before any token', async (t) => {
  const { app, database } = await buildWithDatabase(t, { MFA_REQUIRED_ROLES: 'admin, staff' })
  const plain = await register(app)
  t.ok((await login(app, plain.email, plain.password)).json().tokens, 'a user without the role logs in as before')

  const s = await register(app)
  await database.prisma.user.update({ where: { id: s.user.id }, data: { roles: ['staff'] } })
  const first = await login(app, s.email, s.password)
  t.equal(first.statusCode, 200)
  t.same(Object.keys(first.json()).sort(), ['methods', 'mfaEnrollmentRequired', 'mfaToken'], 'no tokens until enrolled')
  const { mfaToken } = first.json()
  // Completing without enrolling first, or with a wrong code, does not let them in.
  assertProblem(t, await complete(app, { mfaToken, code: '123456' }), 409, 'mfa_not_pending')
  const enrol = await app.inject({ method: 'POST', url: '/v1/app/auth/mfa/totp', payload: { mfaToken } })
  t.equal(enrol.statusCode, 200, enrol.body)
  const { secret } = enrol.json()
  assertProblem(t, await complete(app, { mfaToken, code: '000000' }), 400, 'mfa_invalid')
  const done = await complete(app, { mfaToken, code: totpCodeAt(secret, Date.now()) })
  t.equal(done.statusCode, 200, done.body)
  t.equal(done.json().recoveryCodes.length, 10, 'the recovery codes, once')
  t.same(decodeJwt(done.json().tokens.access).amr, ['pwd', 'otp', 'mfa'])
  assertProblem(t, await complete(app, { mfaToken, code: totpCodeAt(secret, Date.now() + 30_000) }), 401, 'mfa_token_invalid')

  // From now on the usual second step, and the enrolment route refuses.
  const next = await login(app, s.email, s.password)
  t.equal(next.json().mfaRequired, true)
  assertProblem(t, await app.inject({ method: 'POST', url: '/v1/app/auth/mfa/totp', payload: { mfaToken: next.json().mfaToken } }), 409, 'mfa_already_enabled')
  assertProblem(t, await app.inject({ method: 'POST', url: '/v1/app/auth/mfa/totp', payload: { mfaToken: 'y'.repeat(43) } }), 401, 'mfa_token_invalid')
})
