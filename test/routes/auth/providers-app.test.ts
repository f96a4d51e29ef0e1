// Sign in with an OpenID provider from an app: POST /v1/app/auth/providers/{id}/token with an ID
// token (verified against the provider's keys) or the code of the app's own PKCE flow. A real
// provider (oidc-provider) issues the genuine tokens and codes; the broken ones are minted here.
import * as oidc from 'openid-client'
import t from 'tap'
import { assertProblem, buildWithDatabase, register } from '../../helper.js'
import { newSigningKey, startOidcProvider } from '../../support/oidc-provider.js'
import { APP_REDIRECT, FRONTEND, PUBLIC_URL, claimsOf, enableTotp, oidcClients, oidcEntry, providerAccount } from '../../support/provider-flows.js'

const op = await startOidcProvider({ clients: oidcClients() })
t.teardown(op.close)

const { app, database } = await buildWithDatabase(t, { AUTH_PROVIDERS: JSON.stringify([oidcEntry(op)]), PUBLIC_URL, FRONTEND_URL: FRONTEND })

const token = async (payload: Record<string, unknown>, provider = 'corp') =>
  await app.inject({ method: 'POST', url: `/v1/app/auth/providers/${provider}/token`, payload })

/** The app's own PKCE flow at the provider, as client `clientId`: the code and its verifier. */
async function appFlow (account: string, clientId = 'authd', secret = 'authd-client-secret', withNonce = true) {
  const config = await oidc.discovery(new URL(op.issuer), clientId, secret, undefined, { execute: [oidc.allowInsecureRequests] })
  const codeVerifier = oidc.randomPKCECodeVerifier()
  const nonce = withNonce ? oidc.randomNonce() : undefined
  const url = oidc.buildAuthorizationUrl(config, { redirect_uri: APP_REDIRECT, scope: 'openid email', code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier), code_challenge_method: 'S256', ...(nonce === undefined ? {} : { nonce }) })
  const back = await op.authorize(url.href, account)
  return { config, back, codeVerifier, nonce, code: back.searchParams.get('code') ?? '' }
}

t.test('an ID token the app got from the provider signs in (audience: one of appClientIds), as an app login', async (t) => {
  const email = `idt-${Date.now()}@example.com`
  const account = providerAccount(op, { email, email_verified: true })
  // A genuine token, issued by the provider to the native app's own client.
  const flow = await appFlow(account, 'native-app', 'native-app-secret')
  const tokens = await oidc.authorizationCodeGrant(flow.config, flow.back, { pkceCodeVerifier: flow.codeVerifier, expectedNonce: flow.nonce })
  const res = await token({ idToken: tokens.id_token, nonce: flow.nonce })
  t.equal(res.statusCode, 200, res.body)
  const body = res.json()
  t.same(Object.keys(body).sort(), ['deviceToken', 'tokens', 'user'])
  t.equal(body.user.email, email)
  t.equal(body.tokens.tokenType, 'Bearer')
  t.same(claimsOf(body.tokens.access).amr, ['fed'])
  t.equal(res.headers['cache-control'], 'no-store')
  const again = await token({ idToken: await op.mintIdToken({ sub: account, aud: 'authd', email, email_verified: true }) })
  t.equal(again.json().user.id, body.user.id, 'the clientId is an accepted audience too, and the identity finds its account')
})

t.test('ID tokens that must not sign in: another audience, expired, another issuer, another key, a wrong nonce, garbage → 401', async (t) => {
  const email = `bad-${Date.now()}@example.com`
  const account = providerAccount(op, { email, email_verified: true })
  const claims = { sub: account, aud: 'native-app', email, email_verified: true }
  const now = Math.floor(Date.now() / 1000)
  const stranger = await newSigningKey()
  const cases: Array<[string, Promise<string> | string]> = [
    ['another audience', op.mintIdToken({ ...claims, aud: 'someone-else' })],
    ['expired', op.mintIdToken({ ...claims, iat: now - 3600, exp: now - 1800 })],
    ['another issuer', op.mintIdToken({ ...claims, iss: 'https://evil.example.com' })],
    ['signed by another key', op.mintIdToken(claims, stranger)],
    ['another key under the provider\'s kid', op.mintIdToken(claims, { ...stranger, kid: op.signingKey.kid })],
    ['no sub', op.mintIdToken({ ...claims, sub: undefined })],
    ['garbage', 'not-a-jwt'],
    ['alg none', `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ ...claims, iss: op.issuer, exp: now + 60, iat: now })).toString('base64url')}.`]
  ]
  for (const [name, idToken] of cases) assertProblem({ equal: (a, b, m) => t.equal(a, b, `${name}: ${m}`), match: (a, b, m) => t.match(a, b, `${name}: ${m}`) }, await token({ idToken: await idToken }), 401, 'provider_token_invalid')
  const good = await op.mintIdToken({ ...claims, nonce: 'n-1' })
  assertProblem(t, await token({ idToken: good, nonce: 'n-2' }), 401, 'provider_token_invalid')
  assertProblem(t, await token({ idToken: await op.mintIdToken(claims), nonce: 'n-1' }), 401, 'provider_token_invalid')
  t.equal(await database.prisma.user.count({ where: { email } }), 0, 'no account from any of them')
  t.equal((await token({ idToken: good, nonce: 'n-1' })).statusCode, 200, 'the right nonce')
})

