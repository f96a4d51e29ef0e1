// Passkeys (WebAuthn) without a browser: a software authenticator (test/support/soft-authenticator.ts)
// gives real, verifiable responses, and the attacks each rule is there to stop — a replayed
// assertion, a second answer to one challenge, another user's challenge, a foreign origin, no
// user verification, a cloned authenticator (a counter that does not grow), an unknown
// credential, a user handle naming someone else — and ownership of rename and delete.
// The real-browser proof is test/browser/passkeys.e2e.ts.
import { decodeJwt } from 'jose'
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { assertProblem, buildWithDatabase, me, register, testConfig, type Session } from '../../helper.js'
import { webauthnOrigins } from '../../../src/services/passkey-service.js'
import { softAuthenticator } from '../../support/soft-authenticator.js'

const bearer = (access: string) => ({ authorization: `Bearer ${access}` })
const env = { WEBAUTHN_RP_ID: 'localhost', WEBAUTHN_ORIGINS: 'http://localhost:5173' }

async function registrationOptions (app: FastifyInstance, s: Session) {
  const res = await app.inject({ method: 'POST', url: '/v1/users/me/passkeys/options', headers: bearer(s.tokens.access) })
  if (res.statusCode !== 200) throw new Error(`options: ${res.body}`)
  return res.json()
}

const addPasskey = async (app: FastifyInstance, s: Session, response: unknown, name?: string) =>
  await app.inject({ method: 'POST', url: '/v1/users/me/passkeys', headers: bearer(s.tokens.access), payload: { response, ...(name === undefined ? {} : { name }) } })

/** A user with one registered passkey on a fresh software authenticator. */
async function withPasskey (app: FastifyInstance, options: Parameters<typeof softAuthenticator>[0] = {}) {
  const s = await register(app)
  const authenticator = softAuthenticator(options)
  const res = await addPasskey(app, s, authenticator.create(await registrationOptions(app, s)), 'Laptop')
  if (res.statusCode !== 201) throw new Error(`register passkey: ${res.body}`)
  return { s, authenticator, passkeyId: res.json().id as string }
}

async function loginOptions (app: FastifyInstance, client = 'app') {
  const res = await app.inject({ method: 'POST', url: `/v1/${client}/auth/passkey/options`, headers: client === 'browser' ? { origin: 'http://localhost:5173' } : {} })
  if (res.statusCode !== 200) throw new Error(`login options: ${res.body}`)
  return res.json()
}

const passkeyLogin = async (app: FastifyInstance, response: unknown) =>
  await app.inject({ method: 'POST', url: '/v1/app/auth/passkey', payload: { response } })

t.test('registration options: a discoverable credential with user verification, attestation none, the RP and user, the existing passkeys excluded', async (t) => {
  const { app } = await buildWithDatabase(t, env)
  const s = await register(app)
  const options = await registrationOptions(app, s)
  t.match(options, {
    challenge: /^[A-Za-z0-9_-]{16,}$/,
    rp: { id: 'localhost', name: String },
    user: { name: s.email },
    attestation: 'none',
    excludeCredentials: [],
    authenticatorSelection: { residentKey: 'required', userVerification: 'required' }
  })
  t.equal(Buffer.from(options.user.id, 'base64url').toString('utf8'), s.user.id, 'the user handle is the user id')
  const authenticator = softAuthenticator()
  const added = await addPasskey(app, s, authenticator.create(options))
  t.equal(added.statusCode, 201, added.body)
  t.match(added.json(), { id: String, name: 'Passkey', createdAt: String }, 'a default name')
  const again = await registrationOptions(app, s)
  t.same(again.excludeCredentials.map((c: { id: string }) => c.id), [authenticator.credentialId], 'the registered one is excluded')
  t.not(again.challenge, options.challenge, 'a new challenge each time')
})

