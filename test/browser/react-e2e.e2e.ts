// The React example (examples/react) against a live authd in a real browser: Debian's Chromium
// driven by playwright-core. Not part of `npm test`: run it with `npm run test:browser` after
// `(cd examples/react && npm ci)` and `apt-get install chromium` (see ../../.ci/run).
//
// As in production, the SPA and authd are different origins: the built SPA is served from
// http://localhost:<spa>, authd from http://localhost:<authd> (same host, so same site: the
// SPA can read authd's readable CSRF cookie, and SameSite cookies travel). A third origin,
// http://localhost:<evil>, is NOT in CORS_ORIGINS and plays the attacker. Cookies ignore ports,
// so the evil page can also set cookies for authd's host: exactly what a compromised sibling
// subdomain can do to a shared parent domain (cookie tossing).
//
// The main scenario runs with authd's default cookie settings (COOKIE_SECURE=true, the __Host-
// names: Chromium treats http://localhost as a secure context and keeps Secure cookies from it);
// a second one runs with the development settings (COOKIE_SECURE=false, plain names) that the
// docs/browser-clients.md suggests for http://localhost, where a tossed cookie can get into the jar.
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { decodeJwt } from 'jose'
import t, { type Test } from 'tap'
import type { BrowserContext, Page } from 'playwright-core'
import { totpCodeAt } from '../../src/services/totp.js'
import { build, newAccount } from '../helper.js'
import { buildReactExample, launchChromium, postForgedForm, prerequisites, startEvilSite, STEP_TIMEOUT, stepRunner } from './chromium.js'
import { close, listen, staticSite } from './local-servers.js'

// Browser globals used inside page.evaluate() callbacks, which run in the page, not in Node
// (module-scoped: the rest of the test program keeps its DOM-free lib).
declare const document: {
  cookie: string
  querySelector (selector: string): { textContent: string | null } | null
}
declare const localStorage: object
declare const sessionStorage: object

/** What authd saw and answered, recorded at the HTTP server (below Fastify). */
interface Exchange {
  method: string
  url: string
  origin: string | undefined
  /** The values of every refresh cookie the request carried, in the order the browser sent them. */
  refreshCookies: string[]
  /** The first of them (the one a server reading the first occurrence would use). */
  refreshCookie: string | undefined
  status: number
  allowOrigin: unknown
  body: string
}

function cookieValues (req: IncomingMessage, name: string): string[] {
  return (req.headers.cookie ?? '').split(';').map((pair) => pair.trim()).filter((pair) => pair.startsWith(`${name}=`)).map((pair) => pair.slice(name.length + 1))
}

/**
 * The set-up both scenarios share: the SPA, the evil page and authd (with `env`) on three
 * localhost ports, the example built against this authd, Chromium, and helpers.
 */
