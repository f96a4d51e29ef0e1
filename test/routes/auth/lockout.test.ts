// Per-identifier lockout after failed logins (django-axes style; docs/accounts.md "Lockout after
// failed logins"): the threshold-th failure locks the email/username for the cool-off, even the
// right password is refused while locked, unknown names behave exactly like real ones, a success
// resets the count, and the count lives in the database, so every instance shares it.
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import { createAuditRepository } from '../../../src/repositories/audit-events.js'
import { createLoginFailureRepository, loginFailureKey } from '../../../src/repositories/login-failures.js'
import { assertProblem, build, buildWithDatabase, login, me, register } from '../../helper.js'
import { linkIn, startMailServer } from '../../mail-helper.js'

const THRESHOLD = 3
const COOLOFF = 600
const env = { LOCKOUT_THRESHOLD: String(THRESHOLD), LOCKOUT_COOLOFF: String(COOLOFF), LOCKOUT_WINDOW: '900' }

const { app, database } = await buildWithDatabase(t, env)
const prisma = database.prisma

/** What a client can see of a reply, minus what differs on every request anyway. */
function visible (res: LightMyRequestResponse) {
  const { requestId, ...body } = res.json()
  return {
    status: res.statusCode,
    // The seconds left may differ by one between two requests.
    body: { ...body, detail: String(body.detail).replace(/\d+/g, 'N') },
    retryAfter: res.headers['retry-after'] === undefined ? 'absent' : 'present',
    contentType: res.headers['content-type']
  }
}

function assertLocked (t: Test, res: LightMyRequestResponse, message: string): void {
  t.equal(res.statusCode, 429, message)
  assertProblem(t, res, 429, 'account_locked')
  const retryAfter = Number(res.headers['retry-after'])
  t.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= COOLOFF, `Retry-After ${String(res.headers['retry-after'])} is within the cool-off`)
}

async function failTimes (target: FastifyInstance, name: string, n: number): Promise<LightMyRequestResponse[]> {
  const replies: LightMyRequestResponse[] = []
  for (let i = 0; i < n; i++) replies.push(await login(target, name, `wrong password ${i}`))
  return replies
}

t.test('the threshold-th failure locks the account; even the right password is refused', async (t) => {
  const s = await register(app)
  const replies = await failTimes(app, s.email, THRESHOLD)
  for (const res of replies.slice(0, -1)) assertProblem(t, res, 401, 'invalid_credentials')
  assertLocked(t, replies.at(-1) as LightMyRequestResponse, 'the failure that reaches the threshold is answered account_locked')

  assertLocked(t, await login(app, s.email, s.password), 'the right password is refused while locked')
  assertLocked(t, await login(app, s.email.toUpperCase(), s.password), 'in any spelling of the address')
  assertLocked(t, await app.inject({ method: 'POST', url: '/v1/browser/auth/login', payload: { login: s.email, password: s.password } }),
    'and on the browser endpoint')
  t.equal(await prisma.session.count({ where: { userId: s.user.id } }), 1, 'no session was opened (only the registration\'s)')

  const events = (await createAuditRepository(prisma).list({ userId: s.user.id, limit: 50 })).events
  t.equal(events.filter((e) => e.type === 'account_locked').length, 1, 'one account_locked event')
  t.same(events.filter((e) => e.type === 'login_failed').map((e) => (e.detail as { reason: string }).reason).sort(),
    ['locked', 'locked', 'locked', ...Array(THRESHOLD).fill('wrong_password')].sort(), 'every refused login is a login_failed event, with why')
})

t.test('the email and the username are counted apart; the unlocked one still works', async (t) => {
  const s = await register(app)
  await failTimes(app, s.email, THRESHOLD)
  assertLocked(t, await login(app, s.email, s.password), 'the email is locked')
  const byName = await login(app, s.user.username as string, s.password)
  t.equal(byName.statusCode, 200, 'the username is not: a lock does not tell which username has which address')
})

t.test('an unknown identifier is counted and locked exactly like a real one', async (t) => {
  const s = await register(app)
  const ghost = `ghost-${Date.now()}@example.com`
  const real = await failTimes(app, s.email, THRESHOLD + 1)
  const unknown = await failTimes(app, ghost, THRESHOLD + 1)
  t.same(unknown.map(visible), real.map(visible), 'same statuses, bodies and headers, attempt by attempt')
  t.same(visible(await login(app, ghost, 'whatever password')), visible(await login(app, s.email, s.password)),
    'a locked unknown name answers like a locked account given its right password')
})

t.test('a success before the threshold resets the count', async (t) => {
  const s = await register(app)
  await failTimes(app, s.email, THRESHOLD - 1)
  t.equal((await login(app, s.email, s.password)).statusCode, 200, 'the right password, one short of the threshold')
  t.equal(await prisma.loginFailure.count({ where: { key: loginFailureKey(s.email) } }), 0, 'the count is gone')
  const again = await failTimes(app, s.email, THRESHOLD - 1)
  for (const res of again) assertProblem(t, res, 401, 'invalid_credentials')
  t.equal((await login(app, s.email, s.password)).statusCode, 200, 'still not locked: counting started again')
})