t.test('register, list in GET /me/mfa, then a passwordless login: tokens with amr hwk+user+mfa and the passkey marked used', async (t) => {
  const { app, database } = await buildWithDatabase(t, env)
  const { s, authenticator, passkeyId } = await withPasskey(app)
  const status = await app.inject({ method: 'GET', url: '/v1/users/me/mfa', headers: bearer(s.tokens.access) })
  t.match(status.json(), { totp: false, passkeys: [{ id: passkeyId, name: 'Laptop', createdAt: String, lastUsedAt: null }] })

  const res = await passkeyLogin(app, authenticator.get(await loginOptions(app)))
  t.equal(res.statusCode, 200, res.body)
  t.equal(res.json().user.id, s.user.id)
  const claims = decodeJwt(res.json().tokens.access)
  t.same(claims.amr, ['hwk', 'user', 'mfa'], 'a device-bound key and a verified user')
  t.type(claims.auth_time, 'number')
  t.equal((await me(app, res.json().tokens.access)).statusCode, 200, 'the access token works')
  const stored = await database.prisma.passkey.findUniqueOrThrow({ where: { id: passkeyId } })
  t.equal(Number(stored.counter), 1, 'counter stored')
  t.ok(stored.lastUsedAt, 'last use recorded')
  const events = await database.prisma.auditEvent.findMany({ where: { userId: s.user.id }, orderBy: { id: 'asc' } })
  t.ok(events.some((e) => e.type === 'passkey_added'), 'passkey_added audited')
  t.ok(events.some((e) => e.type === 'passkey_used'), 'passkey_used audited')
  t.match(events.find((e) => e.type === 'login_succeeded' && (e.detail as { method?: string }).method === 'passkey'), { detail: { passkeyId } })

  // A synced (backed-up) passkey says swk instead.
  const synced = await withPasskey(app, { backedUp: true })
  const res2 = await passkeyLogin(app, synced.authenticator.get(await loginOptions(app)))
  t.same(decodeJwt(res2.json().tokens.access).amr, ['swk', 'user', 'mfa'])
})

t.test('a passkey login with TOTP on needs no second step (user verification is the second factor)', async (t) => {
  const { app, database } = await buildWithDatabase(t, env)
  const { s, authenticator } = await withPasskey(app)
  await database.prisma.mfaTotp.create({ data: { userId: s.user.id, secretEncrypted: 'x', confirmedAt: new Date() } })
  const res = await passkeyLogin(app, authenticator.get(await loginOptions(app)))
  t.equal(res.statusCode, 200, res.body)
  t.ok(res.json().tokens, 'tokens, not mfaRequired')
})

t.test('the browser client: cookies as a browser login; a foreign Origin is refused', async (t) => {
  const { app } = await buildWithDatabase(t, { ...env, CORS_ORIGINS: 'http://localhost:5173', COOKIE_SECURE: 'false' })
  const { authenticator } = await withPasskey(app)
  assertProblem(t, await app.inject({ method: 'POST', url: '/v1/browser/auth/passkey/options', headers: { origin: 'https://evil.example' } }), 403, 'csrf_failed')
  const res = await app.inject({ method: 'POST', url: '/v1/browser/auth/passkey', headers: { origin: 'http://localhost:5173' }, payload: { response: authenticator.get(await loginOptions(app, 'browser')) } })
  t.equal(res.statusCode, 200, res.body)
  t.match(res.json(), { user: Object, tokens: { access: String, csrfToken: String } })
  t.notOk(res.json().tokens.refresh, 'no refresh token in the body')
  t.ok(res.cookies.some((c) => c.name.includes('authd_refresh') && c.httpOnly === true), 'refresh cookie set')
})

t.test('replays: an assertion works once, a challenge works once, a registration response works once', async (t) => {
  const { app } = await buildWithDatabase(t, env)
  const { s, authenticator } = await withPasskey(app)
  const options = await loginOptions(app)
  const assertion = authenticator.get(options)
  t.equal((await passkeyLogin(app, assertion)).statusCode, 200)
  assertProblem(t, await passkeyLogin(app, assertion), 400, 'webauthn_failed')
  // A fresh assertion (higher counter, valid signature) over the used challenge.
  assertProblem(t, await passkeyLogin(app, authenticator.get(options)), 400, 'webauthn_failed')
  // A challenge of ours that was never handed out for a login (a registration challenge).
  assertProblem(t, await passkeyLogin(app, authenticator.get(await registrationOptions(app, s))), 400, 'webauthn_failed')

  // Registration: the same response twice, and a second answer to one challenge.
  const regOptions = await registrationOptions(app, s)
  const other = softAuthenticator()
  const response = other.create(regOptions)
  t.equal((await addPasskey(app, s, response)).statusCode, 201)
  assertProblem(t, await addPasskey(app, s, response), 400, 'webauthn_failed')
  assertProblem(t, await addPasskey(app, s, softAuthenticator().create(regOptions)), 400, 'webauthn_failed')
  // A login challenge is not a registration challenge either.
  assertProblem(t, await addPasskey(app, s, softAuthenticator().create({ ...regOptions, challenge: (await loginOptions(app)).challenge })), 400, 'webauthn_failed')
})

