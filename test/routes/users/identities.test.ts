// The caller's identities at other providers: list, link (through the provider and its
// callback), unlink — and the rules: an identity belongs to one account, and the last way into
// an account cannot be unlinked.
import t from 'tap'
import { assertProblem, buildWithDatabase, register } from '../../helper.js'
import { startGitHubStandIn } from '../../support/github-stand-in.js'
import { startOidcProvider } from '../../support/oidc-provider.js'
import { FRONTEND, PUBLIC_URL, callback, errorOf, oidcClients, oidcEntry, providerAccount, signInWith, stateCookieOf } from '../../support/provider-flows.js'

const op = await startOidcProvider({ clients: oidcClients() })
t.teardown(op.close)
const github = await startGitHubStandIn({ clientId: 'gh-client', clientSecret: 'gh-secret' })
t.teardown(github.close)

const { app, database } = await buildWithDatabase(t, {
  AUTH_PROVIDERS: JSON.stringify([oidcEntry(op), { id: 'github', type: 'github', clientId: 'gh-client', clientSecret: 'gh-secret', ...github.endpoints }]),
  PUBLIC_URL,
  FRONTEND_URL: FRONTEND,
  CORS_ORIGINS: FRONTEND
})

const bearer = (access: string) => ({ authorization: `Bearer ${access}` })
const list = async (access: string) => await app.inject({ method: 'GET', url: '/v1/users/me/identities', headers: bearer(access) })

/** POST …/identities/{provider}/start as `access`, then the provider as `account`, then the callback. */
async function link (access: string, account: string, next?: string) {
  const begun = await app.inject({ method: 'POST', url: '/v1/users/me/identities/corp/start', headers: bearer(access), payload: next === undefined ? {} : { next } })
  if (begun.statusCode !== 200) throw new Error(`link start: ${begun.statusCode} ${begun.body}`)
  const cookie = stateCookieOf(begun)
  return await callback(app, await op.authorize(begun.json().url, account), cookie)
}

/** A session of an account made by a provider sign-in (no password). */
async function providerMadeSession (email: string) {
  const account = providerAccount(op, { email, email_verified: true })
  const res = await signInWith(app, op, account)
  const refreshCookie = res.cookies.find((c) => c.name === '__Host-authd_refresh')?.value ?? ''
  const csrf = res.cookies.find((c) => c.name === '__Host-authd_csrf')?.value ?? ''
  const tokens = await app.inject({ method: 'POST', url: '/v1/browser/auth/refresh', headers: { origin: FRONTEND, 'x-csrf-token': csrf }, cookies: { '__Host-authd_refresh': refreshCookie } })
  return { access: tokens.json().tokens.access as string, account }
}

t.test('linking: start answers the URL (no redirect) and the state cookie; the callback links to the caller, whatever the addresses', async (t) => {
  const s = await register(app)
  t.same((await list(s.tokens.access)).json(), [])
  const begun = await app.inject({ method: 'POST', url: '/v1/users/me/identities/corp/start', headers: bearer(s.tokens.access), payload: { next: '/settings' } })
  t.equal(begun.statusCode, 200)
  t.match(begun.json().url, new RegExp(`^${op.issuer}/`))
  t.match(stateCookieOf(begun), { httpOnly: true, sameSite: 'Lax', path: '/v1/browser/auth/providers/corp/callback' })
  // Another address, unverified: an explicit link by the signed-in owner needs neither to match.
  const account = providerAccount(op, { email: 'elsewhere@example.com', email_verified: false })
  const res = await callback(app, await op.authorize(begun.json().url, account), stateCookieOf(begun))
  t.equal(res.headers.location, `${FRONTEND}/settings`)
  t.notOk(res.cookies.some((c) => c.name === '__Host-authd_refresh' && c.value !== ''), 'linking opens no session')
  const identities = (await list(s.tokens.access)).json()
  t.match(identities, [{ provider: 'corp', subject: account, email: 'elsewhere@example.com', createdAt: String, id: String }])
  t.ok(await database.prisma.auditEvent.findFirst({ where: { type: 'identity_linked', userId: s.user.id } }))
  t.equal((await link(s.tokens.access, account)).headers.location, `${FRONTEND}/`, 'linking it again changes nothing')
  t.equal((await list(s.tokens.access)).json().length, 1)

  t.test('…and the identity then signs in to that account', async (t) => {
    const signedIn = await signInWith(app, op, account)
    t.equal(signedIn.headers.location, `${FRONTEND}/`)
    const loginEvent = await database.prisma.auditEvent.findFirst({ where: { type: 'provider_login', userId: s.user.id } })
    t.ok(loginEvent)
  })
})

