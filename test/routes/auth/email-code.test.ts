// Login by a mailed code (API.md v1 additions: POST /v1/{client}/auth/code/request → 202 always;
// POST /v1/{client}/auth/code/confirm → as a login). Mail goes through a real SMTP server
// (test/mail-helper.ts) and codes are read out of the messages. Each rule is attacked: enumeration,
// guessing past the tries (also all at once), expiry, replay (also all at once), a code used for
// another address, the lockout, the off switch.
import { createHash } from 'node:crypto'
import { decodeJwt } from 'jose'
import t from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { totpCodeAt } from '../../../src/services/totp.js'
import { assertProblem, buildWithDatabase, login, me, newAccount, register, type Session } from '../../helper.js'
import { startMailServer, type CapturedMail } from '../../mail-helper.js'

t.setTimeout(300_000)

const ORIGIN = 'http://localhost:5173'
const mail = await startMailServer(t)
const env = { SMTP_URL: mail.url, FRONTEND_URL: 'https://app.example.com', EMAIL_VERIFICATION: 'none', CORS_ORIGINS: ORIGIN, COOKIE_SECURE: 'false' }
// No per-address throttle, so each test may ask as often as it likes.
const { app, database } = await buildWithDatabase(t, { ...env, MAIL_THROTTLE_SECONDS: '0' })
const prisma = database.prisma
// Without the lockout, so that a flood of guesses meets only the code's own limit.
const unlocked = await buildWithDatabase(t, { ...env, MAIL_THROTTLE_SECONDS: '0', LOCKOUT_THRESHOLD: '0' })

type Client = 'app' | 'browser'
const post = async (target: FastifyInstance, url: string, payload: unknown, client: Client = 'app'): Promise<LightMyRequestResponse> =>
  await target.inject({ method: 'POST', url, payload: payload as Record<string, unknown>, ...(client === 'browser' ? { headers: { origin: ORIGIN } } : {}) })
const ask = async (email: string, target: FastifyInstance = app, client: Client = 'app') => await post(target, `/v1/${client}/auth/code/request`, { email }, client)
const confirm = async (email: string, code: string, target: FastifyInstance = app, client: Client = 'app') => await post(target, `/v1/${client}/auth/code/confirm`, { email, code }, client)

/** The code of a login-code mail, and its link with the fragment's parameters. */
function codeIn (message: CapturedMail): { code: string, url: URL, params: URLSearchParams } {
  const match = /https?:\/\/\S+#email=\S+/.exec(message.text)
  if (match === null) throw new Error(`no link in "${message.subject}": ${message.text}`)
  const url = new URL(match[0])
  const params = new URLSearchParams(url.hash.slice(1))
  const code = params.get('code')
  if (code === null) throw new Error(`no code in ${match[0]}`)
  return { code, url, params }
}

/** Asks for a code for `email` and reads the `nth` code mail to it. */
async function requestCode (email: string, nth = 1, target: FastifyInstance = app): Promise<string> {
  const res = await ask(email, target)
  if (res.statusCode !== 202) throw new Error(`request failed: ${res.statusCode} ${res.body}`)
  return codeIn(await mail.waitFor(email, nth)).code
}

const events = async (userId: string | null, type: string) => await prisma.auditEvent.findMany({ where: { userId, type }, orderBy: { id: 'asc' } })
const codeRow = async (userId: string) => await prisma.emailCode.findUniqueOrThrow({ where: { userId } })