t.test('the code of the app\'s own PKCE flow, with a redirectUri of appRedirectUris', async (t) => {
  const email = `code-${Date.now()}@example.com`
  const account = providerAccount(op, { email, email_verified: true })
  const flow = await appFlow(account)
  assertProblem(t, await token({ code: flow.code, codeVerifier: flow.codeVerifier, redirectUri: 'https://evil.example.com/cb' }), 400, 'validation_failed')
  assertProblem(t, await token({ code: flow.code, codeVerifier: oidc.randomPKCECodeVerifier(), redirectUri: APP_REDIRECT }), 401, 'provider_token_invalid')
  const other = await appFlow(account, undefined, undefined, false)
  const res = await token({ code: other.code, codeVerifier: other.codeVerifier, redirectUri: APP_REDIRECT })
  t.equal(res.statusCode, 200, res.body)
  t.equal(res.json().user.email, email)
  assertProblem(t, await token({ code: other.code, codeVerifier: other.codeVerifier, redirectUri: APP_REDIRECT }), 401, 'provider_token_invalid')
  const withNonce = await appFlow(account)
  assertProblem(t, await token({ code: withNonce.code, codeVerifier: withNonce.codeVerifier, redirectUri: APP_REDIRECT, nonce: 'not-the-nonce' }), 401, 'provider_token_invalid')
  const third = await appFlow(account)
  const ok = await token({ code: third.code, codeVerifier: third.codeVerifier, redirectUri: APP_REDIRECT, nonce: third.nonce })
  t.equal(ok.statusCode, 200, ok.body)
})

t.test('the body: one way or the other, not both, not neither', async (t) => {
  const verifier = oidc.randomPKCECodeVerifier()
  for (const payload of [{}, { code: 'c' }, { code: 'c', codeVerifier: verifier }, { idToken: 'a.b.c', code: 'c' }, { idToken: 'a.b.c', extra: 1 }]) {
    assertProblem(t, await token(payload), 400, 'validation_failed')
  }
  assertProblem(t, await token({ idToken: 'a.b.c' }, 'nope'), 404, 'provider_unknown')
})

t.test('as a login: a second factor answers the challenge; an inactive account is refused; no joining by an unverified address', async (t) => {
  const email = `app-mfa-${Date.now()}@example.com`
  const account = providerAccount(op, { email, email_verified: true })
  const idToken = await op.mintIdToken({ sub: account, aud: 'native-app', email, email_verified: true })
  const first = await token({ idToken })
  await enableTotp(app, first.json().tokens.access)
  const second = await token({ idToken })
  t.equal(second.statusCode, 200)
  t.same(Object.keys(second.json()).sort(), ['methods', 'mfaRequired', 'mfaToken'], 'the challenge and nothing else')

  await database.prisma.user.update({ where: { email }, data: { isActive: false } })
  assertProblem(t, await token({ idToken }), 403, 'account_inactive')

  const s = await register(app)
  const claimant = providerAccount(op, { email: s.email, email_verified: true })
  assertProblem(t, await token({ idToken: await op.mintIdToken({ sub: claimant, aud: 'native-app', email: s.email, email_verified: true }) }), 409, 'identity_link_required')
  const failures = await database.prisma.auditEvent.findMany({ where: { type: 'provider_login_failed' } })
  t.ok(failures.some((e) => (e.detail as { reason: string }).reason === 'identity_link_required'), 'refusals audited with their reason')
  t.notOk(JSON.stringify(failures, (_k, v) => typeof v === 'bigint' ? String(v) : v).includes(idToken), 'never the token')
})

t.test('EMAIL_VERIFICATION=mandatory: no account from an address the provider does not vouch for', async (t) => {
  const { app: strict } = await buildWithDatabase(t, { AUTH_PROVIDERS: JSON.stringify([oidcEntry(op)]), PUBLIC_URL, FRONTEND_URL: FRONTEND, EMAIL_VERIFICATION: 'mandatory', SMTP_URL: '' })
  const email = `strict-${Date.now()}@example.com`
  const unverified = providerAccount(op, { email, email_verified: false })
  const res = await strict.inject({ method: 'POST', url: '/v1/app/auth/providers/corp/token', payload: { idToken: await op.mintIdToken({ sub: unverified, aud: 'native-app', email, email_verified: false }) } })
  assertProblem(t, res, 403, 'provider_email_unverified')
  const verified = providerAccount(op, { email, email_verified: true })
  const ok = await strict.inject({ method: 'POST', url: '/v1/app/auth/providers/corp/token', payload: { idToken: await op.mintIdToken({ sub: verified, aud: 'native-app', email, email_verified: true }) } })
  t.equal(ok.statusCode, 200, ok.body)
})