t.test('the identity of user A cannot be linked to user B', async (t) => {
  const a = await register(app)
  const b = await register(app)
  const account = providerAccount(op, { email: a.email, email_verified: true })
  await link(a.tokens.access, account)
  const res = await link(b.tokens.access, account)
  t.equal(errorOf(res), 'identity_in_use')
  t.same((await list(b.tokens.access)).json(), [])
  t.equal((await list(a.tokens.access)).json().length, 1)
})

t.test('a link whose account was deactivated meanwhile is refused', async (t) => {
  const s = await register(app)
  const begun = await app.inject({ method: 'POST', url: '/v1/users/me/identities/corp/start', headers: bearer(s.tokens.access) })
  await database.prisma.user.update({ where: { id: s.user.id }, data: { isActive: false } })
  const res = await callback(app, await op.authorize(begun.json().url, providerAccount(op, {})), stateCookieOf(begun))
  t.equal(errorOf(res), 'account_inactive')
  t.equal(await database.prisma.identity.count({ where: { userId: s.user.id } }), 0)
})

t.test('unlinking: 204, but never the last way into the account', async (t) => {
  const { access } = await providerMadeSession(`only-${Date.now()}@example.com`)
  const [only] = (await list(access)).json()
  assertProblem(t, await app.inject({ method: 'DELETE', url: `/v1/users/me/identities/${only.id}`, headers: bearer(access) }), 409, 'last_login_method')
  t.equal((await list(access)).json().length, 1, 'still linked')

  // A second identity (GitHub) makes the first one removable, and then the second is the last.
  github.signIn({ id: 4242, login: 'octo', emails: [{ email: 'octo@example.com', primary: true, verified: true }] })
  const begun = await app.inject({ method: 'POST', url: '/v1/users/me/identities/github/start', headers: bearer(access) })
  const approved = await fetch(begun.json().url, { redirect: 'manual' })
  t.equal((await callback(app, approved.headers.get('location') ?? '', stateCookieOf(begun))).headers.location, `${FRONTEND}/`)
  const both = (await list(access)).json() as Array<{ id: string, provider: string }>
  t.same(both.map((i) => i.provider).sort(), ['corp', 'github'])
  const removed = await app.inject({ method: 'DELETE', url: `/v1/users/me/identities/${only.id}`, headers: bearer(access) })
  t.equal(removed.statusCode, 204)
  t.ok(await database.prisma.auditEvent.findFirst({ where: { type: 'identity_unlinked' } }))
  const last = both.find((i) => i.provider === 'github')
  assertProblem(t, await app.inject({ method: 'DELETE', url: `/v1/users/me/identities/${last?.id ?? ''}`, headers: bearer(access) }), 409, 'last_login_method')
})

t.test('an account with a password may unlink its only identity; ids of others or malformed are 404', async (t) => {
  const s = await register(app)
  const other = await register(app)
  await link(s.tokens.access, providerAccount(op, {}))
  const [identity] = (await list(s.tokens.access)).json()
  assertProblem(t, await app.inject({ method: 'DELETE', url: `/v1/users/me/identities/${identity.id}`, headers: bearer(other.tokens.access) }), 404, 'not_found')
  assertProblem(t, await app.inject({ method: 'DELETE', url: '/v1/users/me/identities/not-a-uuid', headers: bearer(s.tokens.access) }), 404, 'not_found')
  t.equal((await app.inject({ method: 'DELETE', url: `/v1/users/me/identities/${identity.id}`, headers: bearer(s.tokens.access) })).statusCode, 204)
  assertProblem(t, await app.inject({ method: 'DELETE', url: `/v1/users/me/identities/${identity.id}`, headers: bearer(s.tokens.access) }), 404, 'not_found')
})

t.test('the routes need a live session; an unknown provider is 404', async (t) => {
  assertProblem(t, await app.inject({ method: 'GET', url: '/v1/users/me/identities' }), 401, 'authentication_required')
  assertProblem(t, await app.inject({ method: 'POST', url: '/v1/users/me/identities/corp/start' }), 401, 'authentication_required')
  const s = await register(app)
  assertProblem(t, await app.inject({ method: 'POST', url: '/v1/users/me/identities/nope/start', headers: bearer(s.tokens.access) }), 404, 'provider_unknown')
})