t.test('request → a mail with the code and a link carrying it in the fragment → confirm logs in (app)', async (t) => {
  const s = await register(app)
  const res = await ask(s.email)
  t.equal(res.statusCode, 202, res.body)
  t.equal(res.body, '', 'no body')
  const message = await mail.waitFor(s.email)
  const { code, url, params } = codeIn(message)
  t.match(code, /^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/, '8 symbols of Crockford base32, XXXX-XXXX')
  t.ok(message.subject.includes(code), 'the subject names the code')
  t.ok(message.text.includes(`    ${code}`), 'the text shows the code to type')
  t.equal(`${url.origin}${url.pathname}`, 'https://app.example.com/login/code', 'FRONTEND_URL + EMAIL_CODE_URL_PATH')
  t.equal(url.search, '', 'nothing in the query: the secret is only in the fragment')
  t.equal(params.get('email'), s.email, 'the fragment names the address')
  t.ok(message.html.includes(`href="${url.href.replaceAll('&', '&amp;')}"`), 'the HTML part links to the same URL')
  t.match(message.text, /expires in 10 minutes/)

  const row = await codeRow(s.user.id)
  t.not(row.codeHash, code, 'the code is not stored')
  t.not(row.codeHash, createHash('sha256').update(code).digest('base64url'), 'nor its plain hash (a keyed one is)')
  t.ok(Math.abs(row.expiresAt.getTime() - row.createdAt.getTime() - 600_000) < 5000, 'expires after EMAIL_CODE_TTL')
  await app.emailFlows.idle()
  t.match(await events(s.user.id, 'login_code_requested'), [{ detail: { throttled: false } }], 'login_code_requested recorded')

  const done = await confirm(s.email, code)
  t.equal(done.statusCode, 200, done.body)
  const body = done.json()
  t.same(Object.keys(body).sort(), ['deviceToken', 'tokens', 'user'], 'as a password login answers')
  t.equal(body.user.id, s.user.id)
  t.equal(body.user.emailVerified, true, 'the code proved the address: verified')
  const claims = decodeJwt(body.tokens.access)
  t.same(claims.amr, ['email'], 'amr: email (not otp, which TOTP checks rely on)')
  t.type(claims.auth_time, 'number')
  t.equal((await me(app, body.tokens.access)).statusCode, 200, 'the access token works')
  const session = await prisma.session.findUniqueOrThrow({ where: { id: String(claims.sid) } })
  t.same(session.amr, ['email'], 'the session records amr email')
  t.match(await events(s.user.id, 'login_succeeded'), [{ detail: { method: 'email_code', sessionId: claims.sid } }], 'login_succeeded recorded')

  assertProblem(t, await confirm(s.email, code), 400, 'email_code_invalid')
  t.ok((await codeRow(s.user.id)).usedAt, 'the code is used up')
})

t.test('browser: confirm sets the cookies as a browser login does; the code is typed forgivingly', async (t) => {
  const s = await register(app)
  const code = await requestCode(s.email.toUpperCase().replace('@', '@'), 1)
  const typed = code.toLowerCase().replace('-', ' ')
  const res = await confirm(s.email.toUpperCase(), typed, app, 'browser')
  t.equal(res.statusCode, 200, res.body)
  t.same(Object.keys(res.json().tokens).sort(), ['access', 'accessExpiresIn', 'csrfToken', 'tokenType'], 'no refresh token in the body')
  const names = res.cookies.map((c) => c.name)
  t.ok(names.includes('authd_refresh') && names.includes('authd_csrf'), `refresh and CSRF cookies set (${names.join(', ')})`)
  t.equal(res.cookies.find((c) => c.name === 'authd_refresh')?.httpOnly, true, 'the refresh cookie is HttpOnly')
  t.same(decodeJwt(res.json().tokens.access).amr, ['email'])

  const foreign = await app.inject({ method: 'POST', url: '/v1/browser/auth/code/request', headers: { origin: 'https://evil.example' }, payload: { email: s.email } })
  assertProblem(t, foreign, 403, 'csrf_failed')
})

t.test('enumeration: unknown, inactive and existing addresses get the same answer; only the active account gets mail', async (t) => {
  const known = await register(app)
  const inactive = await register(app)
  await prisma.user.update({ where: { id: inactive.user.id }, data: { isActive: false } })
  const nobody = newAccount().email
  const answers = [await ask(known.email), await ask(inactive.email), await ask(nobody)]
  for (const res of answers) {
    t.equal(res.statusCode, 202)
    t.equal(res.body, '', 'same (empty) body')
    t.same(Object.keys(res.headers).sort(), Object.keys(answers[0]?.headers ?? {}).sort(), 'same headers')
  }
  const code = codeIn(await mail.waitFor(known.email)).code
  await app.emailFlows.idle()
  t.equal(mail.to(nobody).length, 0, 'no mail to the unknown address')
  t.equal(mail.to(inactive.email).length, 0, 'no mail to the inactive account')
  t.equal(await prisma.emailCode.count({ where: { userId: inactive.user.id } }), 0, 'no code for the inactive account')

  // Confirming: an unknown address, an inactive account and a wrong code look the same.
  const wrong = await confirm(known.email, 'AAAA-AAAA')
  const unknown = await confirm(nobody, code)
  const dead = await confirm(inactive.email, code)
  for (const res of [wrong, unknown, dead]) assertProblem(t, res, 400, 'email_code_invalid')
  t.equal(unknown.json().detail, wrong.json().detail, 'same detail')
  t.equal(dead.json().detail, wrong.json().detail, 'same detail')
  t.equal((await confirm(known.email, code)).statusCode, 200, 'the right code still works (one wrong try spent)')
})

