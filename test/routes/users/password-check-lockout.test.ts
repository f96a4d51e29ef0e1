// The routes that re-check a signed-in user's password (POST /v1/users/me/password, DELETE
// /v1/users/me) must not let a stolen access token guess it (issue 12, finding 4): failures
// count under the account's lockout key, are audited, and the one that reaches
// LOCKOUT_THRESHOLD ends the calling session.
import t from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { assertProblem, buildWithDatabase, login, me, refresh, register, type Session } from '../../helper.js'

const THRESHOLD = 3
const { app, database } = await buildWithDatabase(t, { LOCKOUT_THRESHOLD: String(THRESHOLD) })
const prisma = database.prisma
const off = await buildWithDatabase(t, { LOCKOUT_THRESHOLD: '0' })

const change = async (target: FastifyInstance, s: Session, currentPassword: string): Promise<LightMyRequestResponse> =>
  await target.inject({ method: 'POST', url: '/v1/users/me/password', headers: { authorization: `Bearer ${s.tokens.access}` }, payload: { currentPassword, newPassword: 'a brand new passphrase 42' } })
const remove = async (target: FastifyInstance, s: Session, password: string): Promise<LightMyRequestResponse> =>
  await target.inject({ method: 'DELETE', url: '/v1/users/me', headers: { authorization: `Bearer ${s.tokens.access}` }, payload: { password } })
const events = async (userId: string, type: string) => await prisma.auditEvent.findMany({ where: { userId, type }, orderBy: { id: 'asc' } })

for (const [route, attempt] of [['POST /v1/users/me/password', change], ['DELETE /v1/users/me', remove]] as const) {
  t.test(`${route}: a stolen access token gets ${THRESHOLD} guesses, then its session ends`, async (t) => {
    const s = await register(app)
    for (let i = 1; i < THRESHOLD; i++) {
      const res = await attempt(app, s, `wrong guess ${i}`)
      assertProblem(t, res, 400, 'validation_failed')
      t.match(res.json().errors, [{ code: 'invalid_password' }], `guess ${i}: the usual field error`)
    }
    const last = await attempt(app, s, 'wrong guess last')
    assertProblem(t, last, 401, 'token_invalid')
    t.match(last.headers['www-authenticate'], /error="invalid_token"/)

    assertProblem(t, await me(app, s.tokens.access), 401, 'token_invalid')
    t.equal((await refresh(app, s.tokens.refresh)).statusCode, 401, 'the session\'s refresh token is dead too')
    const session = await prisma.session.findFirstOrThrow({ where: { userId: s.user.id } })
    t.equal(session.revokeReason, 'password_check_failed')

    const failed = await events(s.user.id, 'password_check_failed')
    t.equal(failed.length, THRESHOLD, 'every wrong password is audited')
    t.same(failed.map((e) => (e.detail as { failures?: number }).failures), [1, 2, 3], 'with the running count')
    t.equal((await events(s.user.id, 'account_locked')).length, 1, 'and the lock')
    t.notOk(JSON.stringify(failed.map((e) => e.detail)).includes('wrong guess'), 'no guessed password in the trail')

    // The account's key is locked, as after failed logins: even the right password waits.
    assertProblem(t, await login(app, s.email, s.password), 429, 'account_locked')
    t.ok(await prisma.user.findUnique({ where: { id: s.user.id } }), 'the account is still there')
  })
}

t.test('password checks and logins count together', async (t) => {
  const s = await register(app)
  for (let i = 0; i < THRESHOLD - 1; i++) assertProblem(t, await login(app, s.email, `wrong login ${i}`), 401, 'invalid_credentials')
  assertProblem(t, await change(app, s, 'wrong once'), 401, 'token_invalid')
  assertProblem(t, await me(app, s.tokens.access), 401, 'token_invalid')
})

t.test('while the account is locked, no password is checked and the session is left alone', async (t) => {
  const s = await register(app)
  const hashBefore = (await prisma.user.findUniqueOrThrow({ where: { id: s.user.id } })).passwordHash
  for (let i = 0; i < THRESHOLD; i++) await login(app, s.email, `wrong login ${i}`)
  const res = await change(app, s, s.password)
  assertProblem(t, res, 429, 'account_locked')
  t.ok(Number(res.headers['retry-after']) > 0, 'Retry-After says when')
  t.equal((await me(app, s.tokens.access)).statusCode, 200, 'the caller\'s session is not ended by someone else\'s lock')
  t.equal((await prisma.user.findUniqueOrThrow({ where: { id: s.user.id } })).passwordHash, hashBefore, 'the password did not change')
  const failed = await events(s.user.id, 'password_check_failed')
  t.same(failed.map((e) => (e.detail as { reason?: string }).reason), ['locked'], 'audited as refused while locked')
})

t.test('the right password after a few wrong ones still changes it', async (t) => {
  const s = await register(app)
  assertProblem(t, await change(app, s, 'wrong'), 400, 'validation_failed')
  t.equal((await change(app, s, s.password)).statusCode, 204)
})

t.test('LOCKOUT_THRESHOLD=0: wrong passwords are audited but lock nothing', async (t) => {
  const s = await register(off.app)
  for (let i = 0; i < 5; i++) assertProblem(t, await change(off.app, s, `wrong ${i}`), 400, 'validation_failed')
  t.equal((await me(off.app, s.tokens.access)).statusCode, 200)
  t.equal(await off.database.prisma.auditEvent.count({ where: { userId: s.user.id, type: 'password_check_failed' } }), 5)
})
