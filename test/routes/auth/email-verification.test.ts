// Email verification (API.md: POST /v1/auth/email/verify, /v1/auth/email/resend; register with
// EMAIL_VERIFICATION optional | mandatory | none). Mail goes through a real SMTP server started
// in this process (test/mail-helper.ts); links are read from the messages as a user would.
import { randomBytes } from 'node:crypto'
import { createServer, type AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import t from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { assertProblem, buildWithDatabase, login, me, newAccount, register } from '../../helper.js'
import { linkIn, SMTP_USER, startMailServer, type MailServer } from '../../mail-helper.js'
import { hashToken } from '../../../src/services/opaque-tokens.js'

const FRONTEND = 'https://app.example.com/portal'
const ORIGIN = 'http://localhost:5173'

// Several apps (one per mode) and a real SMTP round trip per mail: generous on a busy machine.
t.setTimeout(300_000)

const mail: MailServer = await startMailServer(t)
const env = { SMTP_URL: mail.url, FRONTEND_URL: FRONTEND, MAIL_FROM: 'Example <accounts@example.com>', CORS_ORIGINS: ORIGIN, COOKIE_SECURE: 'false' }

// Default mode (optional), no per-address throttle, so each test may ask as often as it likes…
const { app, database } = await buildWithDatabase(t, { ...env, MAIL_THROTTLE_SECONDS: '0' })
const prisma = database.prisma
// …and the default throttle (one mail per address per 60 s).
const throttled = await buildWithDatabase(t, env)
const mandatory = await buildWithDatabase(t, { ...env, EMAIL_VERIFICATION: 'mandatory' })

const post = async (target: FastifyInstance, url: string, payload: unknown, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> =>
  await target.inject({ method: 'POST', url, payload: payload as Record<string, unknown>, headers })
const verify = async (target: FastifyInstance, token: string) => await post(target, '/v1/auth/email/verify', { token })
const resend = async (target: FastifyInstance, email: string) => await post(target, '/v1/auth/email/resend', { email })

/** Registers through the app endpoint and returns the account with the token of its first mail. */
async function registerAndRead (target: FastifyInstance = app) {
  const s = await register(target)
  const { token, link, url } = linkIn(await mail.waitFor(s.email))
  return { ...s, token, link, url }
}

const events = async (db: typeof prisma, userId: string, type: string) => await db.auditEvent.findMany({ where: { userId, type } })

t.test('register (optional) mails a link to the frontend, in text and HTML', async (t) => {
  const s = await register(app)
  t.ok(s.tokens, 'optional: register still returns tokens')
  const message = await mail.waitFor(s.email)
  t.equal(message.subject, 'Confirm your email address')
  t.equal(message.parsed.from?.value[0]?.address, 'accounts@example.com', 'From is MAIL_FROM')
  t.same(message.to, [s.email], 'sent to the registered address only')
  t.equal(message.authUser, SMTP_USER, 'logged in to SMTP with the credentials of SMTP_URL')

  const { link, url, token } = linkIn(message)
  t.equal(`${url.origin}${url.pathname}`, `${FRONTEND}/verify-email`, 'FRONTEND_URL + EMAIL_VERIFY_URL_PATH')
  t.equal(url.search, '', 'no query string: the token is only in the fragment')
  t.match(url.hash, /^#token=[A-Za-z0-9_-]{43}$/, '32 random bytes, base64url')
  t.ok(message.html.includes(`href="${link}"`), 'the HTML part links to the same URL')
  t.match(message.text, /expires in 3 days/, 'says how long the link works')
  t.match(message.text, /app\.example\.com/, 'names the site')

  const rows = await prisma.oneTimeToken.findMany({ where: { userId: s.user.id } })
  t.equal(rows.length, 1)
  t.equal(rows[0]?.purpose, 'email_verification')
  t.equal(rows[0]?.tokenHash, hashToken(token), 'stored as its SHA-256')
  t.notOk(JSON.stringify(rows).includes(token), 'the token itself is not stored')
  t.equal(rows[0]?.email, s.email)

  await app.emailFlows.idle()
  t.equal((await events(prisma, s.user.id, 'user_registered')).length, 1, 'user_registered recorded')
  t.equal((await events(prisma, s.user.id, 'email_verification_sent')).length, 1, 'email_verification_sent recorded')
})

t.test('verify: 204 once, the user is verified; the same token again is 400', async (t) => {
  const s = await registerAndRead()
  t.equal((await me(app, s.tokens.access)).json().emailVerified, false, 'not verified before')
  const res = await verify(app, s.token)
  t.equal(res.statusCode, 204, res.body)
  t.equal(res.body, '')
  t.equal((await me(app, s.tokens.access)).json().emailVerified, true, 'verified after')
  const audit = await events(prisma, s.user.id, 'email_verified')
  t.equal(audit.length, 1, 'email_verified recorded')
  t.notOk(JSON.stringify(audit.map((e) => e.detail)).includes(s.token), 'no token in the audit trail')

  assertProblem(t, await verify(app, s.token), 400, 'verification_token_invalid')
})

t.test('an expired token is 400 and verifies nothing', async (t) => {
  const s = await registerAndRead()
  await prisma.oneTimeToken.updateMany({ where: { userId: s.user.id }, data: { expiresAt: new Date(Date.now() - 1000) } })
  assertProblem(t, await verify(app, s.token), 400, 'verification_token_invalid')
  t.equal((await me(app, s.tokens.access)).json().emailVerified, false)
})

t.test('a token stops working when the account\'s address changed since it was sent', async (t) => {
  const s = await registerAndRead()
  await prisma.user.update({ where: { id: s.user.id }, data: { email: `changed-${s.email}` } })
  assertProblem(t, await verify(app, s.token), 400, 'verification_token_invalid')
  t.equal((await prisma.user.findUniqueOrThrow({ where: { id: s.user.id } })).emailVerified, false)
})

t.test('a token of a deactivated account does not verify it', async (t) => {
  const s = await registerAndRead()
  await prisma.user.update({ where: { id: s.user.id }, data: { isActive: false } })
  assertProblem(t, await verify(app, s.token), 400, 'verification_token_invalid')
})

t.test('wrong tokens: all 400 verification_token_invalid; bad bodies 400 validation_failed', async (t) => {
  const s = await registerAndRead()
  const altered = s.token.slice(0, -1) + (s.token.endsWith('A') ? 'B' : 'A')
  for (const token of [altered, 'x', s.token + 'A', hashToken(s.token), 'a'.repeat(512)]) {
    assertProblem(t, await verify(app, token), 400, 'verification_token_invalid')
  }
  t.equal((await me(app, s.tokens.access)).json().emailVerified, false, 'none of them verified the account')

  const unknown = await post(app, '/v1/auth/email/verify', { token: s.token, emailVerified: true })
  assertProblem(t, unknown, 400, 'validation_failed')
  t.match(unknown.json().errors, [{ field: 'emailVerified', code: 'unknown_field' }])
  assertProblem(t, await post(app, '/v1/auth/email/verify', {}), 400, 'validation_failed')
  assertProblem(t, await post(app, '/v1/auth/email/verify', { token: 42 }), 400, 'validation_failed')
  const resendUnknown = await post(app, '/v1/auth/email/resend', { email: s.email, redirect: 'https://evil.example' })
  assertProblem(t, resendUnknown, 400, 'validation_failed')
  t.match(resendUnknown.json().errors, [{ field: 'redirect', code: 'unknown_field' }])
  assertProblem(t, await resend(app, 'not an address'), 400, 'validation_failed')
  t.equal((await me(app, s.tokens.access)).json().emailVerified, false)
})

t.test('resend: 202 always; a new link only for an unverified account', async (t) => {
  const s = await registerAndRead()
  const again = await resend(app, s.email.toUpperCase())
  t.equal(again.statusCode, 202, again.body)
  t.equal(again.body, '', 'no body')
  const second = linkIn(await mail.waitFor(s.email, 2))
  t.not(second.token, s.token, 'a new token')

  // Both links work until one is used; using one ends the other.
  t.equal((await verify(app, second.token)).statusCode, 204)
  assertProblem(t, await verify(app, s.token), 400, 'verification_token_invalid')

  // Verified: resend sends nothing more.
  t.equal((await resend(app, s.email)).statusCode, 202)
  await app.emailFlows.idle()
  t.equal(mail.to(s.email).length, 2, 'no mail to a verified address')

  // Unknown address: the same 202, and no mail at all.
  const nobody = newAccount().email
  const unknown = await resend(app, nobody)
  t.equal(unknown.statusCode, 202)
  t.equal(unknown.body, again.body, 'the same answer as for a known address')
  t.same(Object.keys(unknown.headers).sort(), Object.keys(again.headers).sort(), 'the same headers')
  await app.emailFlows.idle()
  t.equal(mail.to(nobody).length, 0, 'no mail to an unknown address')
})

t.test('resend is throttled per address: one mail per MAIL_THROTTLE_SECONDS, silently', async (t) => {
  const s = await register(throttled.app)
  await mail.waitFor(s.email)
  for (let i = 0; i < 3; i++) t.equal((await resend(throttled.app, s.email)).statusCode, 202, 'still 202')
  await throttled.app.emailFlows.idle()
  t.equal(mail.to(s.email).length, 1, 'no further mail within the minute')
  // A minute later (moved in the database rather than waited for) one more goes out.
  await throttled.database.prisma.oneTimeToken.updateMany({ where: { userId: s.user.id }, data: { createdAt: new Date(Date.now() - 61_000) } })
  t.equal((await resend(throttled.app, s.email)).statusCode, 202)
  const next = linkIn(await mail.waitFor(s.email, 2))
  t.equal((await verify(throttled.app, next.token)).statusCode, 204)
})

t.test('resend: concurrent requests for one address still send one mail', async (t) => {
  const s = await register(throttled.app)
  await mail.waitFor(s.email)
  await throttled.database.prisma.oneTimeToken.updateMany({ where: { userId: s.user.id }, data: { createdAt: new Date(Date.now() - 61_000) } })
  const replies = await Promise.all(Array.from({ length: 5 }, async () => await resend(throttled.app, s.email)))
  t.same(replies.map((r) => r.statusCode), [202, 202, 202, 202, 202])
  await throttled.app.emailFlows.idle()
  t.equal(mail.to(s.email).length, 2, 'exactly one more mail')
})

t.test('mandatory: register returns no tokens; login waits for verification', async (t) => {
  const account = newAccount()
  const res = await post(mandatory.app, '/v1/app/auth/register', account)
  t.equal(res.statusCode, 201, res.body)
  t.same(Object.keys(res.json()), ['user'], 'only the user, no tokens')
  t.equal(res.json().user.emailVerified, false)
  t.equal(res.json().user.lastLoginAt, null, 'not logged in')
  const userId: string = res.json().user.id
  t.equal(await mandatory.database.prisma.session.count({ where: { userId } }), 0, 'no session opened')

  const refused = await login(mandatory.app, account.email, account.password)
  assertProblem(t, refused, 403, 'email_not_verified')
  t.notOk(refused.body.includes('"tokens"'))
  // Without the password nothing is revealed: the usual 401.
  assertProblem(t, await login(mandatory.app, account.email, 'not the password at all'), 401, 'invalid_credentials')
  assertProblem(t, await login(mandatory.app, account.username, 'not the password at all'), 401, 'invalid_credentials')

  const { token } = linkIn(await mail.waitFor(account.email))
  t.equal((await verify(mandatory.app, token)).statusCode, 204)
  const ok = await login(mandatory.app, account.email, account.password)
  t.equal(ok.statusCode, 200, ok.body)
  t.equal(ok.json().user.emailVerified, true)
  t.equal((await me(mandatory.app, ok.json().tokens.access)).statusCode, 200, 'the tokens work')
})

t.test('mandatory: browser register sets no cookies and returns no tokens', async (t) => {
  const account = newAccount()
  const res = await post(mandatory.app, '/v1/browser/auth/register', account, { origin: ORIGIN })
  t.equal(res.statusCode, 201, res.body)
  t.same(Object.keys(res.json()), ['user'])
  t.equal(res.headers['set-cookie'], undefined, 'no Set-Cookie')
  t.equal(res.cookies.length, 0)
  await mail.waitFor(account.email)
  assertProblem(t, await post(mandatory.app, '/v1/browser/auth/login', { login: account.email, password: account.password }, { origin: ORIGIN }), 403, 'email_not_verified')
})

t.test('none: no verification mail, and the email routes do not exist', async (t) => {
  const none = await buildWithDatabase(t, { ...env, EMAIL_VERIFICATION: 'none' })
  const s = await register(none.app)
  t.ok(s.tokens)
  await none.app.emailFlows.idle()
  t.equal(mail.to(s.email).length, 0, 'no mail')
  t.equal(await none.database.prisma.oneTimeToken.count(), 0, 'no token')
  assertProblem(t, await verify(none.app, 'x'.repeat(43)), 404, 'not_found')
  assertProblem(t, await resend(none.app, s.email), 404, 'not_found')
})

t.test('the email routes share one per-IP budget (RATE_LIMIT_EMAIL)', async (t) => {
  const limited = await buildWithDatabase(t, { ...env, RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_EMAIL: '2' })
  // Random addresses: counters in Redis (TEST_REDIS_URL) outlive a run.
  const freshIp = (): string => `10.${[...randomBytes(3)].join('.')}`
  const remoteAddress = freshIp()
  const call = async (url: string, payload: unknown) => await limited.app.inject({ method: 'POST', url, payload: payload as object, remoteAddress })
  t.equal((await call('/v1/auth/email/resend', { email: newAccount().email })).statusCode, 202)
  assertProblem(t, await call('/v1/auth/email/verify', { token: 'x' }), 400, 'verification_token_invalid')
  const over = await call('/v1/auth/password/forgot', { email: newAccount().email })
  assertProblem(t, over, 429, 'rate_limited')
  t.ok(over.headers['retry-after'], 'Retry-After')
  const other = await limited.app.inject({ method: 'POST', url: '/v1/auth/email/resend', payload: { email: newAccount().email }, remoteAddress: freshIp() })
  t.equal(other.statusCode, 202, 'another IP has its own budget')
})

t.test('a mail that cannot be sent: registration stands, the failure is logged without the token', async (t) => {
  // A port nothing listens on: connections are refused at once.
  const closed = await new Promise<number>((resolve) => {
    const server = createServer()
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      server.close(() => { resolve(port) })
    })
  })
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _encoding, done) { lines.push(String(chunk)); done() } })
  const broken = await buildWithDatabase(t, { ...env, SMTP_URL: `smtp://127.0.0.1:${closed}` }, { fastify: { logger: { level: 'error', stream } } })
  const s = await register(broken.app)
  t.ok(s.tokens, 'register answered as usual')
  await broken.app.emailFlows.idle()
  const failure = lines.find((l) => l.includes('verification mail failed'))
  t.ok(failure, 'the failure is logged')
  t.match(failure, /ECONNREFUSED|ECONNECTION/, 'with its cause')
  const row = await broken.database.prisma.oneTimeToken.findFirstOrThrow({ where: { userId: s.user.id } })
  t.notOk(lines.join('').includes(row.tokenHash), 'not even the token hash is logged')
  t.notMatch(lines.join(''), /#token=/, 'no link in the log')
  t.equal((await events(broken.database.prisma, s.user.id, 'email_verification_sent')).length, 0, 'not recorded as sent')
})
