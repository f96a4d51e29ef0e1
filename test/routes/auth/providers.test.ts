// Sign in with an OpenID provider from a browser: a real provider (oidc-provider) started here,
// its login and consent pages driven as a browser would drive them, authd's start and callback.
// Each security rule of the flow gets an attempt to break it.
import t from 'tap'
import { assertProblem, buildWithDatabase, login, register } from '../../helper.js'
import { startOidcProvider } from '../../support/oidc-provider.js'
import { FRONTEND, PUBLIC_URL, callback, callbackUrl, claimsOf, enableTotp, errorOf, oidcClients, oidcEntry, providerAccount, signInWith, start } from '../../support/provider-flows.js'
import { totpCodeAt } from '../../../src/services/totp.js'

const op = await startOidcProvider({ clients: oidcClients(['corp', 'bare']) })
t.teardown(op.close)

const { app, database } = await buildWithDatabase(t, {
  // `bare` asks for no email scope: the ID token and userinfo then hold no address.
  AUTH_PROVIDERS: JSON.stringify([oidcEntry(op), oidcEntry(op, { id: 'bare', name: 'Bare', scopes: ['openid'] })]),
  PUBLIC_URL,
  FRONTEND_URL: FRONTEND,
  CORS_ORIGINS: FRONTEND
})

const sessionsOf = async (userId: string) => await database.prisma.session.count({ where: { userId } })
const eventsOf = async (type: string) => await database.prisma.auditEvent.findMany({ where: { type }, orderBy: { createdAt: 'asc' } })
const SESSION_COOKIES = ['__Host-authd_csrf', '__Host-authd_refresh']
const sessionCookies = (res: { cookies: Array<{ name: string, value: string }> }) => res.cookies.filter((c) => SESSION_COOKIES.includes(c.name) && c.value !== '')

t.test('GET /providers lists the configured providers', async (t) => {
  const res = await app.inject({ method: 'GET', url: '/v1/browser/auth/providers' })
  t.equal(res.statusCode, 200)
  t.same(res.json(), [{ id: 'corp', name: 'Corp SSO' }, { id: 'bare', name: 'Bare' }])
})

t.test('start: a redirect to the provider with PKCE S256, state and nonce; the state in a short-lived HttpOnly cookie on the callback path', async (t) => {
  const { res, location, cookie } = await start(app, 'corp', '/after')
  const url = new URL(location)
  t.equal(url.origin, op.issuer)
  t.equal(url.searchParams.get('client_id'), 'authd')
  t.equal(url.searchParams.get('redirect_uri'), callbackUrl('corp'))
  t.equal(url.searchParams.get('code_challenge_method'), 'S256')
  t.match(url.searchParams.get('code_challenge'), /^[\w-]{43}$/)
  t.ok(url.searchParams.get('state'))
  t.ok(url.searchParams.get('nonce'))
  t.equal(url.searchParams.get('scope'), 'openid email profile')
  t.equal(cookie.name, '__Secure-authd_provider_state')
  t.equal(cookie.httpOnly, true)
  t.equal(cookie.secure, true)
  t.equal(cookie.sameSite, 'Lax')
  t.equal(cookie.path, '/v1/browser/auth/providers/corp/callback')
  t.equal(cookie.maxAge, 600)
  t.notOk(cookie.value.includes(url.searchParams.get('state') ?? '-'), 'the state is sealed, not in clear')
  t.equal(sessionCookies(res).length, 0)
})