async function startStack (t: Test, env: Record<string, string>) {
  // --- three origins ---------------------------------------------------------------------
  const distDir = path.join(t.testdir(), 'dist')
  const spa = await listen(staticSite(() => distDir))
  t.teardown(async () => await close(spa.server))
  const spaOrigin = `http://localhost:${spa.port}`

  const evilOrigin = await startEvilSite(t)

  const app = await build(t, { CORS_ORIGINS: spaOrigin, LOG_LEVEL: 'silent', ...env })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const refreshName = app.config.COOKIE_REFRESH_NAME
  const csrfName = app.config.COOKIE_CSRF_NAME
  const authdOrigin = `http://localhost:${(app.server.address() as AddressInfo).port}`

  // Record every exchange.
  const exchanges: Exchange[] = []
  const fastifyHandlers = app.server.listeners('request') as RequestListener[]
  app.server.removeAllListeners('request')
  app.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    // Keep the body of the answer too (Fastify sends it with one end() call).
    let body = ''
    const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse
    res.end = ((...args: unknown[]) => {
      if (typeof args[0] === 'string' || Buffer.isBuffer(args[0])) body = String(args[0])
      return end(...args)
    }) as typeof res.end
    res.on('finish', () => {
      const refreshCookies = cookieValues(req, refreshName)
      exchanges.push({
        method: req.method ?? '',
        url: req.url ?? '',
        origin: req.headers.origin,
        refreshCookies,
        refreshCookie: refreshCookies[0],
        status: res.statusCode,
        allowOrigin: res.getHeader('access-control-allow-origin'),
        body
      })
    })
    for (const h of fastifyHandlers) h.call(app.server, req, res)
  })

  // --- build the example against this authd ---------------------------------------------
  const started = Date.now()
  await buildReactExample(distDir, authdOrigin)
  t.comment(`built examples/react in ${Date.now() - started} ms; SPA ${spaOrigin}, authd ${authdOrigin}, evil ${evilOrigin}`)

  // --- browser ---------------------------------------------------------------------------
  const browser = await launchChromium(t)
  const context: BrowserContext = await browser.newContext()
  const step = stepRunner(t, context, 'react')

  const statusOf = async (page: Page) => (await page.getByTestId('status').textContent())?.trim()
  /** Waits for the status line to read `want` and asserts it (with the page's error, if any). */
  async function expectStatus (page: Page, want: string, message: string): Promise<void> {
    try {
      await page.waitForFunction(
        (w) => document.querySelector('[data-testid="status"]')?.textContent?.trim() === w, want, { timeout: STEP_TIMEOUT })
    } catch { /* asserted below */ }
    const error = await page.getByTestId('error').textContent({ timeout: 100 }).catch(() => null)
    t.equal(await statusOf(page), want, message + (error ? ` (page error: ${error})` : ''))
  }

  /** A fresh visitor registers through the page's form; the page then says it is signed in. */
  async function registerThroughPage (page: Page, account: { email: string, password: string }): Promise<void> {
    await page.goto(spaOrigin)
    await expectStatus(page, 'anonymous', 'a fresh visitor is anonymous')
    await page.getByTestId('register-email').fill(account.email)
    await page.getByTestId('register-password').fill(account.password)
    await page.getByTestId('register-submit').click()
    await expectStatus(page, 'authenticated', 'registering logs in')
  }

  return { app, spaOrigin, evilOrigin, authdOrigin, refreshName, csrfName, exchanges, context, step, expectStatus, registerThroughPage }
}