t.test('an inactive account cannot use a code it got while active', async (t) => {
  const s = await register(app)
  const code = await requestCode(s.email)
  await prisma.user.update({ where: { id: s.user.id }, data: { isActive: false } })
  assertProblem(t, await confirm(s.email, code), 400, 'email_code_invalid')
  t.match(await events(s.user.id, 'login_failed'), [{ detail: { reason: 'no_code', method: 'email_code' } }], 'audited')
})

t.test('wrong codes: audited, counted; after EMAIL_CODE_MAX_ATTEMPTS tries even the right code is dead', async (t) => {
  const s = await register(app)
  const code = await requestCode(s.email)
  // Four wrong codes and one that cannot even be a code (u is not in the alphabet): five tries.
  for (const wrong of ['ZZZZ-ZZZ1', 'ZZZZ-ZZZ2', 'ZZZZ-ZZZ3', 'ZZZZ-ZZZ4', 'UUUU-UUUU']) assertProblem(t, await confirm(s.email, wrong), 400, 'email_code_invalid')
  assertProblem(t, await confirm(s.email, code), 400, 'email_code_invalid')
  t.equal((await codeRow(s.user.id)).attempts, 5, 'five tries counted, the sixth not let in')
  const failed = await events(s.user.id, 'login_failed')
  t.same(failed.map((e) => (e.detail as { reason: string }).reason), ['wrong_code', 'wrong_code', 'wrong_code', 'wrong_code', 'wrong_code', 'no_code'])
  t.match(failed[4]?.detail, { method: 'email_code', failures: 5 }, 'each counted toward the lockout')
  t.equal((await login(app, s.email, s.password)).statusCode, 200, 'the password still works (threshold 10 not reached)')
})

t.test('concurrent wrong guesses: never more than EMAIL_CODE_MAX_ATTEMPTS tries are evaluated', async (t) => {
  const s = await register(unlocked.app)
  const code = await requestCode(s.email, 1, unlocked.app)
  const answers = await Promise.all(Array.from({ length: 20 }, async (_, i) => await confirm(s.email, `ZZZZ-ZZ${String(i).padStart(2, '0')}`, unlocked.app)))
  t.ok(answers.every((res) => res.statusCode === 400 && res.json().code === 'email_code_invalid'), 'every guess refused, none a 5xx')
  const db = unlocked.database.prisma
  t.equal((await db.emailCode.findUniqueOrThrow({ where: { userId: s.user.id } })).attempts, 5, 'exactly five tries counted')
  const reasons = (await db.auditEvent.findMany({ where: { userId: s.user.id, type: 'login_failed' } })).map((e) => (e.detail as { reason: string }).reason)
  t.equal(reasons.filter((r) => r === 'wrong_code').length, 5, 'five compared')
  t.equal(reasons.filter((r) => r === 'no_code').length, 15, 'fifteen found no code to try')
  assertProblem(t, await confirm(s.email, code, unlocked.app), 400, 'email_code_invalid')
})

t.test('concurrent confirms with the right code: exactly one session', async (t) => {
  const s = await register(unlocked.app)
  const code = await requestCode(s.email, 1, unlocked.app)
  const sessions = unlocked.database.prisma.session
  const before = await sessions.count({ where: { userId: s.user.id } })
  const answers = await Promise.all(Array.from({ length: 8 }, async () => await confirm(s.email, code, unlocked.app)))
  const ok = answers.filter((res) => res.statusCode === 200)
  t.equal(ok.length, 1, `one login (${answers.map((r) => r.statusCode).join(',')})`)
  t.ok(answers.every((res) => res.statusCode === 200 || (res.statusCode === 400 && res.json().code === 'email_code_invalid')), 'the others: email_code_invalid, no 5xx')
  t.equal(await sessions.count({ where: { userId: s.user.id } }) - before, 1, 'exactly one new session')
})

type CheckedCode = Awaited<ReturnType<FastifyInstance['emailCodes']['check']>>
type User = Parameters<FastifyInstance['emailCodes']['check']>[0]

/**
 * Fault injection: each check of a code by `app` goes through `after` (what the check found,
 * for whom) until the test ends.
 */
function afterEachCheck (t: { teardown: (fn: () => void) => void }, after: (checked: CheckedCode, user: User) => Promise<CheckedCode>): void {
  const check = app.emailCodes.check
  app.emailCodes.check = async (user, code) => await after(await check(user, code), user)
  t.teardown(() => { app.emailCodes.check = check })
}

