// A login that races a password reset, change or deactivation (issue 12, finding 2): the
// login is held between its bcrypt check and its write while the other change commits, then
// let go. Its session insert and any rehash are conditional on the hash it verified, so it
// fails as a wrong password would: no session, and never an old password written back.
import { pbkdf2Sync } from 'node:crypto'
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { createPasswordHasher, type PasswordHasher } from '../../../src/services/password-hasher.js'
import { assertProblem, buildWithDatabase, login, newAccount, register, type Session } from '../../helper.js'
import { linkIn, startMailServer } from '../../mail-helper.js'

t.setTimeout(300_000)

/** The test's hasher: bcrypt at cost 4, whose next verify can be held after it has checked. */
function holdingHasher (): { hasher: PasswordHasher, holdNextVerify: () => { checked: Promise<void>, release: () => void } } {
  const real = createPasswordHasher({ cost: 4 })
  let hold: { checked: () => void, released: Promise<void> } | null = null
  return {
    hasher: {
      warmUp: async () => { await real.warmUp() },
      hash: async (password) => await real.hash(password),
      async verify (password, stored) {
        const result = await real.verify(password, stored)
        const held = hold
        hold = null
        if (held !== null) {
          held.checked()
          await held.released
        }
        return result
      }
    },
    holdNextVerify () {
      let checked!: () => void
      let release!: () => void
      const checkedP = new Promise<void>((resolve) => { checked = resolve })
      const released = new Promise<void>((resolve) => { release = resolve })
      hold = { checked, released }
      return { checked: checkedP, release }
    }
  }
}

const NEW_PASSWORD = 'a brand new passphrase 42'
const mail = await startMailServer(t)
const gate = holdingHasher()
const { app, database } = await buildWithDatabase(t, { SMTP_URL: mail.url, EMAIL_VERIFICATION: 'none', MAIL_THROTTLE_SECONDS: '0' }, { passwordHasher: gate.hasher })
const prisma = database.prisma

async function resetPassword (target: FastifyInstance, s: Session, nth: number): Promise<void> {
  const forgot = await target.inject({ method: 'POST', url: '/v1/auth/password/forgot', payload: { email: s.email } })
  t.equal(forgot.statusCode, 202)
  const { token } = linkIn(await mail.waitFor(s.email, nth))
  const res = await target.inject({ method: 'POST', url: '/v1/auth/password/reset', payload: { token, newPassword: NEW_PASSWORD } })
  if (res.statusCode !== 204) throw new Error(`reset failed: ${res.statusCode} ${res.body}`)
}

/** Starts a login, lets `meanwhile` run while it is held after its password check, then lets it go. */
async function heldLogin (s: Session, meanwhile: () => Promise<void>) {
  const held = gate.holdNextVerify()
  const pending = login(app, s.email, s.password)
  await held.checked
  await meanwhile()
  held.release()
  return await pending
}

const liveSessions = async (userId: string) => await prisma.session.count({ where: { userId, revokedAt: null } })

t.test('a login held past a password reset fails and opens no session', async (t) => {
  const s = await register(app)
  const before = await liveSessions(s.user.id)
  const res = await heldLogin(s, async () => { await resetPassword(app, s, 1) })
  assertProblem(t, res, 401, 'invalid_credentials')
  t.equal(await liveSessions(s.user.id), 0, `no live session: the reset ended the ${before} there was and the login added none`)
  t.equal((await login(app, s.email, s.password)).statusCode, 401, 'the old password stays refused')
  t.equal((await login(app, s.email, NEW_PASSWORD)).statusCode, 200, 'the new one works')
  const failed = await prisma.auditEvent.findMany({ where: { userId: s.user.id, type: 'login_failed' } })
  t.ok(failed.some((e) => (e.detail as { reason?: string }).reason === 'password_changed'), 'audited as a login that lost to a password change')
})

t.test('a rehash held past a password reset never writes the old password back', async (t) => {
  const s = await register(app)
  // A hash of the same password at another cost: the login will want to rehash it.
  const otherCost = await createPasswordHasher({ cost: 5 }).hash(s.password)
  await prisma.user.update({ where: { id: s.user.id }, data: { passwordHash: otherCost } })
  const res = await heldLogin(s, async () => { await resetPassword(app, s, 1) })
  assertProblem(t, res, 401, 'invalid_credentials')
  t.equal((await login(app, s.email, s.password)).statusCode, 401, 'the old password does not work again')
  t.equal((await login(app, s.email, NEW_PASSWORD)).statusCode, 200, 'the reset\'s password does')
})

t.test('an imported Django hash: the rehash to authd\'s format held past a password reset never writes the old password back', async (t) => {
  const s = await register(app)
  // Django's pbkdf2_sha256 format (accounts made by `authd import django` keep it until their first login).
  const django = `pbkdf2_sha256$1000$somesalt$${pbkdf2Sync(s.password, 'somesalt', 1000, 32, 'sha256').toString('base64')}`
  await prisma.user.update({ where: { id: s.user.id }, data: { passwordHash: django } })
  const res = await heldLogin(s, async () => { await resetPassword(app, s, 1) })
  assertProblem(t, res, 401, 'invalid_credentials')
  const stored = await prisma.user.findUniqueOrThrow({ where: { id: s.user.id } })
  t.not(stored.passwordHash, django, 'the reset\'s hash stays')
  t.equal((await login(app, s.email, s.password)).statusCode, 401, 'the Django password does not come back')
  t.equal((await login(app, s.email, NEW_PASSWORD)).statusCode, 200, 'the reset\'s password works')
})

t.test('a login held past a password change from another session fails', async (t) => {
  const s = await register(app)
  const res = await heldLogin(s, async () => {
    const change = await app.inject({
      method: 'POST',
      url: '/v1/users/me/password',
      headers: { authorization: `Bearer ${s.tokens.access}` },
      payload: { currentPassword: s.password, newPassword: NEW_PASSWORD }
    })
    t.equal(change.statusCode, 204)
  })
  assertProblem(t, res, 401, 'invalid_credentials')
  t.equal(await liveSessions(s.user.id), 1, 'only the session that changed the password')
})

t.test('a login held past a deactivation fails', async (t) => {
  const s = await register(app)
  const res = await heldLogin(s, async () => {
    await prisma.user.update({ where: { id: s.user.id }, data: { isActive: false } })
  })
  assertProblem(t, res, 401, 'invalid_credentials')
  t.equal(await prisma.session.count({ where: { userId: s.user.id } }), 1, 'no session added (only the registration\'s)')
})

t.test('a login that nothing raced still works, and rehashes', async (t) => {
  const account = newAccount()
  const s = await register(app, account)
  const otherCost = await createPasswordHasher({ cost: 5 }).hash(s.password)
  await prisma.user.update({ where: { id: s.user.id }, data: { passwordHash: otherCost } })
  const res = await heldLogin(s, async () => {})
  t.equal(res.statusCode, 200)
  const stored = await prisma.user.findUniqueOrThrow({ where: { id: s.user.id } })
  t.not(stored.passwordHash, otherCost, 'rehashed to the configured cost')
  t.equal((await login(app, s.email, s.password)).statusCode, 200, 'with the same password')
})
