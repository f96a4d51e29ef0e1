// Sign in with GitHub (OAuth 2 and its REST API, not OpenID), against a local stand-in that
// answers exactly as GitHub documents its endpoints (test/support/github-stand-in.ts).
import t from 'tap'
import { assertProblem, buildWithDatabase, register } from '../../helper.js'
import { startGitHubStandIn } from '../../support/github-stand-in.js'
import { FRONTEND, PUBLIC_URL, callback, callbackUrl, claimsOf, errorOf, start } from '../../support/provider-flows.js'

const github = await startGitHubStandIn({ clientId: 'gh-client', clientSecret: 'gh-secret' })
t.teardown(github.close)

const { app, database } = await buildWithDatabase(t, {
  AUTH_PROVIDERS: JSON.stringify([{ id: 'github', type: 'github', clientId: 'gh-client', clientSecret: 'gh-secret', ...github.endpoints }]),
  PUBLIC_URL,
  FRONTEND_URL: FRONTEND,
  CORS_ORIGINS: FRONTEND
})

let nextId = 1000
const githubUser = (email: string, verified: boolean) => ({ id: nextId++, login: `octo${nextId}`, emails: [{ email: `noreply${nextId}@users.noreply.github.com`, primary: false, verified: true }, { email, primary: true, verified }] })

/** Start at authd, "approve" at GitHub (the stand-in redirects back at once), callback. */
async function signIn (user: ReturnType<typeof githubUser>, next?: string) {
  github.signIn(user)
  const begun = await start(app, 'github', next)
  const authorize = new URL(begun.location)
  const approved = await fetch(authorize, { redirect: 'manual' })
  const back = new URL(approved.headers.get('location') ?? '')
  return { authorize, res: await callback(app, back, begun.cookie), back, cookie: begun.cookie }
}

t.test('GitHub sign-in: PKCE and state, the primary address and whether GitHub verified it, the numeric id as subject', async (t) => {
  t.same((await app.inject({ method: 'GET', url: '/v1/browser/auth/providers' })).json(), [{ id: 'github', name: 'GitHub' }])
  const email = `octo-${Date.now()}@example.com`
  const user = githubUser(email, true)
  const { authorize, res, back, cookie } = await signIn(user, '/repos')
  t.equal(authorize.origin + authorize.pathname, github.endpoints.authorizationEndpoint)
  t.equal(authorize.searchParams.get('redirect_uri'), callbackUrl('github'))
  t.equal(authorize.searchParams.get('code_challenge_method'), 'S256')
  t.equal(authorize.searchParams.get('scope'), 'read:user user:email')
  t.notOk(authorize.searchParams.has('nonce'), 'no nonce: not OpenID')
  t.equal(res.headers.location, `${FRONTEND}/repos`)
  const refreshCookie = res.cookies.find((c) => c.name === '__Host-authd_refresh')?.value ?? ''
  const csrf = res.cookies.find((c) => c.name === '__Host-authd_csrf')?.value ?? ''
  const tokens = await app.inject({ method: 'POST', url: '/v1/browser/auth/refresh', headers: { origin: FRONTEND, 'x-csrf-token': csrf }, cookies: { '__Host-authd_refresh': refreshCookie } })
  t.equal(tokens.statusCode, 200)
  t.same(claimsOf(tokens.json().tokens.access).amr, ['fed'])
  const created = await database.prisma.user.findUniqueOrThrow({ where: { email } })
  t.equal(created.emailVerified, true)
  t.match(await database.prisma.identity.findFirstOrThrow({ where: { userId: created.id } }), { provider: 'github', subject: String(user.id), email })
  t.equal(errorOf(await callback(app, back, cookie)), 'provider_token_invalid', 'GitHub\'s 200 bad_verification_code for a used code is a refusal')
})

t.test('an address GitHub has not verified: a new account is unverified, an existing one is not joined', async (t) => {
  const email = `unverified-${Date.now()}@example.com`
  const { res } = await signIn(githubUser(email, false))
  t.equal(res.headers.location, `${FRONTEND}/`)
  t.equal((await database.prisma.user.findUniqueOrThrow({ where: { email } })).emailVerified, false)

  const s = await register(app)
  await database.prisma.user.update({ where: { id: s.user.id }, data: { emailVerified: true } })
  t.equal(errorOf((await signIn(githubUser(s.email, false))).res), 'identity_link_required')
  const joined = await signIn(githubUser(s.email, true))
  t.equal(joined.res.headers.location, `${FRONTEND}/`)
  t.equal(await database.prisma.identity.count({ where: { userId: s.user.id, provider: 'github' } }), 1)
})

t.test('no primary address at GitHub: no account', async (t) => {
  const user = { id: nextId++, login: 'noemail', emails: [] }
  t.equal(errorOf((await signIn(user)).res), 'provider_email_unverified')
})

t.test('apps: GitHub takes the code exchange only (no ID tokens)', async (t) => {
  assertProblem(t, await app.inject({ method: 'POST', url: '/v1/app/auth/providers/github/token', payload: { idToken: 'a.b.c' } }), 400, 'validation_failed')
})