t.test('first sign-in creates a verified account without a password; the cookies are a browser login\'s and refresh works with them', async (t) => {
  const email = `new-${Date.now()}@example.com`
  const account = providerAccount(op, { email, email_verified: true })
  const res = await signInWith(app, op, account, { next: '/dashboard?tab=1' })
  t.equal(res.statusCode, 302)
  t.equal(res.headers.location, `${FRONTEND}/dashboard?tab=1`)
  // The same cookies, with the same attributes, as a browser password login sets.
  const password = await register(app)
  const browserLogin = await app.inject({ method: 'POST', url: '/v1/browser/auth/login', headers: { origin: FRONTEND }, payload: { login: password.email, password: password.password } })
  const shape = (c: Record<string, unknown>) => ({ name: c.name, path: c.path, httpOnly: c.httpOnly ?? false, secure: c.secure, sameSite: c.sameSite, domain: c.domain })
  t.same(res.cookies.filter((c) => c.name !== '__Secure-authd_provider_state').map(shape).sort((a, b) => String(a.name).localeCompare(String(b.name))),
    browserLogin.cookies.map(shape).sort((a, b) => String(a.name).localeCompare(String(b.name))), 'the cookies of a browser login')
  const state = res.cookies.find((c) => c.name === '__Secure-authd_provider_state')
  t.equal(state?.value, '', 'the state cookie is cleared')
  const refreshCookie = res.cookies.find((c) => c.name === '__Host-authd_refresh')
  const csrf = res.cookies.find((c) => c.name === '__Host-authd_csrf')
  const refreshed = await app.inject({
    method: 'POST',
    url: '/v1/browser/auth/refresh',
    headers: { origin: FRONTEND, 'x-csrf-token': csrf?.value ?? '' },
    cookies: { '__Host-authd_refresh': refreshCookie?.value ?? '' }
  })
  t.equal(refreshed.statusCode, 200, refreshed.body)
  const access = refreshed.json().tokens.access as string
  t.same(claimsOf(access).amr, ['fed'], 'amr fed')
  const me = await app.inject({ method: 'GET', url: '/v1/users/me', headers: { authorization: `Bearer ${access}` } })
  t.equal(me.json().email, email)
  t.equal(me.json().emailVerified, true, 'verified, as the provider says')
  t.equal(me.json().username, null, 'no username')
  const identities = await app.inject({ method: 'GET', url: '/v1/users/me/identities', headers: { authorization: `Bearer ${access}` } })
  t.match(identities.json(), [{ provider: 'corp', subject: account, email }])
  t.ok((await eventsOf('provider_login')).some((e) => e.userId === me.json().id), 'audited')

  t.test('a provider-made account cannot log in with any password', async (t) => {
    for (const password of ['', '!', 'correct horse battery staple', 'x'.repeat(64)]) {
      const res = await login(app, email, password)
      t.ok([400, 401].includes(res.statusCode), `refused (${password.length} characters)`)
      if (res.statusCode === 401) t.equal(res.json().code, 'invalid_credentials', 'exactly as a wrong password')
    }
  })

  t.test('the next sign-in finds the same account by its identity', async (t) => {
    const again = await signInWith(app, op, account)
    t.equal(again.headers.location, `${FRONTEND}/`)
    t.equal(await database.prisma.user.count({ where: { email } }), 1)
    t.equal(await database.prisma.identity.count({ where: { subject: account } }), 1)
  })
})

t.test('state: a callback without the cookie, with another flow\'s state, a tampered cookie or a replay opens no session', async (t) => {
  const email = `state-${Date.now()}@example.com`
  const account = providerAccount(op, { email, email_verified: true })
  const before = await database.prisma.session.count()

  const a = await start(app, 'corp')
  const back = await op.authorize(a.location, account)
  const noCookie = await callback(app, back)
  t.equal(noCookie.statusCode, 302)
  t.equal(errorOf(noCookie), 'provider_state_invalid', 'missing cookie')
  t.equal(sessionCookies(noCookie).length, 0)

  const b = await start(app, 'corp')
  t.equal(errorOf(await callback(app, back, b.cookie)), 'provider_state_invalid', 'another flow\'s cookie')

  const at = a.cookie.value.length - 3
  const flipped = a.cookie.value.slice(0, at) + (a.cookie.value[at] === 'A' ? 'B' : 'A') + a.cookie.value.slice(at + 1)
  t.equal(errorOf(await callback(app, back, { ...a.cookie, value: flipped })), 'provider_state_invalid', 'tampered cookie')
  t.equal(errorOf(await callback(app, back, { ...a.cookie, value: 'not-sealed' })), 'provider_state_invalid', 'forged cookie')

  const forged = new URL(back)
  forged.searchParams.set('state', 'attacker-state')
  t.equal(errorOf(await callback(app, forged, a.cookie)), 'provider_state_invalid', 'a state that is not the cookie\'s')
  forged.searchParams.delete('state')
  t.equal(errorOf(await callback(app, forged, a.cookie)), 'provider_state_invalid', 'no state')

  const ok = await callback(app, back, a.cookie)
  t.equal(ok.headers.location, `${FRONTEND}/`, 'the genuine callback still works once')
  const replay = await callback(app, back, a.cookie)
  t.equal(replay.statusCode, 302)
  t.equal(errorOf(replay), 'provider_token_invalid', 'the replayed callback (its code is used) opens nothing')
  t.equal(sessionCookies(replay).length, 0)
  t.equal(await database.prisma.session.count(), before + 1, 'one session: the genuine one')
  t.ok((await eventsOf('provider_login_failed')).some((e) => (e.detail as { reason: string }).reason === 'provider_state_invalid'), 'refusals audited')
  const failed = JSON.stringify(await eventsOf('provider_login_failed'), (_key, value) => typeof value === 'bigint' ? String(value) : value)
  t.notOk(failed.includes(back.searchParams.get('code') ?? '-'), 'no code in the audit trail')
})

