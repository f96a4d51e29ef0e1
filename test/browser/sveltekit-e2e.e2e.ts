// The SvelteKit example (examples/sveltekit) against a live authd in a real browser: Debian's
// Chromium driven by playwright-core. Not part of `npm test`: run it with `npm run test:browser`
// after `(cd examples/sveltekit && npm ci)` and `apt-get install chromium` (see ../../.ci/run).
//
// Unlike the React example, the browser never talks to authd: the SvelteKit server (built with
// adapter-node and started with `node build`, as in production) calls authd's app endpoints and
// keeps the tokens in its own HttpOnly cookies. The test builds the example, starts it on
// http://localhost:<kit> against an authd on http://127.0.0.1:<authd>, and plays a visitor.
// http://localhost:<evil> plays the attacker: same site as the app (ports do not count), so
// SameSite=Lax cookies do travel with its forged POST and only SvelteKit's origin check stops it.
import { execFile, spawn } from 'node:child_process'
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { decodeJwt } from 'jose'
import t from 'tap'
import type { BrowserContext, Page } from 'playwright-core'
import { totpCodeAt } from '../../src/services/totp.js'
import { build, newAccount } from '../helper.js'
import { startOidcProvider } from '../support/oidc-provider.js'
import { freePort, repoRoot } from '../support/processes.js'
import { launchChromium, postForgedForm, prerequisites, startEvilSite, STEP_TIMEOUT, stepRunner } from './chromium.js'

// Browser globals used inside page.evaluate() callbacks, which run in the page, not in Node.
declare const document: { cookie: string }
declare const navigator: { userAgent: string }

const exampleDir = path.join(repoRoot, 'examples/sveltekit')
const viteBin = path.join(exampleDir, 'node_modules/vite/bin/vite.js')

/** What authd saw and answered, recorded at its HTTP server (below Fastify). */
interface Exchange { method: string, url: string, status: number, forwardedFor: string | undefined, userAgent: string | undefined }