t.test('React example + authd in Chromium (default cookie settings: __Host- names)', async (t) => {
  if (!prerequisites(t, 'react')) return
  // The defaults: COOKIE_SECURE=true, so __Host-authd_refresh (Path=/) and __Host-authd_csrf.
  const { spaOrigin, evilOrigin, authdOrigin, refreshName, csrfName, exchanges, context, step, expectStatus, registerThroughPage } = await startStack(t, {})
  t.same([refreshName, csrfName], ['__Host-authd_refresh', '__Host-authd_csrf'], 'authd runs with the default names')

  const account = newAccount()
  const tab1 = await context.newPage()
  const pageErrors: string[] = []
  tab1.on('pageerror', (e) => pageErrors.push(e.message))

  await step('register', async () => {
    await registerThroughPage(tab1, account)
    t.equal(await tab1.getByTestId('user-email').textContent(), account.email, 'the page shows the user from GET /v1/users/me')
  })

  await step('cookies', async () => {
    const cookies = (await context.cookies()).filter((c) => c.domain === 'localhost')
    t.same(cookies.map((c) => c.name).sort(), ['__Host-authd_csrf', '__Host-authd_refresh'], 'the two __Host- cookies')
    const refresh = cookies.find((c) => c.name === '__Host-authd_refresh')
    const csrf = cookies.find((c) => c.name === '__Host-authd_csrf')
    t.ok(refresh?.httpOnly, 'the refresh cookie is HttpOnly')
    t.match(refresh, { path: '/', secure: true }, 'the refresh cookie: Path=/ and Secure, as __Host- requires')
    t.ok(csrf !== undefined && !csrf.httpOnly && csrf.secure && csrf.path === '/', 'the CSRF cookie is readable, Secure, Path=/')
    t.notOk(await tab1.evaluate(() => document.cookie.includes('authd_refresh')), 'page scripts cannot see the refresh token')
    t.same(await tab1.evaluate(() => Object.keys(localStorage).concat(Object.keys(sessionStorage))), [], 'nothing is kept in web storage')
  })

  await step('reload', async () => {
    const refreshed = tab1.waitForResponse((r) => r.url().endsWith('/v1/browser/auth/refresh') && r.request().method() === 'POST')
    await tab1.reload()
    t.equal((await refreshed).status(), 200, 'the reloaded page refreshes with the cookie')
    const answer = exchanges.findLast((e) => e.method === 'POST' && e.url === '/v1/browser/auth/refresh')
    const tokens = (JSON.parse(answer?.body ?? '{}') as { tokens?: Record<string, unknown> }).tokens ?? {}
    t.same(Object.keys(tokens).sort(), ['accessExpiresIn', 'access', 'csrfToken', 'tokenType'].sort(), 'the refresh body holds the access and CSRF tokens, never the refresh token')
    await expectStatus(tab1, 'authenticated', 'still logged in after a reload')
    t.equal(await tab1.getByTestId('user-email').textContent(), account.email, 'same user after the reload')
  })

  const tab2 = await context.newPage()
  tab2.on('pageerror', (e) => pageErrors.push(e.message))
  await step('second tab', async () => {
    await tab2.goto(spaOrigin)
    await expectStatus(tab2, 'authenticated', 'a second tab is logged in too')
  })

  await step('two tabs reload at once: one refresh at a time', async () => {
    // @authd/client refreshes under a Web Lock shared by the tabs: the second tab waits, receives
    // the first one's token over BroadcastChannel and does not refresh; if it ever does, it is
    // after the first, with the cookie the first one got. Never the same refresh token twice.
    const before = exchanges.length
    await Promise.all([tab1.reload(), tab2.reload()])
    await expectStatus(tab1, 'authenticated', 'tab 1 is logged in after the simultaneous reload')
    await expectStatus(tab2, 'authenticated', 'tab 2 is logged in after the simultaneous reload')
    const refreshes = exchanges.slice(before).filter((e) => e.method === 'POST' && e.url === '/v1/browser/auth/refresh')
    // Two only when tab 2's page had not yet listened when tab 1 shared its token.
    t.ok(refreshes.length === 1 || refreshes.length === 2, `at most one refresh per tab (${refreshes.length})`)
    t.ok(refreshes.every((e) => e.status === 200), 'answered 200')
    t.equal(new Set(refreshes.map((e) => e.refreshCookie)).size, refreshes.length, 'no refresh token was presented twice')
    await tab1.reload()
    await expectStatus(tab1, 'authenticated', 'a later reload still refreshes')
  })

  await step('foreign origin', async () => {
    const attacker = await context.newPage()
    await attacker.goto(evilOrigin)
    const before = exchanges.length

    // Same host, so the attacker page can even read the CSRF cookie: only the Origin check and
    // CORS stand between it and the session.
    const readable = await attacker.evaluate(() => document.cookie.includes('authd_csrf='))
    t.comment(`the foreign page ${readable ? 'can' : 'cannot'} read the CSRF cookie`)

    // 1. A "simple" cross-origin POST (no preflight; the browser attaches the cookie). The page
    //    cannot read the answer, and authd's answer (recorded at its HTTP server) is a 403.
    for (const action of ['refresh', 'logout']) {
      const url = `/v1/browser/auth/${action}`
      const from = exchanges.length
      const seen = await attacker.evaluate(async (target) => {
        try {
          const res = await fetch(target, { method: 'POST', credentials: 'include' })
          return `status ${res.status}: ${await res.text()}`
        } catch (e) { return `blocked: ${String(e)}` }
      }, authdOrigin + url)
      t.match(seen, /^blocked: TypeError/, `the foreign page cannot read the answer to ${action} (CORS): ${seen}`)
      const answer = exchanges.slice(from).find((e) => e.method === 'POST' && e.url === url)
      t.equal(answer?.status, 403, `authd refused the foreign ${action} with 403`)
      t.equal(answer?.refreshCookie !== undefined, true, `the browser did attach the refresh cookie to the foreign ${action} (same site)`)
      t.match(answer?.body, /"code":"csrf_failed"/, `the ${action} problem code is csrf_failed`)
    }

    // 2. With the CSRF token in X-CSRF-Token: the preflight fails, the POST is never sent.
    const beforePreflighted = exchanges.length
    const withHeader = await attacker.evaluate(async (url) => {
      const csrf = /(?:^|;\s*)(?:__Host-)?authd_csrf=([^;]*)/.exec(document.cookie)?.[1] ?? 'guess'
      try {
        const res = await fetch(url, { method: 'POST', credentials: 'include', headers: { 'x-csrf-token': csrf } })
        return `status ${res.status}`
      } catch (e) { return `blocked: ${String(e)}` }
    }, `${authdOrigin}/v1/browser/auth/refresh`)
    t.match(withHeader, /^blocked: TypeError/, `a foreign refresh with X-CSRF-Token is blocked by the preflight: ${withHeader}`)
    const preflighted = exchanges.slice(beforePreflighted)
    t.ok(preflighted.some((e) => e.method === 'OPTIONS') && !preflighted.some((e) => e.method === 'POST'), 'authd refused the preflight and the POST was never sent')

    // 3. A classic CSRF: an auto-submitted HTML form (top-level navigation, cookies attached).
    const formRes = await postForgedForm(attacker, `${authdOrigin}/v1/browser/auth/logout`)
    t.equal(formRes.status(), 403, 'a forged form POST to logout gets 403')
    t.match(await formRes.text(), /csrf_failed/, 'and the problem code csrf_failed')

    // 4. Cookie tossing: the page sets cookies for authd's host (ports do not count). A __Host-
    //    cookie cannot carry another Path (or a Domain), and the HttpOnly one cannot be replaced
    //    from a script: Chromium refuses all three. A plain-named copy gets in, but authd does
    //    not read that name.
    const jarBefore = (await context.cookies()).filter((c) => c.name === '__Host-authd_refresh').map((c) => `${c.path} ${c.value}`)
    await attacker.evaluate(() => {
      document.cookie = '__Host-authd_refresh=forged; Path=/v1/browser/auth/refresh; Secure'
      document.cookie = '__Host-authd_refresh=forged; Path=/; Secure'
      document.cookie = '__Secure-authd_refresh=forged; Path=/v1/browser/auth/refresh; Secure'
      document.cookie = 'authd_refresh=forged; Path=/v1/browser/auth/refresh'
    })
    const jarAfter = (await context.cookies()).filter((c) => c.name === '__Host-authd_refresh').map((c) => `${c.path} ${c.value}`)
    t.same(jarAfter, jarBefore, 'the foreign page could neither add a second __Host-authd_refresh nor replace the real one')

    const foreign = exchanges.slice(before).filter((e) => e.origin === evilOrigin)
    t.ok(foreign.length >= 3, `authd saw the foreign requests (${foreign.map((e) => `${e.method} ${e.url} ${e.status}`).join('; ')})`)
    t.notOk(foreign.some((e) => e.method === 'POST' && e.status < 400), 'no foreign POST succeeded')
    t.notOk(foreign.some((e) => e.allowOrigin !== undefined), 'no CORS Allow-Origin header for the foreign origin')
    t.notOk(foreign.some((e) => e.method === 'POST' && e.url === '/v1/browser/auth/refresh' && e.status === 200), 'the foreign page never refreshed')
    await attacker.close()

    const refreshed = tab1.waitForResponse((r) => r.url().endsWith('/v1/browser/auth/refresh') && r.request().method() === 'POST')
    await tab1.reload()
    t.equal((await refreshed).status(), 200, 'the reloaded page still refreshes')
    await expectStatus(tab1, 'authenticated', 'the user\'s session still works after the attempts')
    t.equal(await tab1.getByTestId('user-email').textContent(), account.email, 'same user after the attempts')
    const last = exchanges.findLast((e) => e.method === 'POST' && e.url === '/v1/browser/auth/refresh')
    t.equal(last?.refreshCookies.length, 1, 'with exactly one __Host-authd_refresh cookie')
    await context.clearCookies({ name: 'authd_refresh' }) // the harmless plain-named leftover
  })

  await step('logout', async () => {
    const loggedOut = tab1.waitForResponse((r) => r.url().endsWith('/v1/browser/auth/logout'))
    await tab1.getByTestId('logout').click()
    t.equal((await loggedOut).status(), 204, 'logout answers 204')
    await expectStatus(tab1, 'anonymous', 'logged out')
    const names = (await context.cookies()).map((c) => c.name)
    t.notOk(names.includes(refreshName) || names.includes(csrfName), `logout cleared the cookies (left: ${names.join(', ') || 'none'})`)
    await tab1.reload()
    await expectStatus(tab1, 'anonymous', 'still logged out after a reload')
  })

  await step('log in again', async () => {
    await tab1.getByTestId('login-login').fill(account.email)
    await tab1.getByTestId('login-password').fill(account.password)
    await tab1.getByTestId('login-submit').click()
    await expectStatus(tab1, 'authenticated', 'logging in with the login form works')
  })

  let secret = ''
  await step('enable two-factor', async () => {
    await tab1.getByTestId('totp-start').click()
    secret = (await tab1.getByTestId('totp-secret').textContent({ timeout: STEP_TIMEOUT }))?.trim() ?? ''
    t.match(secret, /^[A-Z2-7]{32}$/, 'the page shows the base32 secret')
    t.match(await tab1.getByTestId('totp-qr').getAttribute('src'), /^data:image\/png;base64,/, 'and the otpauth URI as a QR code drawn in the page (a data: URL)')
    const confirmed = tab1.waitForResponse((r) => r.url().endsWith('/v1/users/me/mfa/totp/confirm'))
    await tab1.getByTestId('totp-code').fill(totpCodeAt(secret, Date.now()))
    await tab1.getByTestId('totp-confirm').click()
    t.equal((await confirmed).status(), 200, 'the first code confirms the enrolment')
    await tab1.getByTestId('recovery-codes').waitFor({ timeout: STEP_TIMEOUT })
    t.equal(await tab1.getByTestId('recovery-codes').locator('li').count(), 10, 'the ten recovery codes are shown')
    await tab1.reload()
    await expectStatus(tab1, 'authenticated', 'still signed in after enabling two-factor')
    await tab1.getByTestId('totp-on').waitFor({ timeout: STEP_TIMEOUT })
    t.equal(await tab1.getByTestId('recovery-codes').count(), 0, 'the recovery codes are not shown again')
  })

  await step('log in with a code', async () => {
    await tab1.getByTestId('logout').click()
    await expectStatus(tab1, 'anonymous', 'logged out')
    await tab1.getByTestId('login-login').fill(account.email)
    await tab1.getByTestId('login-password').fill(account.password)
    await tab1.getByTestId('login-submit').click()
    await expectStatus(tab1, 'mfa', 'the right password asks for a code')
    t.notOk((await context.cookies()).some((c) => c.name === refreshName), 'no session cookie before the second factor')
    const completed = tab1.waitForResponse((r) => r.url().endsWith('/v1/browser/auth/mfa'))
    // Each time step's code is accepted once: the enrolment used this step's, so the next one.
    await tab1.getByTestId('mfa-code').fill(totpCodeAt(secret, Date.now() + 30_000))
    await tab1.getByTestId('mfa-submit').click()
    t.equal((await completed).status(), 200, 'POST /v1/browser/auth/mfa completes the login')
    await expectStatus(tab1, 'authenticated', 'signed in with password and code')
    t.equal(await tab1.getByTestId('user-email').textContent(), account.email, 'as the same user')
    const answer = exchanges.findLast((e) => e.method === 'POST' && e.url === '/v1/browser/auth/mfa')
    const access = (JSON.parse(answer?.body ?? '{}') as { tokens?: { access?: string } }).tokens?.access ?? ''
    t.same(decodeJwt(access).amr, ['pwd', 'otp', 'mfa'], 'the access token says the second factor was used')
    t.ok((await context.cookies()).some((c) => c.name === refreshName), 'the session cookie is set')
  })

  await step('add a passkey', async () => {
    // A platform authenticator with resident keys and user verification (Chromium's virtual one,
    // through CDP), as a laptop with a fingerprint reader offers. WebAuthn needs the focused tab.
    await tab1.bringToFront()
    const cdp = await context.newCDPSession(tab1)
    await cdp.send('WebAuthn.enable')
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true }
    })
    await tab1.getByTestId('passkey-name').fill('Chromium')
    const added = tab1.waitForResponse((r) => r.url().endsWith('/v1/users/me/passkeys') && r.request().method() === 'POST')
    await tab1.getByTestId('passkey-add').click()
    t.equal((await added).status(), 201, 'POST /v1/users/me/passkeys stores the new passkey')
    await tab1.getByTestId('passkey-list').locator('li').first().waitFor({ timeout: STEP_TIMEOUT })
    t.match(await tab1.getByTestId('passkey-list').textContent(), /Chromium/, 'the page lists it by its name')
    await tab1.reload()
    await expectStatus(tab1, 'authenticated', 'still signed in')
    await tab1.getByTestId('passkey-list').locator('li').first().waitFor({ timeout: STEP_TIMEOUT })
    t.equal(await tab1.getByTestId('passkey-list').locator('li').count(), 1, 'after a reload, GET /v1/users/me/mfa lists one passkey')
  })

  const accessFrom = (url: string) => {
    const answer = exchanges.findLast((e) => e.method === 'POST' && e.url === url)
    return decodeJwt((JSON.parse(answer?.body ?? '{}') as { tokens?: { access?: string } }).tokens?.access ?? '')
  }

  await step('log in with the passkey alone', async () => {
    await tab1.getByTestId('logout').click()
    await expectStatus(tab1, 'anonymous', 'logged out')
    t.notOk((await context.cookies()).some((c) => c.name === refreshName), 'no session cookie')
    const loggedIn = tab1.waitForResponse((r) => r.url().endsWith('/v1/browser/auth/passkey'))
    await tab1.getByTestId('passkey-login').click()
    t.equal((await loggedIn).status(), 200, 'POST /v1/browser/auth/passkey logs in')
    await expectStatus(tab1, 'authenticated', 'signed in with no password and no code (TOTP is on)')
    t.equal(await tab1.getByTestId('user-email').textContent(), account.email, 'as the passkey\'s owner')
    const claims = accessFrom('/v1/browser/auth/passkey')
    t.same(claims.amr, ['hwk', 'user', 'mfa'], 'amr: a device-bound key and a verified user')
    t.ok((await context.cookies()).some((c) => c.name === refreshName && c.httpOnly), 'the HttpOnly session cookie is set')
  })

  await step('a passkey as the second step of a password login', async () => {
    await tab1.getByTestId('logout').click()
    await expectStatus(tab1, 'anonymous', 'logged out')
    await tab1.getByTestId('login-login').fill(account.email)
    await tab1.getByTestId('login-password').fill(account.password)
    await tab1.getByTestId('login-submit').click()
    await expectStatus(tab1, 'mfa', 'the right password asks for a second factor')
    const completed = tab1.waitForResponse((r) => r.url().endsWith('/v1/browser/auth/mfa'))
    await tab1.getByTestId('mfa-passkey').click()
    t.equal((await completed).status(), 200, 'POST /v1/browser/auth/mfa { webauthn } completes the login')
    await expectStatus(tab1, 'authenticated', 'signed in with password and passkey')
    t.same(accessFrom('/v1/browser/auth/mfa').amr, ['pwd', 'hwk', 'mfa'], 'amr: password, then the device-bound key')
  })

  await step('refresh before expiry', async () => {
    // Fake timers in the page: jump to 30 s before the access token expires, without waiting.
    const refreshes = () => exchanges.filter((e) => e.method === 'POST' && e.url === '/v1/browser/auth/refresh').length
    // The browser can read an answer before authd's 'finish' records it: count only once recorded.
    const recorded = async (count: number) => { for (let i = 0; i < 100 && refreshes() < count; i++) await new Promise((resolve) => setTimeout(resolve, 50)) }
    await context.clock.install()
    const before = refreshes()
    await tab1.reload()
    await expectStatus(tab1, 'authenticated', 'logged in under a fake clock')
    await recorded(before + 1) // the reload's own refresh (the session from the cookie)
    const from = refreshes()
    const scheduled = tab1.waitForResponse((r) => r.url().endsWith('/v1/browser/auth/refresh') && r.request().method() === 'POST')
    await tab1.clock.fastForward((300 - 30) * 1000) // ACCESS_TOKEN_TTL defaults to 300 s
    t.equal((await scheduled).status(), 200, 'the page refreshed on its own 30 s before the access token expired')
    await recorded(from + 1)
    t.equal(refreshes() - from, 1, 'exactly one scheduled refresh')
    await expectStatus(tab1, 'authenticated', 'still logged in after the scheduled refresh')
  })

  t.same(pageErrors, [], 'no uncaught errors in the pages')
})