t.test('after the cool-off the right password works, and a new failure starts a new count', async (t) => {
  const s = await register(app)
  await failTimes(app, s.email, THRESHOLD)
  assertLocked(t, await login(app, s.email, s.password), 'locked')
  // Let the cool-off pass (in the database, whose clock the lockout uses).
  await prisma.loginFailure.update({ where: { key: loginFailureKey(s.email) }, data: { lockedUntil: new Date(Date.now() - 1000) } })

  assertProblem(t, await login(app, s.email, 'still wrong'), 401, 'invalid_credentials')
  const row = await prisma.loginFailure.findUnique({ where: { key: loginFailureKey(s.email) } })
  t.equal(row?.failures, 1, 'the first failure after a lock counts from one')
  t.equal(row?.lockedUntil, null, 'and is not locked')

  const ok = await login(app, s.email, s.password)
  t.equal(ok.statusCode, 200, 'the right password works')
  t.equal((await me(app, ok.json().tokens.access)).statusCode, 200, 'with working tokens')
})

t.test('failures older than LOCKOUT_WINDOW are forgotten', async (t) => {
  const s = await register(app)
  await failTimes(app, s.email, THRESHOLD - 1)
  const key = loginFailureKey(s.email)
  await prisma.loginFailure.update({ where: { key }, data: { lastFailedAt: new Date(Date.now() - 901_000) } })
  assertProblem(t, await login(app, s.email, 'wrong again'), 401, 'invalid_credentials')
  t.equal((await prisma.loginFailure.findUnique({ where: { key } }))?.failures, 1, 'counting started again')
})

t.test('a lock is not extended by more attempts while it lasts', async (t) => {
  const s = await register(app)
  await failTimes(app, s.email, THRESHOLD)
  const key = loginFailureKey(s.email)
  const before = (await prisma.loginFailure.findUnique({ where: { key } }))?.lockedUntil
  await failTimes(app, s.email, 3)
  t.same((await prisma.loginFailure.findUnique({ where: { key } }))?.lockedUntil, before, 'locked_until unchanged')
})

t.test('two instances on one database share the count and the lock', async (t) => {
  const { app: a, database: shared } = await buildWithDatabase(t, env)
  const b = await build(t, env, { database: shared })
  const s = await register(a)
  assertProblem(t, await login(a, s.email, 'wrong 1'), 401, 'invalid_credentials')
  assertProblem(t, await login(b, s.email, 'wrong 2'), 401, 'invalid_credentials')
  assertLocked(t, await login(a, s.email, 'wrong 3'), 'the third failure, on A, locks')
  assertLocked(t, await login(b, s.email, s.password), 'B refuses the right password too')
  assertLocked(t, await login(a, s.email, s.password), 'and so does A')
})

t.test('a completed password reset (clearForAccount) ends the lock of the email and the username', async (t) => {
  const s = await register(app)
  const username = s.user.username as string
  await failTimes(app, s.email, THRESHOLD)
  await failTimes(app, username, THRESHOLD)
  t.equal(await createLoginFailureRepository(prisma).clearForAccount({ email: s.email, username }), 2, 'both counts cleared')
  t.equal((await login(app, s.email, s.password)).statusCode, 200, 'the email logs in')
  t.equal((await login(app, username, s.password)).statusCode, 200, 'the username logs in')
})

t.test('a completed password reset ends the lock: the owner is back at once', async (t) => {
  const mail = await startMailServer(t)
  const withMail = await build(t, { ...env, SMTP_URL: mail.url, EMAIL_VERIFICATION: 'none' })
  const s = await register(withMail)
  await failTimes(withMail, s.email, THRESHOLD)
  await failTimes(withMail, s.user.username as string, THRESHOLD)
  assertLocked(t, await login(withMail, s.email, s.password), 'locked by an attacker')

  t.equal((await withMail.inject({ method: 'POST', url: '/v1/auth/password/forgot', payload: { email: s.email } })).statusCode, 202)
  const { token } = linkIn(await mail.waitFor(s.email))
  const newPassword = 'a brand new passphrase 42'
  t.equal((await withMail.inject({ method: 'POST', url: '/v1/auth/password/reset', payload: { token, newPassword } })).statusCode, 204, 'reset')
  t.equal((await login(withMail, s.email, newPassword)).statusCode, 200, 'the email logs in with the new password')
  t.equal((await login(withMail, s.user.username as string, newPassword)).statusCode, 200, 'and the username')
})

t.test('a success let in before a concurrent lock landed is refused and changes nothing', async (t) => {
  const s = await register(app)
  const key = loginFailureKey(s.email)
  await prisma.loginFailure.create({ data: { key, failures: THRESHOLD, firstFailedAt: new Date(), lastFailedAt: new Date(), lockedUntil: new Date(Date.now() + 60_000) } })
  // What the login transaction does: the refusal rolls the deletion back.
  await t.rejects(prisma.$transaction(async (tx) => {
    const left = await createLoginFailureRepository(tx).clearOnSuccess(key)
    t.ok(left !== null && left >= 1 && left <= 60, `reports the seconds left (${String(left)})`)
    throw new Error('refused')
  }), /refused/)
  t.ok(await prisma.loginFailure.findUnique({ where: { key } }), 'the lock is still there')
})

t.test('LOCKOUT_THRESHOLD=0 turns the lockout off', async (t) => {
  const off = await build(t, { LOCKOUT_THRESHOLD: '0' })
  const s = await register(off)
  for (const res of await failTimes(off, s.email, 12)) assertProblem(t, res, 401, 'invalid_credentials')
  t.equal((await login(off, s.email, s.password)).statusCode, 200, 'the right password still works')
})