t.test('challenges expire, and expired ones are swept', async (t) => {
  const { app, database } = await buildWithDatabase(t, env)
  const { authenticator } = await withPasskey(app)
  const options = await loginOptions(app)
  await database.prisma.webauthnChallenge.updateMany({ data: { expiresAt: new Date(Date.now() - 1000) } })
  assertProblem(t, await passkeyLogin(app, authenticator.get(options)), 400, 'webauthn_failed')
  // Unanswered ones do not pile up: each new challenge sweeps expired ones away.
  await database.prisma.webauthnChallenge.createMany({ data: Array.from({ length: 5 }, (_, i) => ({ challengeHash: `stale-${i}`, purpose: 'login', expiresAt: new Date(Date.now() - 1000) })) })
  await loginOptions(app)
  t.equal(await database.prisma.webauthnChallenge.count({ where: { expiresAt: { lt: new Date() } } }), 0, 'expired challenges swept')
  t.equal(await database.prisma.webauthnChallenge.count(), 1, 'the new one stays')
})

t.test('a registration challenge belongs to the user who asked for it', async (t) => {
  const { app } = await buildWithDatabase(t, env)
  const alice = await register(app)
  const mallory = await register(app)
  const aliceOptions = await registrationOptions(app, alice)
  assertProblem(t, await addPasskey(app, mallory, softAuthenticator().create(aliceOptions)), 400, 'webauthn_failed')
  t.equal((await addPasskey(app, alice, softAuthenticator().create(aliceOptions))).statusCode, 201, 'still Alice\'s to use')
})

t.test('refused: a foreign origin, another RP id, no user verification, an unknown credential, a user handle naming someone else', async (t) => {
  const { app } = await buildWithDatabase(t, env)
  const { s, authenticator } = await withPasskey(app)
  const victim = await register(app)
  assertProblem(t, await addPasskey(app, s, softAuthenticator({ origin: 'https://evil.example' }).create(await registrationOptions(app, s))), 400, 'webauthn_failed')
  assertProblem(t, await addPasskey(app, s, softAuthenticator({ rpId: 'evil.example' }).create(await registrationOptions(app, s))), 400, 'webauthn_failed')
  assertProblem(t, await addPasskey(app, s, softAuthenticator({ userVerified: false }).create(await registrationOptions(app, s))), 400, 'webauthn_failed')

  assertProblem(t, await passkeyLogin(app, authenticator.get(await loginOptions(app), { origin: 'https://evil.example' })), 400, 'webauthn_failed')
  assertProblem(t, await passkeyLogin(app, authenticator.get(await loginOptions(app), { userVerified: false })), 400, 'webauthn_failed')
  const stranger = softAuthenticator()
  stranger.create({ challenge: 'x', user: { id: Buffer.from(s.user.id).toString('base64url') } })
  assertProblem(t, await passkeyLogin(app, stranger.get(await loginOptions(app))), 400, 'webauthn_failed')
  assertProblem(t, await passkeyLogin(app, authenticator.get(await loginOptions(app), { userHandle: Buffer.from(victim.user.id).toString('base64url') })), 400, 'webauthn_failed')
  // Garbage in the right shape is a 400, never a 500.
  assertProblem(t, await passkeyLogin(app, { id: authenticator.credentialId, rawId: authenticator.credentialId, type: 'public-key', response: { clientDataJSON: 'not json' }, clientExtensionResults: {} }), 400, 'webauthn_failed')
  assertProblem(t, await addPasskey(app, s, { id: 'x', rawId: 'x', type: 'public-key', response: { clientDataJSON: 'e30' }, clientExtensionResults: {} }), 400, 'webauthn_failed')
  // After all that, the owner still logs in.
  t.equal((await passkeyLogin(app, authenticator.get(await loginOptions(app)))).statusCode, 200)
})

