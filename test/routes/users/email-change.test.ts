// Email change (API.md v1 additions: POST /v1/users/me/email { newEmail } → 202, needs a recent
// authentication; POST /v1/auth/email/change/confirm { token } → 204). Mail goes through a real
// SMTP server (test/mail-helper.ts); the link is read out of the message to the new address.
// Attacks: no step-up, a taken address, a replayed or superseded token, a registration racing
// the confirmation, the old address's tokens after the change.
import t from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { decodeJwt } from 'jose'
import { assertProblem, buildWithDatabase, login, me, newAccount, refresh, register, type AppTokens, type Session } from '../../helper.js'
import { linkIn, pageLinkIn, startMailServer } from '../../mail-helper.js'
import { hashToken } from '../../../src/services/opaque-tokens.js'

t.setTimeout(300_000)

const mail = await startMailServer(t)
const env = { SMTP_URL: mail.url, FRONTEND_URL: 'https://app.example.com', EMAIL_VERIFICATION: 'optional' }
const { app, database } = await buildWithDatabase(t, { ...env, MAIL_THROTTLE_SECONDS: '0' })
const prisma = database.prisma

const bearer = (access: string) => ({ authorization: `Bearer ${access}` })
const ask = async (access: string, newEmail: string, target: FastifyInstance = app): Promise<LightMyRequestResponse> =>
  await target.inject({ method: 'POST', url: '/v1/users/me/email', headers: bearer(access), payload: { newEmail } })
const confirm = async (token: string, target: FastifyInstance = app): Promise<LightMyRequestResponse> =>
  await target.inject({ method: 'POST', url: '/v1/auth/email/change/confirm', payload: { token } })

