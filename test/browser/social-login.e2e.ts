// "Sign in with <provider>" in the React example, in Chromium, against a real OpenID provider
// (oidc-provider with its development login and consent pages, test/support/oidc-provider.ts):
// the page's button → authd's start → the provider's pages, filled as a user would → authd's
// callback → back on the example, which signs in from the refresh cookie authd just set. And the
// linking rule a user meets first: a provider that does not vouch for the address of an existing
// account lands on the example's /login?error=identity_link_required, with no session. And an
// account with a second factor comes back with the challenge in the URL fragment, to the code form.
//
// Four origins, all on ephemeral ports: the SPA (http://localhost:<spa>), authd
// (http://localhost:<authd>, the same site as the SPA, so its SameSite cookies travel), and the
// provider (http://127.0.0.1:<op>, another site: the return from it is a cross-site navigation,
// which the Lax state cookie survives). authd runs with COOKIE_SECURE=false, as for local development.
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import t, { type Test } from 'tap'
import type { BrowserContext, Page } from 'playwright-core'
import { buildWithDatabase, register } from '../helper.js'
import { startOidcProvider } from '../support/oidc-provider.js'
import { freePort } from '../support/processes.js'
import { enableTotp } from '../support/provider-flows.js'
import { totpCodeAt } from '../../src/services/totp.js'
import { buildReactExample, launchChromium, prerequisites, STEP_TIMEOUT, stepRunner } from './chromium.js'
import { close, listen, staticSite } from './local-servers.js'

declare const document: { querySelector (selector: string): { textContent: string | null } | null }

const PROVIDER = { id: 'testop', name: 'Test OP' }
const CLIENT = { clientId: 'authd-e2e', clientSecret: 'authd-e2e-client-secret' }