t.test('a cloned authenticator: a counter that does not grow is refused and opens no session', async (t) => {
  const { app, database } = await buildWithDatabase(t, env)
  const { s, authenticator, passkeyId } = await withPasskey(app)
  t.equal((await passkeyLogin(app, authenticator.get(await loginOptions(app), { counter: 5 }))).statusCode, 200)
  const sessions = await database.prisma.session.count({ where: { userId: s.user.id } })
  assertProblem(t, await passkeyLogin(app, authenticator.get(await loginOptions(app), { counter: 5 })), 400, 'webauthn_failed')
  assertProblem(t, await passkeyLogin(app, authenticator.get(await loginOptions(app), { counter: 3 })), 400, 'webauthn_failed')
  t.equal(await database.prisma.session.count({ where: { userId: s.user.id } }), sessions, 'no session opened')
  t.equal(Number((await database.prisma.passkey.findUniqueOrThrow({ where: { id: passkeyId } })).counter), 5, 'counter unchanged')
  // Two logins racing with one counter value: the conditional UPDATE lets one through.
  t.equal(await app.db.repos.passkeys.recordUse(passkeyId, 5), false, 'the repository refuses a counter that did not grow')
  t.equal(await app.db.repos.passkeys.recordUse(passkeyId, 4), false, 'or went back')
  t.equal((await passkeyLogin(app, authenticator.get(await loginOptions(app), { counter: 6 }))).statusCode, 200, 'a growing counter works')
})

t.test('two logins racing with one counter value (a clone used at once): one session, not two', async (t) => {
  const { app, database } = await buildWithDatabase(t, env)
  const { s, authenticator } = await withPasskey(app)
  const [a, b] = [await loginOptions(app), await loginOptions(app)]
  const results = await Promise.all([passkeyLogin(app, authenticator.get(a, { counter: 7 })), passkeyLogin(app, authenticator.get(b, { counter: 7 }))])
  t.same(results.map((r) => r.statusCode).sort(), [200, 400], 'exactly one passes')
  t.equal(results.find((r) => r.statusCode === 400)?.json().code, 'webauthn_failed')
  // The registration opened one session, the winner the other.
  t.equal(await database.prisma.session.count({ where: { userId: s.user.id } }), 2)
})

t.test('an authenticator without a counter (always 0) is accepted', async (t) => {
  const { app } = await buildWithDatabase(t, env)
  const { authenticator } = await withPasskey(app)
  t.equal((await passkeyLogin(app, authenticator.get(await loginOptions(app), { counter: 0 }))).statusCode, 200)
  t.equal((await passkeyLogin(app, authenticator.get(await loginOptions(app), { counter: 0 }))).statusCode, 200)
})

t.test('a credential id registered to one account cannot be registered again, to it or to another', async (t) => {
  const { app } = await buildWithDatabase(t, env)
  const { s, authenticator } = await withPasskey(app)
  const other = await register(app)
  // The client could ignore excludeCredentials and answer with the same authenticator again.
  assertProblem(t, await addPasskey(app, s, authenticator.create(await registrationOptions(app, s))), 400, 'webauthn_failed')
  assertProblem(t, await addPasskey(app, other, authenticator.create(await registrationOptions(app, other))), 400, 'webauthn_failed')
  t.equal((await passkeyLogin(app, authenticator.get(await loginOptions(app), { userHandle: Buffer.from(s.user.id).toString('base64url') }))).json().user.id, s.user.id, 'still the first owner\'s')
})

t.test('with mandatory email verification, an address no longer verified cannot log in with a passkey', async (t) => {
  const { app, database } = await buildWithDatabase(t, env)
  const { s, authenticator } = await withPasskey(app)
  const res = await passkeyLogin(app, authenticator.get(await loginOptions(app)))
  t.equal(res.statusCode, 200)
  await database.prisma.user.update({ where: { id: s.user.id }, data: { emailVerified: false } })
  const strict = await buildWithDatabase(t, { ...env, EMAIL_VERIFICATION: 'mandatory', SMTP_URL: 'smtp://localhost:2525' }, { database })
  assertProblem(t, await passkeyLogin(strict.app, authenticator.get(await loginOptions(strict.app))), 403, 'email_not_verified')
})

t.test('a deactivated account cannot log in with its passkey', async (t) => {
  const { app, database } = await buildWithDatabase(t, env)
  const { s, authenticator } = await withPasskey(app)
  await database.prisma.user.update({ where: { id: s.user.id }, data: { isActive: false } })
  assertProblem(t, await passkeyLogin(app, authenticator.get(await loginOptions(app))), 400, 'webauthn_failed')
})