t.test('React example, development settings (COOKIE_SECURE=false): a tossed cookie is refused, nothing is lost', async (t) => {
  if (!prerequisites(t, 'react')) return
  // No grace window: had the refused request rotated the victim's cookie, presenting it again
  // would be reuse and revoke the session — the last step would then fail.
  const { app, evilOrigin, authdOrigin, refreshName, csrfName, exchanges, context, step, expectStatus, registerThroughPage } =
    await startStack(t, { COOKIE_SECURE: 'false', REFRESH_GRACE_SECONDS: '0' })
  t.same([refreshName, csrfName, app.config.COOKIE_PATH], ['authd_refresh', 'authd_csrf', '/v1/browser/auth'], 'plain names: no prefix without Secure')

  const victim = newAccount()
  const tab = await context.newPage()
  const pageErrors: string[] = []
  tab.on('pageerror', (e) => pageErrors.push(e.message))
  await step('register', async () => { await registerThroughPage(tab, victim) })
  const jar = async () => (await context.cookies()).filter((c) => c.domain === 'localhost')
  const victimCookies = await jar()

  await step('a tossed cookie', async () => {
    // The attacker's own session (from anywhere: no Origin, not a browser page)…
    const attacker = newAccount()
    const res = await fetch(`${authdOrigin}/v1/browser/auth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(attacker) })
    t.equal(res.status, 201, 'the attacker has a session of its own')
    const attackerRefresh = /authd_refresh=([^;]+)/.exec(res.headers.getSetCookie().join('\n'))?.[1] ?? ''
    const attackerCsrf = ((await res.json()) as { tokens: { csrfToken: string } }).tokens.csrfToken
    // …planted by the evil page on the same host: its refresh cookie with a longer Path (sent
    // first), its CSRF token over the readable cookie the SPA reads.
    const evil = await context.newPage()
    await evil.goto(evilOrigin)
    await evil.evaluate(([refresh, csrf]) => {
      document.cookie = `authd_refresh=${refresh}; Path=/v1/browser/auth/refresh`
      document.cookie = `authd_csrf=${csrf}; Path=/`
    }, [attackerRefresh, attackerCsrf])
    await evil.close()
    t.equal((await jar()).filter((c) => c.name === 'authd_refresh').length, 2, 'the browser now holds two authd_refresh cookies')

    const from = exchanges.length
    const refreshed = tab.waitForResponse((r) => r.url().endsWith('/v1/browser/auth/refresh') && r.request().method() === 'POST')
    await tab.reload()
    t.equal((await refreshed).status(), 403, 'the reloaded page\'s refresh is refused')
    const answer = exchanges.slice(from).find((e) => e.method === 'POST' && e.url === '/v1/browser/auth/refresh')
    t.equal(answer?.refreshCookies.length, 2, 'the browser sent both refresh cookies')
    t.equal(answer?.refreshCookie, attackerRefresh, 'the tossed one first')
    t.match(answer?.body, /"code":"csrf_failed"/, 'csrf_failed: authd did not pick one')
    await expectStatus(tab, 'anonymous', 'the page shows the login form, never the attacker\'s account')
    t.notMatch(await tab.content(), new RegExp(attacker.email), 'the attacker\'s account never shows')
    const victimRefresh = victimCookies.find((c) => c.name === 'authd_refresh')
    t.ok((await jar()).some((c) => c.name === 'authd_refresh' && c.path === victimRefresh?.path && c.value === victimRefresh?.value), 'the victim\'s own refresh cookie is untouched (not cleared, not rotated)')
  })

  await step('the session survived', async () => {
    // Clearing the planted cookies (what "clear this site's cookies" would do, keeping authd's own).
    await context.clearCookies({ name: 'authd_refresh', path: '/v1/browser/auth/refresh' })
    const victimCsrf = victimCookies.find((c) => c.name === 'authd_csrf')
    if (victimCsrf !== undefined) await context.addCookies([victimCsrf])
    const refreshed = tab.waitForResponse((r) => r.url().endsWith('/v1/browser/auth/refresh') && r.request().method() === 'POST')
    await tab.reload()
    t.equal((await refreshed).status(), 200, 'the victim\'s untouched cookie refreshes: nothing was rotated or revoked')
    await expectStatus(tab, 'authenticated', 'logged in again')
    t.equal(await tab.getByTestId('user-email').textContent(), victim.email, 'as the victim')
  })

  t.same(pageErrors, [], 'no uncaught errors in the pages')
})