t.test('SvelteKit example + authd in Chromium', async (t) => {
  if (!prerequisites(t, 'sveltekit')) return

  // --- authd, recording every exchange -----------------------------------------------------
  // TRUST_PROXY: the SvelteKit server (127.0.0.1) forwards the visitor's address. Grace 0: a
  // rotated refresh token presented again is at once a reuse (the last step relies on it).
  // CORS_ORIGINS: only the /browser page calls authd from the browser (@authd/client).
  const kitPort = await freePort()
  const kitOrigin = `http://localhost:${kitPort}`
  // AUTH_PROVIDERS: a real OpenID provider (oidc-provider) for the /browser page's "Sign in with
  // Test OP"; authd's port is chosen first, as its callback is the redirect URI at the provider.
  const authdPort = await freePort()
  const provider = { id: 'testop', name: 'Test OP', clientId: 'authd-e2e', clientSecret: 'authd-e2e-client-secret' }
  const op = await startOidcProvider({ clients: [{ ...provider, redirectUris: [`http://localhost:${authdPort}/v1/browser/auth/providers/${provider.id}/callback`] }] })
  t.teardown(op.close)
  const app = await build(t, {
    TRUST_PROXY: '127.0.0.1',
    REFRESH_GRACE_SECONDS: '0',
    LOG_LEVEL: 'silent',
    CORS_ORIGINS: kitOrigin,
    AUTH_PROVIDERS: JSON.stringify([{ ...provider, type: 'oidc', issuer: op.issuer }]),
    PUBLIC_URL: `http://localhost:${authdPort}`,
    FRONTEND_URL: kitOrigin
  })
  await app.listen({ host: '127.0.0.1', port: authdPort })
  const authdOrigin = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const exchanges: Exchange[] = []
  const fastifyHandlers = app.server.listeners('request') as RequestListener[]
  app.server.removeAllListeners('request')
  app.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    res.on('finish', () => {
      exchanges.push({
        method: req.method ?? '',
        url: req.url ?? '',
        status: res.statusCode,
        forwardedFor: req.headers['x-forwarded-for'] as string | undefined,
        userAgent: req.headers['user-agent']
      })
    })
    for (const h of fastifyHandlers) h.call(app.server, req, res)
  })
  const calls = (from: number, method: string, url: string) => exchanges.slice(from).filter((e) => e.method === method && e.url === url)

  const evilOrigin = await startEvilSite(t)

  // --- build and start the example as in production -----------------------------------------
  const started = Date.now()
  // The /browser page reaches authd as localhost (same site as the app, so authd's SameSite
  // cookies travel); the SvelteKit server keeps 127.0.0.1.
  const browserAuthdOrigin = authdOrigin.replace('127.0.0.1', 'localhost')
  await promisify(execFile)(process.execPath, [viteBin, 'build', '--logLevel', 'warn'], {
    cwd: exampleDir,
    maxBuffer: 16 * 1024 * 1024,
    env: { ...process.env, VITE_AUTHD_URL: browserAuthdOrigin }
  })
  const kit = spawn(process.execPath, ['build'], {
    cwd: exampleDir,
    // ORIGIN: adapter-node cannot know the public URL otherwise (it would assume https and its
    // CSRF check would refuse every form POST).
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(kitPort), ORIGIN: kitOrigin, AUTHD_URL: authdOrigin },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let kitOutput = ''
  kit.stdout.on('data', (chunk: Buffer) => { kitOutput += chunk.toString() })
  kit.stderr.on('data', (chunk: Buffer) => { kitOutput += chunk.toString() })
  const kitExited = new Promise<void>((resolve) => kit.once('exit', () => resolve()))
  // Also when tap ends this process early (a timeout): never leave the server running.
  const killKit = () => { kit.kill('SIGKILL') }
  process.once('exit', killKit)
  t.teardown(async () => {
    process.off('exit', killKit)
    kit.kill('SIGTERM')
    await kitExited
  })
  // Up when it says so on its own stdout (not merely when something answers on the port).
  let up = false
  for (let i = 0; i < 300 && !up && kit.exitCode === null; i++) {
    up = kitOutput.includes(`Listening on http://127.0.0.1:${kitPort}`)
    if (!up) await sleep(100)
  }
  up &&= await fetch(`${kitOrigin}/`).then((r) => r.ok, () => false)
  if (!up) {
    t.fail(`the SvelteKit server did not come up:\n${kitOutput}`)
    return
  }
  t.comment(`built and started examples/sveltekit in ${Date.now() - started} ms; app ${kitOrigin}, authd ${authdOrigin}, evil ${evilOrigin}`)

  // --- browser ---------------------------------------------------------------------------
  const browser = await launchChromium(t)
  const context: BrowserContext = await browser.newContext()
  context.setDefaultTimeout(STEP_TIMEOUT)
  const browserRequests: string[] = []
  context.on('request', (r) => browserRequests.push(r.url()))
  const step = stepRunner(t, context, 'sveltekit', () => `SvelteKit server output:\n${kitOutput}`)

  const cookie = async (name: string) => (await context.cookies()).find((c) => c.name === name)
  /** Waits for the page to show `testId` and asserts its text. */
  async function expectText (page: Page, testId: string, want: string, message: string): Promise<void> {
    const text = await page.getByTestId(testId).textContent({ timeout: STEP_TIMEOUT }).catch(() => null)
    const error = testId === 'error' ? null : await page.getByTestId('error').textContent({ timeout: 100 }).catch(() => null)
    t.equal(text?.trim(), want, message + (error ? ` (page error: ${error})` : ''))
  }
  async function expectPath (page: Page, want: string, message: string): Promise<void> {
    await page.waitForURL((url) => url.pathname + url.search === want, { timeout: STEP_TIMEOUT }).catch(() => {})
    const url = new URL(page.url())
    t.equal(url.pathname + url.search, want, message)
  }

  const account = newAccount()
  /** Fills the register or login form with the account's address and `password`, and submits it. */
  async function submitCredentials (p: Page, form: 'register' | 'login', password = account.password): Promise<void> {
    await p.getByTestId(form === 'register' ? 'register-email' : 'login-login').fill(account.email)
    await p.getByTestId(`${form}-password`).fill(password)
    await p.getByTestId(`${form}-submit`).click()
  }
  /** Signed in: the protected page, showing the account's user. */
  async function expectAccountPage (p: Page, pathMessage: string, userMessage: string): Promise<void> {
    await expectPath(p, '/account', pathMessage)
    await expectText(p, 'user-email', account.email, userMessage)
  }

  const page = await context.newPage()
  const pageErrors: string[] = []
  page.on('pageerror', (e) => pageErrors.push(e.message))

  await step('signed out', async () => {
    await page.goto(`${kitOrigin}/account`)
    await expectPath(page, '/login?redirectTo=%2Faccount', 'a signed-out visitor of the protected page is sent to the login page')
  })

  await step('register', async () => {
    await page.goto(`${kitOrigin}/register`)
    await submitCredentials(page, 'register')
    await expectAccountPage(page, 'registering leads to the protected page', 'the protected page shows the user from GET /v1/users/me')
    t.equal(calls(0, 'POST', '/v1/app/auth/register').at(-1)?.status, 201, 'the SvelteKit server registered through authd\'s app endpoint')
  })

  await step('cookies', async () => {
    for (const name of ['access_token', 'refresh_token']) {
      const c = await cookie(name)
      t.ok(c?.httpOnly, `${name} is HttpOnly`)
      t.equal(c?.sameSite, 'Lax', `${name} is SameSite=Lax`)
      t.equal(c?.path, '/', `${name} has Path=/`)
      t.equal(c?.domain, 'localhost', `${name} belongs to the app's host only`)
      // SvelteKit leaves Secure off for http://localhost only; it is on anywhere else.
      t.equal(c?.secure, false, `${name} is not Secure on http://localhost (development)`)
    }
    const access = await cookie('access_token')
    t.ok(access !== undefined && access.expires * 1000 < Date.now() + 300_000, 'the access cookie expires before the access token does')
    t.equal(await page.evaluate(() => document.cookie), '', 'page scripts see no cookie at all')
    t.same(browserRequests.filter((u) => u.startsWith(authdOrigin)), [], 'the browser never called authd itself')
  })

  await step('visitor forwarded', async () => {
    const userAgent = await page.evaluate(() => navigator.userAgent)
    const register = calls(0, 'POST', '/v1/app/auth/register').at(-1)
    t.equal(register?.userAgent, userAgent, 'the SvelteKit server forwarded the browser\'s User-Agent')
    t.equal(register?.forwardedFor, '127.0.0.1', 'and the visitor\'s address in X-Forwarded-For')
    const res = await fetch(`${authdOrigin}/v1/sessions`, { headers: { authorization: `Bearer ${(await cookie('access_token'))?.value ?? ''}` } })
    const sessions = await res.json() as Array<{ userAgent: string | null, current: boolean }>
    t.equal(sessions.find((s) => s.current)?.userAgent, userAgent, 'authd\'s session list shows the visitor\'s browser, not the SvelteKit server')
  })

  await step('reload', async () => {
    const from = exchanges.length
    await page.reload()
    await expectText(page, 'user-email', account.email, 'still signed in after a reload')
    t.equal(calls(from, 'POST', '/v1/app/auth/refresh').length, 0, 'a fresh access token needs no refresh')
    t.equal(calls(from, 'GET', '/v1/users/me').length, 1, 'one GET /v1/users/me per page load')
  })

  await step('refresh when the access token is gone', async () => {
    const spent = (await cookie('refresh_token'))?.value ?? ''
    await context.clearCookies({ name: 'access_token' }) // as the browser does when it expires
    const from = exchanges.length
    await page.reload()
    await expectText(page, 'user-email', account.email, 'still signed in without the access cookie')
    t.same(calls(from, 'POST', '/v1/app/auth/refresh').map((e) => e.status), [200], 'handle refreshed once through authd')
    const renewed = (await cookie('refresh_token'))?.value
    t.ok(renewed !== undefined && renewed !== '' && renewed !== spent, 'the rotated refresh token replaced the spent one in the cookie')
    t.ok(await cookie('access_token'), 'a new access cookie is set')
  })

  await step('foreign origin', async () => {
    const attacker = await context.newPage()
    await attacker.goto(evilOrigin)
    const from = exchanges.length
    const res = await postForgedForm(attacker, `${kitOrigin}/logout`)
    t.equal(res.status(), 403, 'a forged form POST to /logout from another origin gets 403 (SvelteKit\'s origin check)')
    t.equal(calls(from, 'POST', '/v1/app/auth/logout').length, 0, 'authd was never asked to log out')
    // Closing the page that just navigated to the refused POST now and then never settles in
    // Chromium; it is only tidying up (browser.close() ends it anyway), so do not wait for ever.
    await attacker.waitForLoadState('load', { timeout: STEP_TIMEOUT }).catch(() => {})
    await Promise.race([attacker.close().catch(() => {}), sleep(5_000)])
    await page.reload()
    await expectText(page, 'user-email', account.email, 'the session survived the attempt')
  })

  await step('logout', async () => {
    const refresh = (await cookie('refresh_token'))?.value ?? ''
    const from = exchanges.length
    await page.getByTestId('logout').click()
    await expectPath(page, '/login', 'logging out leads to the login page')
    t.same(calls(from, 'POST', '/v1/app/auth/logout').map((e) => e.status), [204], 'the SvelteKit server ended the session at authd')
    const names = (await context.cookies()).map((c) => c.name)
    t.notOk(names.includes('access_token') || names.includes('refresh_token'), `logout cleared the cookies (left: ${names.join(', ') || 'none'})`)
    const again = await fetch(`${authdOrigin}/v1/app/auth/refresh`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refresh }) })
    t.equal(again.status, 401, 'the logged-out refresh token is refused by authd')
    await page.goto(`${kitOrigin}/account`)
    await expectPath(page, '/login?redirectTo=%2Faccount', 'after logout the protected page redirects to the login page')
  })

  await step('log in', async () => {
    await submitCredentials(page, 'login', 'not the password')
    await expectText(page, 'error', 'Wrong email/username or password.', 'a wrong password is refused with a message')
    await submitCredentials(page, 'login')
    await expectAccountPage(page, 'logging in returns to the page asked for (redirectTo)', 'signed in again')
  })

  await step('reused refresh token', async () => {
    // A thief replays a refresh token that was already rotated: authd revokes the session, and the
    // app treats the visitor as signed out.
    const current = (await cookie('refresh_token'))?.value ?? ''
    await context.clearCookies({ name: 'access_token' })
    await page.reload() // rotates `current`
    await expectText(page, 'user-email', account.email, 'signed in after the rotation')
    await context.clearCookies()
    await context.addCookies([{ name: 'refresh_token', value: current, url: kitOrigin, httpOnly: true, sameSite: 'Lax' }])
    const from = exchanges.length
    await page.goto(`${kitOrigin}/account`)
    await expectPath(page, '/login?redirectTo=%2Faccount', 'presenting a rotated refresh token ends up at the login page')
    t.match(exchanges.slice(from).find((e) => e.url === '/v1/app/auth/refresh'), { status: 401 }, 'authd refused the reused token')
    t.notOk(await cookie('refresh_token'), 'the app cleared the cookie')
  })

  await step('without JavaScript', async () => {
    // Form actions work as plain HTML forms too (progressive enhancement).
    const plain = await browser.newContext({ javaScriptEnabled: false })
    plain.setDefaultTimeout(STEP_TIMEOUT)
    const p = await plain.newPage()
    await p.goto(`${kitOrigin}/login`)
    await submitCredentials(p, 'login')
    await expectAccountPage(p, 'a plain form POST logs in and redirects', 'the server-rendered page shows the user')
    await p.getByTestId('logout').click()
    await expectPath(p, '/login', 'a plain form POST logs out')
    await plain.close()
  })

  let secret = ''
  await step('enable two-factor', async () => {
    await page.goto(`${kitOrigin}/login`)
    await submitCredentials(page, 'login')
    await expectAccountPage(page, 'signed in', 'as the account')
    await page.getByTestId('two-factor-link').click()
    await expectPath(page, '/account/two-factor', 'the account page links to the two-factor page')
    await page.getByTestId('totp-start').click()
    secret = (await page.getByTestId('totp-secret').textContent({ timeout: STEP_TIMEOUT }))?.trim() ?? ''
    t.match(secret, /^[A-Z2-7]{32}$/, 'the page shows the base32 secret')
    t.match(await page.getByTestId('totp-qr').getAttribute('src'), /^data:image\/png;base64,/, 'and the otpauth URI as a QR code drawn by the server (a data: URL)')
    const from = exchanges.length
    await page.getByTestId('totp-code').fill(totpCodeAt(secret, Date.now()))
    await page.getByTestId('totp-confirm').click()
    await page.getByTestId('recovery-codes').waitFor({ timeout: STEP_TIMEOUT })
    t.same(calls(from, 'POST', '/v1/users/me/mfa/totp/confirm').map((e) => e.status), [200], 'the SvelteKit server confirmed the enrolment at authd')
    t.equal(await page.getByTestId('recovery-codes').locator('li').count(), 10, 'the ten recovery codes are shown')
    await page.reload()
    await expectText(page, 'totp-on', 'Two-factor authentication is on.', 'after a reload: on, the codes not shown again')
    t.same(browserRequests.filter((u) => u.startsWith(authdOrigin)), [], 'the browser never called authd itself')
  })

  await step('log in with a code', async () => {
    await page.getByTestId('logout').click()
    await expectPath(page, '/login', 'logged out')
    const from = exchanges.length
    await submitCredentials(page, 'login')
    await page.getByTestId('mfa-code').waitFor({ timeout: STEP_TIMEOUT })
    t.same(calls(from, 'POST', '/v1/app/auth/login').map((e) => e.status), [200], 'the password was right')
    t.notOk(await cookie('refresh_token'), 'no session before the second factor')
    const pending = await cookie('mfa_token')
    t.match(pending, { httpOnly: true, path: '/login' }, 'the mfaToken waits in an HttpOnly cookie scoped to /login')
    t.notOk((await page.content()).includes(pending?.value ?? '(none)'), 'and never appears in the page')
    // Each time step's code is accepted once: the enrolment used this step's, so the next one.
    await page.getByTestId('mfa-code').fill(totpCodeAt(secret, Date.now() + 30_000))
    await page.getByTestId('mfa-submit').click()
    await expectAccountPage(page, 'the code completes the login', 'signed in with password and code')
    t.same(calls(from, 'POST', '/v1/app/auth/mfa').map((e) => e.status), [200], 'through authd\'s POST /v1/app/auth/mfa')
    t.notOk(await cookie('mfa_token'), 'the pending-login cookie is gone')
    t.same(decodeJwt((await cookie('access_token'))?.value ?? '').amr, ['pwd', 'otp', 'mfa'], 'the access token says the second factor was used')
  })

  await step('in-browser session with @authd/client (/browser)', async () => {
    // Another account (this one now has a second factor), signed in from the browser itself.
    const other = newAccount()
    t.equal((await fetch(`${authdOrigin}/v1/app/auth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(other) })).status, 201, 'an account without a second factor')
    const tabA = await context.newPage()
    const tabB = await context.newPage()
    for (const p of [tabA, tabB]) p.on('pageerror', (e) => pageErrors.push(e.message))
    const status = (p: Page) => p.getByTestId('browser-status')
    await tabA.goto(`${kitOrigin}/browser`)
    await status(tabA).filter({ hasText: /^signedOut$/ }).waitFor({ timeout: STEP_TIMEOUT })
    t.equal(await status(tabA).textContent(), 'signedOut', 'no browser session yet: the Svelte store says signedOut')
    await tabA.getByTestId('browser-login').fill(other.email)
    await tabA.getByTestId('browser-password').fill(other.password)
    await tabA.getByTestId('browser-submit').click()
    await tabA.getByTestId('browser-whoami').waitFor({ timeout: STEP_TIMEOUT })
    t.equal(await status(tabA).textContent(), 'signedIn', 'signed in through POST /v1/browser/auth/login')
    t.ok((await context.cookies()).some((c) => c.name === app.config.COOKIE_REFRESH_NAME && c.httpOnly), 'authd set its HttpOnly refresh cookie')
    await tabA.getByTestId('browser-whoami').click()
    await expectText(tabA, 'browser-message', `signed in as ${other.email}`, 'the client\'s fetch calls GET /v1/users/me with the access token')
    await tabB.goto(`${kitOrigin}/browser`)
    await tabB.getByTestId('browser-whoami').waitFor({ timeout: STEP_TIMEOUT })
    t.equal(await status(tabB).textContent(), 'signedIn', 'a second tab is signed in from the cookie')
    await tabA.getByTestId('browser-logout').click()
    await status(tabB).filter({ hasText: /^signedOut$/ }).waitFor({ timeout: STEP_TIMEOUT })
    t.equal(await status(tabB).textContent(), 'signedOut', 'logout in one tab signs the other out')
  })

  await step('Sign in with an OpenID provider on /browser', async () => {
    const email = `social-${Date.now()}@example.com`
    const account = `acct-kit-${Date.now()}`
    op.accounts.set(account, { email, email_verified: true })
    const fresh = await browser.newContext()
    try {
      const page = await fresh.newPage()
      page.on('pageerror', (e) => pageErrors.push(e.message))
      const status = page.getByTestId('browser-status')
      await page.goto(`${kitOrigin}/browser`)
      await status.filter({ hasText: /^signedOut$/ }).waitFor({ timeout: STEP_TIMEOUT })
      const button = page.getByTestId(`browser-provider-${provider.id}`)
      t.equal((await button.textContent({ timeout: STEP_TIMEOUT }))?.trim(), `Sign in with ${provider.name}`, 'the button from GET /v1/browser/auth/providers')
      await button.click()
      await page.locator('input[name="login"]').waitFor({ timeout: STEP_TIMEOUT })
      t.equal(new URL(page.url()).origin, op.issuer, 'at the provider\'s login page')
      await page.locator('input[name="login"]').fill(account)
      await page.locator('input[name="password"]').fill('any password')
      await page.locator('button[type="submit"]').click()
      await page.getByRole('button', { name: 'Continue' }).click({ timeout: STEP_TIMEOUT })
      await page.getByTestId('browser-whoami').waitFor({ timeout: STEP_TIMEOUT }).catch(() => {})
      t.equal(page.url(), `${kitOrigin}/browser`, 'back on /browser (next)')
      t.equal(await status.textContent(), 'signedIn', 'signed in from the refresh cookie authd set')
      await page.getByTestId('browser-whoami').click()
      await expectText(page, 'browser-message', `signed in as ${email}`, 'as the provider account\'s email')
    } finally {
      await fresh.close()
    }
  })

  t.same(pageErrors, [], 'no uncaught errors in the pages')
})