t.test('rename and delete: only one\'s own passkeys; delete needs a recent authentication', async (t) => {
  const { app, database } = await buildWithDatabase(t, env)
  const { s, authenticator, passkeyId } = await withPasskey(app)
  const other = await register(app)

  const renamed = await app.inject({ method: 'PATCH', url: `/v1/users/me/passkeys/${passkeyId}`, headers: bearer(s.tokens.access), payload: { name: 'Work laptop' } })
  t.equal(renamed.statusCode, 200, renamed.body)
  t.match(renamed.json(), { id: passkeyId, name: 'Work laptop', createdAt: String, lastUsedAt: null })
  assertProblem(t, await app.inject({ method: 'PATCH', url: `/v1/users/me/passkeys/${passkeyId}`, headers: bearer(other.tokens.access), payload: { name: 'mine now' } }), 404, 'not_found')
  assertProblem(t, await app.inject({ method: 'PATCH', url: '/v1/users/me/passkeys/not-a-uuid', headers: bearer(s.tokens.access), payload: { name: 'x' } }), 404, 'not_found')
  assertProblem(t, await app.inject({ method: 'PATCH', url: `/v1/users/me/passkeys/${passkeyId}`, headers: bearer(s.tokens.access), payload: { name: '' } }), 400, 'validation_failed')
  assertProblem(t, await app.inject({ method: 'DELETE', url: `/v1/users/me/passkeys/${passkeyId}`, headers: bearer(other.tokens.access) }), 404, 'not_found')
  assertProblem(t, await app.inject({ method: 'DELETE', url: '/v1/users/me/passkeys/not-a-uuid', headers: bearer(s.tokens.access) }), 404, 'not_found')
  t.equal((await database.prisma.passkey.findUniqueOrThrow({ where: { id: passkeyId } })).name, 'Work laptop', 'the other user changed nothing')

  // Step-up: a session whose last authentication is old may not remove a passkey.
  const sid = decodeJwt(s.tokens.access).sid as string
  await database.prisma.session.update({ where: { id: sid }, data: { authTime: new Date(Date.now() - 3600_000) } })
  assertProblem(t, await app.inject({ method: 'DELETE', url: `/v1/users/me/passkeys/${passkeyId}`, headers: bearer(s.tokens.access) }), 403, 'reauthentication_required')
  await database.prisma.session.update({ where: { id: sid }, data: { authTime: new Date() } })
  const deleted = await app.inject({ method: 'DELETE', url: `/v1/users/me/passkeys/${passkeyId}`, headers: bearer(s.tokens.access) })
  t.equal(deleted.statusCode, 204)
  t.match(await database.prisma.auditEvent.findFirst({ where: { userId: s.user.id, type: 'passkey_removed' } }), { detail: { passkeyId, left: 0 } })
  assertProblem(t, await app.inject({ method: 'DELETE', url: `/v1/users/me/passkeys/${passkeyId}`, headers: bearer(s.tokens.access) }), 404, 'not_found')
  assertProblem(t, await passkeyLogin(app, authenticator.get(await loginOptions(app))), 400, 'webauthn_failed')
})

t.test('the defaults: RP id from FRONTEND_URL\'s host, origins FRONTEND_URL plus CORS_ORIGINS; a bad WEBAUTHN_ORIGINS is refused', async (t) => {
  const { app } = await buildWithDatabase(t, { FRONTEND_URL: 'http://localhost:4173/app', CORS_ORIGINS: 'http://localhost:5173' })
  const s = await register(app)
  const options = await registrationOptions(app, s)
  t.equal(options.rp.id, 'localhost')
  t.equal(options.rp.name, 'localhost')
  t.equal((await addPasskey(app, s, softAuthenticator({ origin: 'http://localhost:4173' }).create(options))).statusCode, 201, 'FRONTEND_URL\'s origin')
  t.equal((await addPasskey(app, s, softAuthenticator({ origin: 'http://localhost:5173' }).create(await registrationOptions(app, s)))).statusCode, 201, 'a CORS origin')
  t.throws(() => webauthnOrigins(testConfig(t, { WEBAUTHN_ORIGINS: 'https://app.example.com/path' }), []), /WEBAUTHN_ORIGINS/)
})