async function loginTokens (email: string, password: string, target: FastifyInstance = app): Promise<AppTokens> {
  const res = await login(target, email, password)
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`)
  return res.json().tokens
}

/** Asks for `newEmail` and returns the token of the `nth` mail to it. */
async function requestToken (s: Session, newEmail: string, nth = 1, target: FastifyInstance = app): Promise<string> {
  const res = await ask(s.tokens.access, newEmail, target)
  if (res.statusCode !== 202) throw new Error(`request failed: ${res.statusCode} ${res.body}`)
  return linkIn(await mail.waitFor(newEmail, nth)).token
}

const events = async (userId: string, type: string) => await prisma.auditEvent.findMany({ where: { userId, type }, orderBy: { id: 'asc' } })

t.test('request → link to the new address, notice to the old → confirm swaps it; other sessions end, the asking one goes on', async (t) => {
  const s = await register(app)
  await app.emailFlows.idle()
  const oldMails = mail.to(s.email).length
  const laptop = await loginTokens(s.email, s.password)
  const phone = await loginTokens(s.email, s.password)
  const newEmail = newAccount().email

  const res = await ask(s.tokens.access, newEmail.toUpperCase())
  t.equal(res.statusCode, 202, res.body)
  t.equal(res.body, '', 'no body')
  const message = await mail.waitFor(newEmail)
  t.equal(message.subject, 'Confirm your new email address')
  const { token } = pageLinkIn(t, message, 'https://app.example.com/confirm-email-change')
  t.match(message.text, /expires in 1 hour/, 'EMAIL_CHANGE_TTL')
  const notice = await mail.waitFor(s.email, oldMails + 1)
  t.equal(notice.subject, 'Your email address is being changed')
  t.ok(notice.text.includes(newEmail), 'the notice names the new address')
  t.notMatch(notice.text, /#token=|https?:\/\//, 'and carries no link, no token')
  t.notOk(notice.html.includes(token), 'nor in its HTML')
  const row = await prisma.oneTimeToken.findFirstOrThrow({ where: { userId: s.user.id, purpose: 'email_change' } })
  t.equal(row.tokenHash, hashToken(token), 'only the hash is stored')
  t.equal(row.email, newEmail, 'with the new address, lower-cased')
  t.equal(row.sessionId, decodeJwt(s.tokens.access).sid, 'and the session that asked')
  t.match(await events(s.user.id, 'email_change_requested'), [{ detail: { newEmail, sessionId: row.sessionId } }])

  // Until confirmed, nothing changes.
  t.equal((await login(app, s.email, s.password)).statusCode, 200, 'the old address still logs in')
  assertProblem(t, await login(app, newEmail, s.password), 401, 'invalid_credentials')

  const done = await confirm(token)
  t.equal(done.statusCode, 204, done.body)
  t.equal(done.body, '')
  const current = await me(app, s.tokens.access)
  t.equal(current.statusCode, 200, 'the session that asked goes on')
  t.equal(current.json().email, newEmail, 'with the new address')
  t.equal(current.json().emailVerified, true, 'verified: the link proved it')
  for (const [name, tokens] of [['laptop', laptop], ['phone', phone]] as const) {
    t.equal((await refresh(app, tokens.refresh)).statusCode, 401, `${name}: refresh refused`)
    t.equal((await me(app, tokens.access)).statusCode, 401, `${name}: access refused`)
  }
  const ended = await prisma.session.findMany({ where: { userId: s.user.id, revokedAt: { not: null } } })
  t.ok(ended.length >= 2 && ended.every((x) => x.revokeReason === 'email_changed'), 'the other sessions ended, reason email_changed')
  t.match(await events(s.user.id, 'email_changed'), [{ detail: { oldEmail: s.email, newEmail, sessionId: row.sessionId } }])

  assertProblem(t, await login(app, s.email, s.password), 401, 'invalid_credentials')
  t.equal((await login(app, newEmail, s.password)).statusCode, 200, 'the new address logs in')
  assertProblem(t, await confirm(token), 400, 'email_change_token_invalid')
})

t.test('without a recent authentication: 403 reauthentication_required, nothing sent', async (t) => {
  const s = await register(app)
  await prisma.session.update({ where: { id: String(decodeJwt(s.tokens.access).sid) }, data: { authTime: new Date(Date.now() - 3600_000) } })
  const newEmail = newAccount().email
  assertProblem(t, await ask(s.tokens.access, newEmail), 403, 'reauthentication_required')
  await app.emailFlows.idle()
  t.equal(mail.to(newEmail).length, 0, 'no mail')
  t.equal(await prisma.oneTimeToken.count({ where: { userId: s.user.id, purpose: 'email_change' } }), 0, 'no token')
  const again = await app.inject({ method: 'POST', url: '/v1/users/me/reauthenticate', headers: bearer(s.tokens.access), payload: { password: s.password } })
  t.equal(again.statusCode, 204, again.body)
  t.equal((await ask(s.tokens.access, newEmail)).statusCode, 202, 'after re-authenticating it is accepted')
})

t.test('an address another account has (any case): 409 email_taken; one\'s own: validation_failed; no token: 401', async (t) => {
  const s = await register(app)
  const other = await register(app)
  const taken = await ask(s.tokens.access, other.email.toUpperCase())
  assertProblem(t, taken, 409, 'email_taken')
  t.match(taken.json().errors, [{ field: 'newEmail', code: 'email_taken' }])
  const same = await ask(s.tokens.access, s.email.toUpperCase())
  assertProblem(t, same, 400, 'validation_failed')
  t.match(same.json().errors, [{ field: 'newEmail', code: 'unchanged' }])
  assertProblem(t, await app.inject({ method: 'POST', url: '/v1/users/me/email', payload: { newEmail: newAccount().email } }), 401, 'authentication_required')
})

t.test('confirming after someone else took the address: 409, nothing changed, the token still unspent', async (t) => {
  const s = await register(app)
  const newEmail = newAccount().email
  const token = await requestToken(s, newEmail)
  const squatter = await register(app, { email: newEmail })
  assertProblem(t, await confirm(token), 409, 'email_taken')
  const user = await prisma.user.findUniqueOrThrow({ where: { id: s.user.id } })
  t.equal(user.email, s.email, 'the old address stays')
  t.equal((await me(app, s.tokens.access)).statusCode, 200, 'no session ended')
  t.equal(await events(s.user.id, 'email_changed').then((e) => e.length), 0, 'no email_changed event')
  t.equal((await prisma.oneTimeToken.findFirstOrThrow({ where: { tokenHash: hashToken(token) } })).usedAt, null, 'the token was not spent')
  // Once the address is free again, the link works.
  await prisma.user.delete({ where: { id: squatter.user.id } })
  t.equal((await confirm(token)).statusCode, 204)
})

t.test('a registration racing the confirmation: exactly one gets the address', async (t) => {
  const s = await register(app)
  const newEmail = newAccount().email
  const token = await requestToken(s, newEmail)
  const [confirmed, registered] = await Promise.all([
    confirm(token),
    app.inject({ method: 'POST', url: '/v1/app/auth/register', payload: newAccount({ email: newEmail }) })
  ])
  const winners = [confirmed.statusCode === 204, registered.statusCode === 201].filter(Boolean).length
  t.equal(winners, 1, `one winner (confirm ${confirmed.statusCode}, register ${registered.statusCode})`)
  t.ok([204, 409].includes(confirmed.statusCode) && [201, 409].includes(registered.statusCode), 'the loser gets 409, no 5xx')
  t.equal(await prisma.user.count({ where: { email: newEmail } }), 1, 'one account has the address')
  const user = await prisma.user.findUniqueOrThrow({ where: { id: s.user.id } })
  t.equal(user.email, confirmed.statusCode === 204 ? newEmail : s.email, 'the user has the address only if the confirmation won')
})

t.test('tokens: a newer request voids the older; unknown, malformed and expired tokens are refused', async (t) => {
  const s = await register(app)
  const first = await requestToken(s, newAccount().email)
  const secondEmail = newAccount().email
  const second = await requestToken(s, secondEmail)
  assertProblem(t, await confirm(first), 400, 'email_change_token_invalid')
  assertProblem(t, await confirm('x'.repeat(43)), 400, 'email_change_token_invalid')
  assertProblem(t, await confirm('not a token'), 400, 'email_change_token_invalid')
  await prisma.oneTimeToken.updateMany({ where: { tokenHash: hashToken(second) }, data: { expiresAt: new Date(Date.now() - 1000) } })
  assertProblem(t, await confirm(second), 400, 'email_change_token_invalid')
  t.equal((await prisma.user.findUniqueOrThrow({ where: { id: s.user.id } })).email, s.email, 'unchanged')
})

t.test('the old address\'s verification and reset links die with the change', async (t) => {
  const s = await register(app)
  const verification = linkIn(await mail.waitFor(s.email)).token
  const forgot = await app.inject({ method: 'POST', url: '/v1/auth/password/forgot', payload: { email: s.email } })
  t.equal(forgot.statusCode, 202)
  await app.emailFlows.idle()
  const reset = linkIn(mail.to(s.email).find((m) => m.subject === 'Reset your password') ?? await mail.waitFor(s.email, 2)).token
  const token = await requestToken(s, newAccount().email)
  t.equal((await confirm(token)).statusCode, 204)
  assertProblem(t, await app.inject({ method: 'POST', url: '/v1/auth/email/verify', payload: { token: verification } }), 400, 'verification_token_invalid')
  assertProblem(t, await app.inject({ method: 'POST', url: '/v1/auth/password/reset', payload: { token: reset, newPassword: 'a brand new passphrase 42' } }), 400, 'reset_token_invalid')
  const left = await prisma.oneTimeToken.count({ where: { userId: s.user.id, usedAt: null } })
  t.equal(left, 0, 'no unused token of the user is left')
})

t.test('throttle: a second request within MAIL_THROTTLE_SECONDS is 429 and sends nothing', async (t) => {
  const throttled = await buildWithDatabase(t, env)
  const s = await register(throttled.app)
  const newEmail = newAccount().email
  await requestToken(s, newEmail, 1, throttled.app)
  const again = await ask(s.tokens.access, newAccount().email, throttled.app)
  assertProblem(t, again, 429, 'rate_limited')
  t.equal(again.headers['retry-after'], '60')
  await throttled.app.emailFlows.idle()
  t.equal(mail.to(newEmail).length, 1, 'one mail')
})
