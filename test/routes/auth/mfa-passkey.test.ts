// A passkey as the second step of a password login (methods: ["webauthn"]) and for
// re-authentication: only a passkey of the very account counts, each assertion once.
import { decodeJwt } from 'jose'
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { totpCodeAt } from '../../../src/services/totp.js'
import { softAuthenticator } from '../../support/soft-authenticator.js'
import { assertProblem, buildWithDatabase, login, register, type Session } from '../../helper.js'

const bearer = (access: string) => ({ authorization: `Bearer ${access}` })
const env = { WEBAUTHN_RP_ID: 'localhost', WEBAUTHN_ORIGINS: 'http://localhost:5173' }

/** A user with TOTP on and one passkey on a software authenticator. */
async function withTotpAndPasskey (app: FastifyInstance) {
  const s: Session = await register(app)
  const headers = bearer(s.tokens.access)
  const { secret } = (await app.inject({ method: 'POST', url: '/v1/users/me/mfa/totp', headers })).json()
  await app.inject({ method: 'POST', url: '/v1/users/me/mfa/totp/confirm', headers, payload: { code: totpCodeAt(secret, Date.now()) } })
  const authenticator = softAuthenticator()
  const options = (await app.inject({ method: 'POST', url: '/v1/users/me/passkeys/options', headers })).json()
  const added = await app.inject({ method: 'POST', url: '/v1/users/me/passkeys', headers, payload: { response: authenticator.create(options), name: 'Laptop' } })
  if (added.statusCode !== 201) throw new Error(`passkey: ${added.body}`)
  return { s, secret, authenticator }
}

const assertionOptions = async (app: FastifyInstance) => (await app.inject({ method: 'POST', url: '/v1/app/auth/passkey/options' })).json()

t.test('a password login\'s second step with a passkey: amr pwd + key + mfa; a replay and another account\'s passkey are refused', async (t) => {
  const { app, database } = await buildWithDatabase(t, env)
  const { s, authenticator } = await withTotpAndPasskey(app)
  const first = await login(app, s.email, s.password)
  t.same(first.json().methods, ['totp', 'recovery_code', 'webauthn'], 'the passkey is offered')
  const assertion = authenticator.get(await assertionOptions(app))
  const done = await app.inject({ method: 'POST', url: '/v1/app/auth/mfa', payload: { mfaToken: first.json().mfaToken, webauthn: assertion } })
  t.equal(done.statusCode, 200, done.body)
  t.same(decodeJwt(done.json().tokens.access).amr, ['pwd', 'hwk', 'mfa'])

  // The same assertion again, with a new mfaToken: its challenge is used up.
  const again = await login(app, s.email, s.password)
  assertProblem(t, await app.inject({ method: 'POST', url: '/v1/app/auth/mfa', payload: { mfaToken: again.json().mfaToken, webauthn: assertion } }), 400, 'webauthn_failed')

  // A valid assertion of someone else's passkey does not complete this account's login.
  const other = await withTotpAndPasskey(app)
  const foreign = other.authenticator.get(await assertionOptions(app))
  assertProblem(t, await app.inject({ method: 'POST', url: '/v1/app/auth/mfa', payload: { mfaToken: again.json().mfaToken, webauthn: foreign } }), 400, 'webauthn_failed')
  t.ok(await database.prisma.auditEvent.count({ where: { userId: s.user.id, type: 'mfa_failed' } }) >= 2, 'each failure counted and audited')
  assertProblem(t, await app.inject({ method: 'POST', url: '/v1/app/auth/mfa', payload: { mfaToken: again.json().mfaToken, webauthn: foreign, code: '123456' } }), 400, 'validation_failed')
})

t.test('re-authentication with a passkey refreshes auth_time; another account\'s passkey does not', async (t) => {
  const { app, database } = await buildWithDatabase(t, env)
  const { s, authenticator } = await withTotpAndPasskey(app)
  const other = await withTotpAndPasskey(app)
  await database.prisma.session.updateMany({ where: { userId: s.user.id }, data: { authTime: new Date(Date.now() - 3600_000) } })
  const headers = bearer(s.tokens.access)
  assertProblem(t, await app.inject({ method: 'POST', url: '/v1/users/me/mfa/recovery-codes', headers }), 403, 'reauthentication_required')
  assertProblem(t, await app.inject({ method: 'POST', url: '/v1/users/me/reauthenticate', headers, payload: { webauthn: other.authenticator.get(await assertionOptions(app)) } }), 400, 'webauthn_failed')
  const step = await app.inject({ method: 'POST', url: '/v1/users/me/reauthenticate', headers, payload: { webauthn: authenticator.get(await assertionOptions(app)) } })
  t.equal(step.statusCode, 204, step.body)
  t.equal((await app.inject({ method: 'POST', url: '/v1/users/me/mfa/recovery-codes', headers })).statusCode, 200, 'the sensitive action is allowed now')
  const session = await database.prisma.session.findFirstOrThrow({ where: { userId: s.user.id }, orderBy: { authTime: 'desc' } })
  t.same(session.amr, ['pwd', 'hwk', 'mfa'], 'the session says how it re-authenticated')
})
