// Password reset (API.md: POST /v1/auth/password/forgot → 202 whatever the address;
// POST /v1/auth/password/reset → 204, every session revoked). Mail goes through a real SMTP
// server started in this process (test/mail-helper.ts); links are read from the messages.
import t from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { assertProblem, buildWithDatabase, login, me, newAccount, refresh, register, type AppTokens, type Session } from '../../helper.js'
import { linkIn, startMailServer } from '../../mail-helper.js'
import { hashToken } from '../../../src/services/opaque-tokens.js'

const NEW_PASSWORD = 'a brand new passphrase 42'

// Several apps (one per mode) and a real SMTP round trip per mail: generous on a busy machine.
t.setTimeout(300_000)

const mail = await startMailServer(t)
const env = { SMTP_URL: mail.url, FRONTEND_URL: 'https://app.example.com', EMAIL_VERIFICATION: 'none' }
// No per-address throttle, so each test may ask as often as it likes…
const { app, database } = await buildWithDatabase(t, { ...env, MAIL_THROTTLE_SECONDS: '0' })
const prisma = database.prisma
// …and the default one (one mail per address per 60 s).
const throttled = await buildWithDatabase(t, env)

const post = async (target: FastifyInstance, url: string, payload: unknown): Promise<LightMyRequestResponse> =>
  await target.inject({ method: 'POST', url, payload: payload as Record<string, unknown> })
const forgot = async (email: string, target: FastifyInstance = app) => await post(target, '/v1/auth/password/forgot', { email })
const reset = async (token: string, newPassword: string, target: FastifyInstance = app) => await post(target, '/v1/auth/password/reset', { token, newPassword })