t.test('two confirms that both checked the right code: one session, the other is a replay', async (t) => {
  const s = await register(app)
  const code = await requestCode(s.email)
  // Each check waits for the other, so both reach the session's transaction with a right code.
  const waiting: Array<() => void> = []
  afterEachCheck(t, async (checked) => {
    await new Promise<void>((resolve) => {
      waiting.push(resolve)
      if (waiting.length === 2) for (const wake of waiting) wake()
    })
    return checked
  })
  const before = await prisma.session.count({ where: { userId: s.user.id } })
  const answers = await Promise.all([confirm(s.email, code), confirm(s.email, code)])
  t.same(answers.map((res) => res.statusCode).sort(), [200, 400], 'one login, one refusal')
  t.equal(await prisma.session.count({ where: { userId: s.user.id } }) - before, 1, 'exactly one new session')
  t.match(await events(s.user.id, 'login_failed'), [{ detail: { reason: 'code_reused', method: 'email_code' } }], 'the loser is audited as a replay')
})

t.test('a fault while using the code up: masked 500, no session, the code still usable', async (t) => {
  const s = await register(app)
  const code = await requestCode(s.email)
  let broken = true
  afterEachCheck(t, async (checked) => broken && checked !== null ? { right: checked.right, use: async () => { throw new Error('disk on fire') } } : checked)
  const before = await prisma.session.count({ where: { userId: s.user.id } })
  assertProblem(t, await confirm(s.email, code), 500, 'internal_error')
  broken = false
  t.equal(await prisma.session.count({ where: { userId: s.user.id } }), before, 'no session')
  t.equal((await confirm(s.email, code)).statusCode, 200, 'nothing was spent')
})

t.test('an expired code is refused', async (t) => {
  const s = await register(app)
  const code = await requestCode(s.email)
  await prisma.emailCode.update({ where: { userId: s.user.id }, data: { expiresAt: new Date(Date.now() - 1000) } })
  assertProblem(t, await confirm(s.email, code), 400, 'email_code_invalid')
})

t.test('a code works only for the address it went to', async (t) => {
  const a = await register(app)
  const b = await register(app)
  const codeA = await requestCode(a.email)
  await requestCode(b.email)
  assertProblem(t, await confirm(b.email, codeA), 400, 'email_code_invalid')
  assertProblem(t, await confirm(newAccount().email, codeA), 400, 'email_code_invalid')
  const res = await confirm(a.email, codeA)
  t.equal(res.statusCode, 200, 'A\'s code still logs A in')
  t.equal(res.json().user.id, a.user.id)
})

t.test('a new request replaces the previous code', async (t) => {
  const s = await register(app)
  const first = await requestCode(s.email, 1)
  const second = await requestCode(s.email, 2)
  assertProblem(t, await confirm(s.email, first), 400, 'email_code_invalid')
  t.equal((await confirm(s.email, second)).statusCode, 200, 'the newest code works')
})

t.test('a password change between the check and the session: the code is spent, no session', async (t) => {
  const s = await register(app)
  const code = await requestCode(s.email)
  // The password changes right after the code checked out.
  afterEachCheck(t, async (checked, user) => {
    await prisma.user.update({ where: { id: user.id }, data: { passwordHash: `${user.passwordHash}x` } })
    return checked
  })
  const before = await prisma.session.count({ where: { userId: s.user.id } })
  assertProblem(t, await confirm(s.email, code), 400, 'email_code_invalid')
  t.equal(await prisma.session.count({ where: { userId: s.user.id } }), before, 'no session')
})

t.test('with a second factor on: the code answers the MFA challenge; amr says email + otp', async (t) => {
  const s = await register(app)
  const bearer = { authorization: `Bearer ${s.tokens.access}` }
  const start = await app.inject({ method: 'POST', url: '/v1/users/me/mfa/totp', headers: bearer })
  const { secret } = start.json()
  const enrol = await app.inject({ method: 'POST', url: '/v1/users/me/mfa/totp/confirm', headers: bearer, payload: { code: totpCodeAt(secret, Date.now()) } })
  t.equal(enrol.statusCode, 200, enrol.body)

  const code = await requestCode(s.email)
  const first = await confirm(s.email, code)
  t.equal(first.statusCode, 200, first.body)
  t.same(Object.keys(first.json()).sort(), ['methods', 'mfaRequired', 'mfaToken'], 'no tokens before the second factor')
  t.same(first.json().methods, ['totp', 'recovery_code'])
  assertProblem(t, await confirm(s.email, code), 400, 'email_code_invalid')

  const done = await app.inject({ method: 'POST', url: '/v1/app/auth/mfa', payload: { mfaToken: first.json().mfaToken, code: totpCodeAt(secret, Date.now() + 30_000) } })
  t.equal(done.statusCode, 200, done.body)
  t.same(decodeJwt(done.json().tokens.access).amr, ['email', 'otp', 'mfa'], 'the first step stays email, the second factor adds otp and mfa')
})