t.test('React example: Sign in with an OpenID provider in Chromium', async (t) => {
  if (!prerequisites(t, 'react')) return

  const distDir = path.join(t.testdir(), 'dist')
  const spa = await listen(staticSite(() => distDir))
  t.teardown(async () => await close(spa.server))
  const spaOrigin = `http://localhost:${spa.port}`

  // authd's port is chosen first: the provider must know authd's callback (its redirect URI allowlist).
  const authdPort = await freePort()
  const authdOrigin = `http://localhost:${authdPort}`
  const op = await startOidcProvider({
    clients: [{ ...CLIENT, redirectUris: [`${authdOrigin}/v1/browser/auth/providers/${PROVIDER.id}/callback`] }]
  })
  t.teardown(op.close)

  const { app, database } = await buildWithDatabase(t, {
    AUTH_PROVIDERS: JSON.stringify([{ ...PROVIDER, type: 'oidc', issuer: op.issuer, ...CLIENT }]),
    PUBLIC_URL: authdOrigin,
    FRONTEND_URL: spaOrigin,
    CORS_ORIGINS: spaOrigin,
    COOKIE_SECURE: 'false',
    LOG_LEVEL: 'silent'
  })
  await app.listen({ host: '127.0.0.1', port: authdPort })
  t.equal((app.server.address() as AddressInfo).port, authdPort)
  const refreshName = app.config.COOKIE_REFRESH_NAME

  const started = Date.now()
  await buildReactExample(distDir, authdOrigin)
  t.comment(`built examples/react in ${Date.now() - started} ms; SPA ${spaOrigin}, authd ${authdOrigin}, provider ${op.issuer}`)

  const browser = await launchChromium(t)
  const statusOf = async (page: Page) => (await page.getByTestId('status').textContent())?.trim()
  async function expectStatus (t: Test, page: Page, want: string, message: string): Promise<void> {
    try {
      await page.waitForFunction(
        (w) => document.querySelector('[data-testid="status"]')?.textContent?.trim() === w, want, { timeout: STEP_TIMEOUT })
    } catch { /* asserted below */ }
    const error = await page.getByTestId('error').textContent({ timeout: 100 }).catch(() => null)
    t.equal(await statusOf(page), want, message + (error ? ` (page error: ${error})` : ''))
  }
  // Every cookie of the jar (the refresh cookie's Path is /v1/browser/auth without COOKIE_SECURE).
  const refreshCookies = async (context: BrowserContext) => (await context.cookies()).filter((c) => c.name === refreshName && c.value !== '')

  /** On the example: click "Sign in with Test OP", then log in and consent at the provider as `account`. */
  async function signInThroughProvider (t: Test, page: Page, account: string): Promise<void> {
    await page.goto(spaOrigin)
    await expectStatus(t, page, 'anonymous', 'a fresh visitor is anonymous')
    const button = page.getByTestId(`provider-${PROVIDER.id}`)
    t.equal((await button.textContent({ timeout: STEP_TIMEOUT }))?.trim(), `Sign in with ${PROVIDER.name}`, 'the button from GET /v1/browser/auth/providers')
    await button.click()
    // The provider's login page (devInteractions): any password; the login is the account id.
    await page.locator('input[name="login"]').waitFor({ timeout: STEP_TIMEOUT })
    t.equal(new URL(page.url()).origin, op.issuer, 'the button led to the provider\'s login page')
    await page.locator('input[name="login"]').fill(account)
    await page.locator('input[name="password"]').fill('any password')
    await page.locator('button[type="submit"]').click()
    // Its consent page.
    await page.getByRole('button', { name: 'Continue' }).click({ timeout: STEP_TIMEOUT })
  }

  await t.test('a new user signs in with the provider and lands back signed in', async (t) => {
    const context = await browser.newContext()
    t.teardown(async () => await context.close())
    const step = stepRunner(t, context, 'social-login')
    const page = await context.newPage()
    const pageErrors: string[] = []
    page.on('pageerror', (e) => pageErrors.push(e.message))

    const email = `social-${Date.now()}@example.com`
    const account = `acct-new-${Date.now()}`
    op.accounts.set(account, { email, email_verified: true })

    await step('click Sign in with the provider, log in there', async () => {
      await signInThroughProvider(t, page, account)
    })
    await step('back on the example, signed in from the cookie', async () => {
      await expectStatus(t, page, 'authenticated', 'the example signed in after the provider\'s redirect')
      t.equal(page.url(), `${spaOrigin}/`, 'authd sent the browser to FRONTEND_URL + next')
      t.equal(await page.getByTestId('user-email').textContent(), email, 'the signed-in user has the provider account\'s email')
      t.equal(await page.getByTestId('provider-error').count(), 0, 'no error shown')
      t.equal((await refreshCookies(context)).length, 1, 'authd set the refresh cookie')
      const user = await database.prisma.user.findFirst({ where: { email }, include: { identities: true } })
      t.same(user?.identities.map((i) => [i.provider, i.subject]), [[PROVIDER.id, account]], 'the account is linked to the provider identity')
      t.equal(user?.id, (await page.getByTestId('user-id').textContent())?.trim(), 'the page shows that account')
    })
    await step('GET /v1/users/me through the app', async () => {
      await page.getByTestId('whoami').click()
      await page.waitForFunction(() => document.querySelector('[data-testid="whoami-result"]')?.textContent === '1 calls, 1 answered 200', undefined, { timeout: STEP_TIMEOUT }).catch(() => {})
      t.equal(await page.getByTestId('whoami-result').textContent(), '1 calls, 1 answered 200', 'the call with the access token answered 200')
    })
    await step('a reload stays signed in', async () => {
      await page.reload()
      await expectStatus(t, page, 'authenticated', 'still signed in after a reload')
      t.equal(await page.getByTestId('user-email').textContent(), email)
    })
    t.same(pageErrors, [], 'no uncaught error in the page')
  })

  await t.test('the address of an existing account, not verified at the provider: ?error=identity_link_required and no session', async (t) => {
    const existing = await register(app)
    const sessionsBefore = await database.prisma.session.count({ where: { userId: existing.user.id } })
    const account = `acct-clash-${Date.now()}`
    op.accounts.set(account, { email: existing.email, email_verified: false })

    const context = await browser.newContext()
    t.teardown(async () => await context.close())
    const step = stepRunner(t, context, 'social-login-link-required')
    const page = await context.newPage()
    const visited: string[] = []
    page.on('framenavigated', (frame) => { if (frame === page.mainFrame()) visited.push(frame.url()) })

    await step('click Sign in with the provider, log in there', async () => {
      await signInThroughProvider(t, page, account)
    })
    await step('back on the example with the error code and signed out', async () => {
      await page.getByTestId('provider-error').waitFor({ timeout: STEP_TIMEOUT }).catch(() => {})
      t.match(await page.getByTestId('provider-error').textContent({ timeout: 100 }).catch(() => null), /\bidentity_link_required\b/, 'the example shows the code from ?error=')
      await expectStatus(t, page, 'anonymous', 'no one is signed in')
      t.ok(visited.includes(`${spaOrigin}/login?error=identity_link_required`), 'authd redirected to FRONTEND_URL/login?error=identity_link_required')
      t.equal(new URL(page.url()).origin, spaOrigin, 'back on the example')
      t.equal(new URL(page.url()).searchParams.get('error'), null, 'the code was removed from the address bar')
      t.same(await refreshCookies(context), [], 'no refresh cookie')
      t.equal(await database.prisma.session.count({ where: { userId: existing.user.id } }), sessionsBefore, 'no session for the existing account')
      t.equal(await database.prisma.identity.count({ where: { subject: account } }), 0, 'the identity was not linked')
      t.equal(await database.prisma.user.count({ where: { email: existing.email } }), 1, 'no second account with that address')
    })
  })

  await t.test('an account with a second factor: back with the challenge in the fragment, the code form, then signed in', async (t) => {
    // A verified account with TOTP on; the provider vouches for the same address, so authd links
    // the identity — and still asks for the second factor.
    const existing = await register(app)
    await database.prisma.user.update({ where: { id: existing.user.id }, data: { emailVerified: true } })
    const secret = await enableTotp(app, existing.tokens.access)
    const account = `acct-mfa-${Date.now()}`
    op.accounts.set(account, { email: existing.email, email_verified: true })

    const context = await browser.newContext()
    t.teardown(async () => await context.close())
    const step = stepRunner(t, context, 'social-login-mfa')
    const page = await context.newPage()
    const visited: string[] = []
    page.on('framenavigated', (frame) => { if (frame === page.mainFrame()) visited.push(frame.url()) })

    await step('click Sign in with the provider, log in there', async () => {
      await signInThroughProvider(t, page, account)
    })
    await step('the code form, the fragment gone, no session yet', async () => {
      await expectStatus(t, page, 'mfa', 'the example asks for the second factor')
      t.ok(visited.some((url) => url.startsWith(`${spaOrigin}/#mfaRequired=true&mfaToken=`)), 'authd redirected with the challenge in the fragment')
      t.equal(new URL(page.url()).hash, '', 'the fragment was removed from the address bar')
      t.same(await refreshCookies(context), [], 'no refresh cookie before the code')
    })
    await step('the TOTP code signs in', async () => {
      // The next step's code: enabling TOTP used this step's, and a step is accepted only once.
      await page.getByTestId('mfa-code').fill(totpCodeAt(secret, Date.now() + 30_000))
      await page.getByTestId('mfa-submit').click()
      await expectStatus(t, page, 'authenticated', 'signed in after the code')
      t.equal(await page.getByTestId('user-email').textContent(), existing.email, 'as the existing account')
      t.equal(await database.prisma.identity.count({ where: { userId: existing.user.id, subject: account } }), 1, 'the identity was linked to it')
    })
  })
})