async function loginTokens (s: Session, password = s.password): Promise<AppTokens> {
  const res = await login(app, s.email, password)
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`)
  return res.json().tokens
}

/** Asks for a reset and returns the token of the `nth` reset mail to the address. */
async function requestToken (s: Session, nth = 1, target: FastifyInstance = app): Promise<string> {
  const res = await forgot(s.email, target)
  if (res.statusCode !== 202) throw new Error(`forgot failed: ${res.statusCode} ${res.body}`)
  return linkIn(await mail.waitFor(s.email, nth)).token
}

const events = async (userId: string, type: string) => await prisma.auditEvent.findMany({ where: { userId, type } })

t.test('forgot → mail with a link → reset: new password works, every session ends', async (t) => {
  const s = await register(app)
  const laptop = await loginTokens(s)
  const phone = await loginTokens(s)
  const rotated = await refresh(app, phone.refresh) // a rotated family: its newest token must go too
  t.equal(rotated.statusCode, 200)
  const phoneNow: AppTokens = rotated.json().tokens

  const res = await forgot(s.email)
  t.equal(res.statusCode, 202, res.body)
  t.equal(res.body, '', 'no body')
  const message = await mail.waitFor(s.email)
  t.equal(message.subject, 'Reset your password')
  const { link, url, token } = linkIn(message)
  t.equal(`${url.origin}${url.pathname}`, 'https://app.example.com/reset-password', 'FRONTEND_URL + PASSWORD_RESET_URL_PATH')
  t.equal(url.search, '', 'the token is only in the fragment')
  t.ok(message.html.includes(`href="${link}"`), 'the HTML part links to the same URL')
  t.match(message.text, /expires in 1 hour/)
  const row = await prisma.oneTimeToken.findFirstOrThrow({ where: { userId: s.user.id, purpose: 'password_reset' } })
  t.equal(row.tokenHash, hashToken(token), 'only the hash is stored')
  t.ok(Math.abs(row.expiresAt.getTime() - row.createdAt.getTime() - 3600_000) < 5000, 'expires after PASSWORD_RESET_TTL')
  await app.emailFlows.idle()
  t.equal((await events(s.user.id, 'password_reset_requested')).length, 1, 'password_reset_requested recorded')

  const done = await reset(token, NEW_PASSWORD)
  t.equal(done.statusCode, 204, done.body)
  t.equal(done.body, '')

  for (const [name, tokens] of [['register', s.tokens], ['laptop', laptop], ['phone', phoneNow]] as const) {
    t.equal((await refresh(app, tokens.refresh)).statusCode, 401, `${name}: refresh token refused`)
    t.equal((await me(app, tokens.access)).statusCode, 401, `${name}: access token refused`)
  }
  assertProblem(t, await login(app, s.email, s.password), 401, 'invalid_credentials')
  const fresh = await login(app, s.email, NEW_PASSWORD)
  t.equal(fresh.statusCode, 200, 'the new password logs in')
  t.equal(fresh.json().user.emailVerified, true, 'following the mailed link verified the address')

  const sessions = await prisma.session.findMany({ where: { userId: s.user.id, revokedAt: { not: null } } })
  t.equal(sessions.length, 3, 'the three earlier sessions are revoked')
  t.ok(sessions.every((x) => x.revokeReason === 'password_reset'), 'reason password_reset')
  const audit = await events(s.user.id, 'password_reset')
  t.equal(audit.length, 1, 'password_reset recorded')
  t.match(audit[0]?.detail, { sessionsRevoked: 3 })

  assertProblem(t, await reset(token, 'yet another passphrase 7'), 400, 'reset_token_invalid')
  t.equal((await login(app, s.email, NEW_PASSWORD)).statusCode, 200, 'the reused token changed nothing')
})

t.test('forgot for an unknown address: the same 202, no mail, no event', async (t) => {
  const known = await register(app)
  const nobody = newAccount().email
  const a = await forgot(known.email)
  const b = await forgot(nobody)
  t.equal(b.statusCode, 202)
  t.equal(b.body, a.body, 'same body')
  t.same(Object.keys(b.headers).sort(), Object.keys(a.headers).sort(), 'same headers')
  await mail.waitFor(known.email)
  await app.emailFlows.idle()
  t.equal(mail.to(nobody).length, 0, 'no mail to the unknown address')
  t.equal(await prisma.auditEvent.count({ where: { type: 'password_reset_requested', userId: null } }), 0, 'no event without an account')
})

t.test('forgot for a deactivated account sends nothing', async (t) => {
  const s = await register(app)
  await prisma.user.update({ where: { id: s.user.id }, data: { isActive: false } })
  t.equal((await forgot(s.email)).statusCode, 202)
  await app.emailFlows.idle()
  t.equal(mail.to(s.email).length, 0)
})

t.test('the address is matched case-insensitively; the mail goes to the stored address', async (t) => {
  const s = await register(app)
  t.equal((await forgot(s.email.toUpperCase())).statusCode, 202)
  const message = await mail.waitFor(s.email)
  t.same(message.to, [s.email])
})

t.test('policy violations: field errors, and the token stays usable', async (t) => {
  const s = await register(app)
  const token = await requestToken(s)
  const short = await reset(token, 'short')
  assertProblem(t, short, 400, 'validation_failed')
  t.match(short.json().errors, [{ field: 'newPassword', code: 'password_too_short' }])
  const tooLong = await reset(token, 'x'.repeat(300))
  assertProblem(t, tooLong, 400, 'validation_failed')
  t.match(tooLong.json().errors, [{ field: 'newPassword', code: 'password_too_long' }])
  t.equal((await login(app, s.email, s.password)).statusCode, 200, 'the old password still works')
  t.equal((await reset(token, NEW_PASSWORD)).statusCode, 204, 'the same token then works')
})

t.test('bad bodies: 400 validation_failed; bad tokens: 400 reset_token_invalid', async (t) => {
  const s = await register(app)
  const token = await requestToken(s)
  const extra = await post(app, '/v1/auth/password/reset', { token, newPassword: NEW_PASSWORD, email: s.email })
  assertProblem(t, extra, 400, 'validation_failed')
  t.match(extra.json().errors, [{ field: 'email', code: 'unknown_field' }])
  const forgotExtra = await post(app, '/v1/auth/password/forgot', { email: s.email, resetUrl: 'https://evil.example/steal' })
  assertProblem(t, forgotExtra, 400, 'validation_failed')
  t.match(forgotExtra.json().errors, [{ field: 'resetUrl', code: 'unknown_field' }])
  assertProblem(t, await post(app, '/v1/auth/password/reset', { token }), 400, 'validation_failed')
  assertProblem(t, await post(app, '/v1/auth/password/forgot', { email: 'nope' }), 400, 'validation_failed')
  assertProblem(t, await post(app, '/v1/auth/password/forgot', {}), 400, 'validation_failed')

  const altered = token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A')
  for (const bad of [altered, 'x', hashToken(token)]) assertProblem(t, await reset(bad, NEW_PASSWORD), 400, 'reset_token_invalid')
  t.equal((await login(app, s.email, s.password)).statusCode, 200, 'nothing changed')
  t.equal(mail.to(s.email).length, 1, 'the forgot request with an unknown field sent nothing')
})

t.test('an expired reset token is 400 and changes nothing', async (t) => {
  const s = await register(app)
  const token = await requestToken(s)
  await prisma.oneTimeToken.updateMany({ where: { userId: s.user.id }, data: { expiresAt: new Date(Date.now() - 1000) } })
  assertProblem(t, await reset(token, NEW_PASSWORD), 400, 'reset_token_invalid')
  t.equal((await login(app, s.email, s.password)).statusCode, 200)
})

t.test('a reset ends the user\'s other reset links', async (t) => {
  const s = await register(app)
  const first = await requestToken(s, 1)
  const second = await requestToken(s, 2)
  t.not(first, second)
  t.equal((await reset(second, NEW_PASSWORD)).statusCode, 204)
  assertProblem(t, await reset(first, 'an attacker passphrase 9'), 400, 'reset_token_invalid')
  t.equal((await login(app, s.email, NEW_PASSWORD)).statusCode, 200)
})

t.test('tokens are bound to their purpose', async (t) => {
  const verifying = await buildWithDatabase(t, { ...env, EMAIL_VERIFICATION: 'optional', MAIL_THROTTLE_SECONDS: '0' })
  const s = await register(verifying.app)
  const verificationToken = linkIn(await mail.waitFor(s.email)).token
  assertProblem(t, await reset(verificationToken, NEW_PASSWORD, verifying.app), 400, 'reset_token_invalid')
  const resetToken = await requestToken(s, 2, verifying.app)
  assertProblem(t, await post(verifying.app, '/v1/auth/email/verify', { token: resetToken }), 400, 'verification_token_invalid')
  t.equal((await reset(resetToken, NEW_PASSWORD, verifying.app)).statusCode, 204, 'each works for its own purpose')
})

t.test('concurrent resets with one token: exactly one succeeds', async (t) => {
  const s = await register(app)
  const token = await requestToken(s)
  const passwords = ['concurrent passphrase one', 'concurrent passphrase two', 'concurrent passphrase three']
  const replies = await Promise.all(passwords.map(async (p) => await reset(token, p)))
  const codes = replies.map((r) => r.statusCode).sort()
  t.same(codes, [204, 400, 400], 'one 204, the others 400')
  for (const r of replies.filter((r) => r.statusCode === 400)) assertProblem(t, r, 400, 'reset_token_invalid')
  const winner = passwords[replies.findIndex((r) => r.statusCode === 204)] ?? ''
  t.equal((await login(app, s.email, winner)).statusCode, 200, 'the winner\'s password is the one stored')
  t.equal(await prisma.auditEvent.count({ where: { userId: s.user.id, type: 'password_reset' } }), 1, 'one password_reset event')
})

t.test('forgot is throttled per address: one mail per MAIL_THROTTLE_SECONDS, silently', async (t) => {
  const s = await register(throttled.app)
  const replies = await Promise.all(Array.from({ length: 4 }, async () => await forgot(s.email, throttled.app)))
  t.same(replies.map((r) => r.statusCode), [202, 202, 202, 202], 'always 202')
  await mail.waitFor(s.email)
  await throttled.app.emailFlows.idle()
  t.equal(mail.to(s.email).length, 1, 'one mail')
  const requested = await throttled.database.prisma.auditEvent.findMany({ where: { userId: s.user.id, type: 'password_reset_requested' } })
  t.equal(requested.length, 4, 'every request is recorded')
  t.equal(requested.filter((e) => (e.detail as { throttled?: boolean }).throttled === true).length, 3, 'three of them throttled')
})

t.test('spent tokens are deleted when the next one is issued (the table keeps only recent ones)', async (t) => {
  const s = await register(app)
  const first = await requestToken(s, 1)
  t.equal((await reset(first, NEW_PASSWORD)).statusCode, 204)
  const second = await requestToken(s, 2)
  const rows = await prisma.oneTimeToken.findMany({ where: { userId: s.user.id } })
  t.same(rows.map((r) => r.tokenHash), [hashToken(second)], 'only the new token is left')
})