t.test('lockout: wrong codes lock the address, for the password login too', async (t) => {
  const locking = await buildWithDatabase(t, { ...env, MAIL_THROTTLE_SECONDS: '0', LOCKOUT_THRESHOLD: '3' })
  const s = await register(locking.app)
  const code = await requestCode(s.email, 1, locking.app)
  assertProblem(t, await confirm(s.email, 'ZZZZ-ZZZ1', locking.app), 400, 'email_code_invalid')
  assertProblem(t, await confirm(s.email, 'ZZZZ-ZZZ2', locking.app), 400, 'email_code_invalid')
  assertProblem(t, await confirm(s.email, 'ZZZZ-ZZZ3', locking.app), 429, 'account_locked')
  assertProblem(t, await confirm(s.email, code, locking.app), 429, 'account_locked')
  assertProblem(t, await login(locking.app, s.email, s.password), 429, 'account_locked')
  const locked = await locking.database.prisma.auditEvent.findMany({ where: { type: 'login_failed', userId: s.user.id }, orderBy: { id: 'asc' } })
  t.match(locked.at(-2)?.detail, { reason: 'locked', method: 'email_code' }, 'the refused code try is audited')
  t.equal(await locking.database.prisma.auditEvent.count({ where: { type: 'account_locked', userId: s.user.id } }), 1, 'account_locked recorded')
  // An unknown address is counted and locked the same way.
  const nobody = newAccount().email
  for (let i = 0; i < 2; i++) assertProblem(t, await confirm(nobody, 'ZZZZ-ZZZZ', locking.app), 400, 'email_code_invalid')
  assertProblem(t, await confirm(nobody, 'ZZZZ-ZZZZ', locking.app), 429, 'account_locked')
  assertProblem(t, await confirm(nobody, 'ZZZZ-ZZZZ', locking.app), 429, 'account_locked')
})

t.test('throttle: one code mail per address per MAIL_THROTTLE_SECONDS; lockout off counts nothing', async (t) => {
  const throttled = await buildWithDatabase(t, { ...env, LOCKOUT_THRESHOLD: '0' })
  const s: Session = await register(throttled.app)
  const code = await requestCode(s.email, 1, throttled.app)
  t.equal((await ask(s.email, throttled.app)).statusCode, 202, 'the second request is answered alike')
  await throttled.app.emailFlows.idle()
  t.equal(mail.to(s.email).length, 1, 'but sends nothing')
  t.match(await throttled.database.prisma.auditEvent.findMany({ where: { type: 'login_code_requested', userId: s.user.id }, orderBy: { id: 'asc' } }), [{ detail: { throttled: false } }, { detail: { throttled: true } }])
  assertProblem(t, await confirm(s.email, 'ZZZZ-ZZZZ', throttled.app), 400, 'email_code_invalid')
  t.equal(await throttled.database.prisma.loginFailure.count(), 0, 'LOCKOUT_THRESHOLD=0: no failure counted')
  t.equal((await confirm(s.email, code, throttled.app)).statusCode, 200, 'the first code still works')
})

t.test('EMAIL_CODE_LOGIN=false: both routes are 404 for both clients', async (t) => {
  const off = await buildWithDatabase(t, { ...env, EMAIL_CODE_LOGIN: 'false' })
  const s = await register(off.app)
  for (const client of ['app', 'browser'] as const) {
    assertProblem(t, await ask(s.email, off.app, client), 404, 'not_found')
    assertProblem(t, await confirm(s.email, 'AAAA-AAAA', off.app, client), 404, 'not_found')
  }
  await off.app.emailFlows.idle()
  t.equal(mail.to(s.email).length, 0, 'no mail')
})

t.test('mandatory verification: a code login is allowed and verifies the address', async (t) => {
  const mandatory = await buildWithDatabase(t, { ...env, MAIL_THROTTLE_SECONDS: '0', EMAIL_VERIFICATION: 'mandatory' })
  const account = newAccount()
  t.equal((await mandatory.app.inject({ method: 'POST', url: '/v1/app/auth/register', payload: account })).statusCode, 201)
  assertProblem(t, await login(mandatory.app, account.email, account.password), 403, 'email_not_verified')
  await mandatory.app.emailFlows.idle()
  const code = await requestCode(account.email, mail.to(account.email).length + 1, mandatory.app)
  const res = await confirm(account.email, code, mandatory.app)
  t.equal(res.statusCode, 200, res.body)
  t.equal(res.json().user.emailVerified, true)
  t.equal((await login(mandatory.app, account.email, account.password)).statusCode, 200, 'the password logs in now')
})