t.test('nonce: an ID token for another nonce (a request tampered on its way to the provider) is refused', async (t) => {
  const account = providerAccount(op, { email: `nonce-${Date.now()}@example.com`, email_verified: true })
  const { location, cookie } = await start(app, 'corp')
  const tampered = new URL(location)
  tampered.searchParams.set('nonce', 'attacker-nonce')
  const res = await callback(app, await op.authorize(tampered.href, account), cookie)
  t.equal(errorOf(res), 'provider_token_invalid')
  t.equal(sessionCookies(res).length, 0)
})

t.test('the user refused at the provider: provider_denied, nothing more (no provider message in the URL)', async (t) => {
  const { location, cookie } = await start(app, 'corp')
  const state = new URL(location).searchParams.get('state') ?? ''
  const res = await callback(app, `${callbackUrl('corp')}?error=access_denied&error_description=${encodeURIComponent('<script>alert(1)</script>')}&state=${state}`, cookie)
  t.equal(res.headers.location, `${FRONTEND}/login?error=provider_denied`)
})

t.test('next: only a path of the frontend; anything else lands on /', async (t) => {
  const account = providerAccount(op, { email: `next-${Date.now()}@example.com`, email_verified: true })
  for (const next of ['//evil.com', 'https://evil.com', '/\\evil.com', '\\\\evil.com', '/\r\nSet-Cookie:x', ' /x', 'javascript:alert(1)', '/ok#frag', '///evil.com', 'evil.com']) {
    const res = await signInWith(app, op, account, { next })
    t.equal(res.headers.location, `${FRONTEND}/`, `next=${JSON.stringify(next.slice(0, 20))}`)
  }
  const kept = await signInWith(app, op, account, { next: '/settings/profile?x=1&y=%2F' })
  t.equal(kept.headers.location, `${FRONTEND}/settings/profile?x=1&y=%2F`)
  const encoded = await signInWith(app, op, account, { next: '/%2F%2Fevil.com' })
  t.equal(new URL(String(encoded.headers.location)).origin, FRONTEND, 'percent-encoded slashes stay a path of the frontend')
  assertProblem(t, await app.inject({ method: 'GET', url: '/v1/browser/auth/providers/corp/start', query: { next: `/${'a'.repeat(2100)}` } }), 400, 'validation_failed')
})

t.test('a callback with any query never fails with a 5xx', async (t) => {
  for (const query of ['', '?code=x', '?state=x&code=y', '?error=x', '?code=a&code=b', '?iss=http://evil&code=1&state=2', '?%ZZ=1', '?state=' + 'x'.repeat(5000)]) {
    const res = await app.inject({ method: 'GET', url: `/v1/browser/auth/providers/corp/callback${query}` })
    t.ok(res.statusCode < 500, `${query.slice(0, 30)}: ${res.statusCode}`)
  }
  const begun = await start(app, 'corp')
  t.equal(errorOf(await callback(app, `${callbackUrl('bare')}?state=${new URL(begun.location).searchParams.get('state') ?? ''}&code=x`, { ...begun.cookie, name: begun.cookie.name })), 'provider_state_invalid', 'one provider\'s state cookie does not open at another\'s callback')
  const unknown = await app.inject({ method: 'GET', url: '/v1/browser/auth/providers/nope/callback?code=1&state=2' })
  t.equal(errorOf(unknown), 'provider_unknown')
  const unknownStart = await app.inject({ method: 'GET', url: '/v1/browser/auth/providers/nope/start' })
  t.equal(errorOf(unknownStart), 'provider_unknown')
})

t.test('linking by email: only when the provider and the account both say the address is verified', async (t) => {
  const s = await register(app)
  const userId = s.user.id

  const unverifiedAtProvider = providerAccount(op, { email: s.email, email_verified: false })
  t.equal(errorOf(await signInWith(app, op, unverifiedAtProvider)), 'identity_link_required', 'the provider does not vouch for the address')

  const verifiedAtProvider = providerAccount(op, { email: s.email, email_verified: true })
  t.equal(errorOf(await signInWith(app, op, verifiedAtProvider)), 'identity_link_required', 'the account\'s address is not verified')
  t.equal(await database.prisma.identity.count({ where: { userId } }), 0, 'nothing linked by email alone')

  await database.prisma.user.update({ where: { id: userId }, data: { emailVerified: true } })
  const linked = await signInWith(app, op, verifiedAtProvider)
  t.equal(linked.headers.location, `${FRONTEND}/`)
  t.equal(await database.prisma.identity.count({ where: { userId } }), 1, 'linked to the existing account')
  t.ok((await eventsOf('identity_linked')).some((e) => e.userId === userId && (e.detail as { automatic: boolean }).automatic))
  t.equal(errorOf(await signInWith(app, op, unverifiedAtProvider)), 'identity_link_required', 'still refused for the unverified identity')
})

t.test('an address the provider does not give: no account', async (t) => {
  const noEmail = providerAccount(op, {})
  t.equal(errorOf(await signInWith(app, op, noEmail)), 'provider_email_unverified')
  const bad = providerAccount(op, { email: 'not an address', email_verified: true })
  t.equal(errorOf(await signInWith(app, op, bad)), 'provider_email_unverified')
  // No email scope: not in the ID token, so userinfo is asked, which has none either.
  const withEmail = providerAccount(op, { email: `scope-${Date.now()}@example.com`, email_verified: true })
  t.equal(errorOf(await signInWith(app, op, withEmail, { provider: 'bare' })), 'provider_email_unverified')
})

t.test('an unverified address from the provider makes an unverified account', async (t) => {
  const email = `unverified-${Date.now()}@example.com`
  const res = await signInWith(app, op, providerAccount(op, { email, email_verified: false }))
  t.equal(res.headers.location, `${FRONTEND}/`)
  t.equal((await database.prisma.user.findUniqueOrThrow({ where: { email } })).emailVerified, false)
})

t.test('a second factor still applies: no session, the mfaToken in the fragment, completed with POST /browser/auth/mfa', async (t) => {
  const email = `mfa-${Date.now()}@example.com`
  const account = providerAccount(op, { email, email_verified: true })
  const first = await signInWith(app, op, account)
  const refreshCookie = first.cookies.find((c) => c.name === '__Host-authd_refresh')?.value ?? ''
  const csrf = first.cookies.find((c) => c.name === '__Host-authd_csrf')?.value ?? ''
  const tokens = await app.inject({ method: 'POST', url: '/v1/browser/auth/refresh', headers: { origin: FRONTEND, 'x-csrf-token': csrf }, cookies: { '__Host-authd_refresh': refreshCookie } })
  const secret = await enableTotp(app, tokens.json().tokens.access)
  const user = await database.prisma.user.findUniqueOrThrow({ where: { email } })
  const sessions = await sessionsOf(user.id)

  const res = await signInWith(app, op, account, { next: '/home' })
  t.equal(res.statusCode, 302)
  const location = new URL(String(res.headers.location))
  t.equal(`${location.origin}${location.pathname}`, `${FRONTEND}/home`)
  t.equal(location.search, '', 'nothing in the query')
  const fragment = new URLSearchParams(location.hash.slice(1))
  t.equal(fragment.get('mfaRequired'), 'true')
  t.equal(fragment.get('methods'), 'totp,recovery_code')
  t.equal(sessionCookies(res).length, 0, 'no session cookie')
  t.equal(await sessionsOf(user.id), sessions, 'no session')

  const done = await app.inject({ method: 'POST', url: '/v1/browser/auth/mfa', headers: { origin: FRONTEND }, payload: { mfaToken: fragment.get('mfaToken'), code: totpCodeAt(secret, Date.now() + 30_000) } })
  t.equal(done.statusCode, 200, done.body)
  t.same(claimsOf(done.json().tokens.access).amr, ['fed', 'otp', 'mfa'], 'the provider and the code')
})

t.test('an inactive account cannot sign in through a provider', async (t) => {
  const email = `inactive-${Date.now()}@example.com`
  const account = providerAccount(op, { email, email_verified: true })
  await signInWith(app, op, account)
  await database.prisma.user.update({ where: { email }, data: { isActive: false } })
  const res = await signInWith(app, op, account)
  t.equal(errorOf(res), 'account_inactive')
  t.equal(sessionCookies(res).length, 0)
})

t.test('a provider that cannot be reached: start lands on the error page', async (t) => {
  const { app: other } = await buildWithDatabase(t, {
    AUTH_PROVIDERS: JSON.stringify([{ id: 'down', type: 'oidc', issuer: 'http://127.0.0.1:9', clientId: 'a', clientSecret: 'b' }]),
    PUBLIC_URL,
    FRONTEND_URL: FRONTEND
  })
  const res = await other.inject({ method: 'GET', url: '/v1/browser/auth/providers/down/start' })
  t.equal(res.headers.location, `${FRONTEND}/login?error=provider_failed`)
  assertProblem(t, await other.inject({ method: 'POST', url: '/v1/app/auth/providers/down/token', payload: { idToken: 'a.b.c' } }), 502, 'provider_failed')
})
