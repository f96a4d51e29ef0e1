// The React example (examples/react) against a live authd in a real browser: Debian's Chromium
// driven by playwright-core. Not part of `npm test`: run it with `npm run test:browser` after
// `(cd examples/react && npm ci)` and `apt-get install chromium` (see ../../.ci/run).
//
// As in production, the SPA and authd are different origins: the built SPA is served from
// http://localhost:<spa>, authd from http://localhost:<authd> (same host, so same site: the
// SPA can read authd's readable CSRF cookie, and SameSite cookies travel). A third origin,
// http://localhost:<evil>, is NOT in CORS_ORIGINS and plays the attacker.
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { build, newAccount } from '../helper.js'
import { close, listen } from './local-servers.js'

// Browser globals used inside page.evaluate() callbacks, which run in the page, not in Node
// (module-scoped: the rest of the test program keeps its DOM-free lib).
interface FormElement { method: string, action: string, submit (): void }
declare const document: {
  cookie: string
  body: { append (node: FormElement): void }
  querySelector (selector: string): { textContent: string | null } | null
  createElement (tag: 'form'): FormElement
}
declare const localStorage: object
declare const sessionStorage: object

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const exampleDir = path.join(root, 'examples/react')
const viteBin = path.join(exampleDir, 'node_modules/vite/bin/vite.js')
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const STEP_TIMEOUT = 15_000

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json'
}

/** Serves a built SPA: files of `dir()`, index.html for every other path. */
function staticSite (dir: () => string): RequestListener {
  return (req, res) => {
    void (async () => {
      const pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)
      const file = path.join(dir(), path.normalize(pathname).replace(/^(\.\.[/\\])+/, ''))
      let body: Buffer
      let type = CONTENT_TYPES[path.extname(file)]
      try {
        body = await readFile(file)
      } catch {
        body = await readFile(path.join(dir(), 'index.html'))
        type = CONTENT_TYPES['.html']
      }
      res.writeHead(200, { 'content-type': type ?? 'application/octet-stream', 'cache-control': 'no-store' })
      res.end(body)
    })().catch(() => { res.writeHead(500); res.end() })
  }
}

/** What authd saw and answered, recorded at the HTTP server (below Fastify). */
interface Exchange { method: string, url: string, origin: string | undefined, refreshCookie: string | undefined, status: number, allowOrigin: unknown, body: string }

function refreshCookieOf (req: IncomingMessage): string | undefined {
  return /(?:^|;\s*)authd_refresh=([^;]*)/.exec(req.headers.cookie ?? '')?.[1]
}

t.test('React example + authd in Chromium', async (t) => {
  if (!existsSync(chromiumPath)) {
    t.fail(`no Chromium at ${chromiumPath}: apt-get install -y chromium (or set CHROMIUM_PATH)`)
    return
  }
  if (!existsSync(viteBin)) {
    t.fail('examples/react has no node_modules: run (cd examples/react && npm ci)')
    return
  }

  // --- three origins ---------------------------------------------------------------------
  const distDir = path.join(t.testdir(), 'dist')
  const spa = await listen(staticSite(() => distDir))
  t.teardown(async () => await close(spa.server))
  const spaOrigin = `http://localhost:${spa.port}`

  const evil = await listen((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    res.end('<!doctype html><title>evil</title><h1>Totally harmless page</h1>')
  })
  t.teardown(async () => await close(evil.server))
  const evilOrigin = `http://localhost:${evil.port}`

  const app = await build(t, { CORS_ORIGINS: spaOrigin, COOKIE_SECURE: 'false', LOG_LEVEL: 'silent' })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const authdOrigin = `http://localhost:${(app.server.address() as AddressInfo).port}`

  // Record every exchange, and optionally hold refresh requests until `gate.size` of them have
  // arrived (so that two tabs really present the same refresh cookie at the same time).
  const exchanges: Exchange[] = []
  const gate = { size: 0, held: [] as Array<() => void> }
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
      exchanges.push({
        method: req.method ?? '',
        url: req.url ?? '',
        origin: req.headers.origin,
        refreshCookie: refreshCookieOf(req),
        status: res.statusCode,
        allowOrigin: res.getHeader('access-control-allow-origin'),
        body
      })
    })
    const handle = () => { for (const h of fastifyHandlers) h.call(app.server, req, res) }
    if (gate.size > 0 && req.method === 'POST' && req.url === '/v1/browser/auth/refresh') {
      gate.held.push(handle)
      if (gate.held.length >= gate.size) {
        const release = gate.held
        gate.size = 0
        gate.held = []
        release.forEach((h) => h())
      }
      return
    }
    handle()
  })
  const releaseGate = () => { const held = gate.held; gate.size = 0; gate.held = []; held.forEach((h) => h()) }

  // --- build the example against this authd ---------------------------------------------
  const started = Date.now()
  await promisify(execFile)(process.execPath, [viteBin, 'build', '--outDir', distDir, '--emptyOutDir', '--logLevel', 'warn'], {
    cwd: exampleDir,
    env: { ...process.env, VITE_AUTHD_URL: authdOrigin }
  })
  t.comment(`built examples/react in ${Date.now() - started} ms; SPA ${spaOrigin}, authd ${authdOrigin}, evil ${evilOrigin}`)

  // --- browser ---------------------------------------------------------------------------
  const browser: Browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking']
  })
  t.teardown(async () => await browser.close())
  const context: BrowserContext = await browser.newContext()
  const artifacts = path.join(process.env.E2E_ARTIFACTS ?? path.join(tmpdir(), 'authd-e2e'), new Date().toISOString().replaceAll(':', '-'))

  /** Runs one scenario step; on failure saves a screenshot of every open page. */
  async function step (name: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn()
    } catch (error) {
      mkdirSync(artifacts, { recursive: true })
      const shots: string[] = []
      for (const [i, page] of context.pages().entries()) {
        const file = path.join(artifacts, `${name.replace(/\W+/g, '-')}-tab${i + 1}.png`)
        try { await page.screenshot({ path: file, fullPage: true }); shots.push(file) } catch { /* page gone */ }
      }
      t.comment(`step "${name}" failed; screenshots: ${shots.join(', ') || 'none'}`)
      throw error
    }
  }

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

  const account = newAccount()
  const tab1 = await context.newPage()
  const pageErrors: string[] = []
  tab1.on('pageerror', (e) => pageErrors.push(e.message))

  await step('register', async () => {
    await tab1.goto(spaOrigin)
    await expectStatus(tab1, 'anonymous', 'a fresh visitor is anonymous')
    await tab1.getByTestId('register-email').fill(account.email)
    await tab1.getByTestId('register-password').fill(account.password)
    await tab1.getByTestId('register-submit').click()
    await expectStatus(tab1, 'authenticated', 'registering logs in')
    t.equal(await tab1.getByTestId('user-email').textContent(), account.email, 'the page shows the user from GET /v1/users/me')
  })

  await step('cookies', async () => {
    // All cookies of the jar: cookies(url) would hide the refresh cookie, whose Path is not /.
    const cookies = (await context.cookies()).filter((c) => c.domain === 'localhost')
    const refresh = cookies.find((c) => c.name === 'authd_refresh')
    const csrf = cookies.find((c) => c.name === 'authd_csrf')
    t.ok(refresh?.httpOnly, 'the refresh cookie is HttpOnly')
    t.equal(refresh?.path, '/v1/browser/auth', 'the refresh cookie only travels to the browser token endpoints')
    t.ok(csrf !== undefined && !csrf.httpOnly, 'the CSRF cookie is readable')
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

  await step('two tabs refresh at once', async () => {
    const before = exchanges.length
    gate.size = 2 // authd handles both refreshes only once both have arrived
    const timer = setTimeout(releaseGate, STEP_TIMEOUT)
    await Promise.all([tab1.reload(), tab2.reload()])
    await expectStatus(tab1, 'authenticated', 'tab 1 is logged in after the simultaneous refresh')
    await expectStatus(tab2, 'authenticated', 'tab 2 is logged in after the simultaneous refresh')
    clearTimeout(timer)
    const refreshes = exchanges.slice(before).filter((e) => e.method === 'POST' && e.url === '/v1/browser/auth/refresh')
    t.same(refreshes.map((e) => e.status), [200, 200], 'authd answered both concurrent refreshes with 200')
    t.ok(refreshes.length === 2 && refreshes[0]!.refreshCookie === refreshes[1]!.refreshCookie, 'both tabs presented the same refresh token (a real race)')
    // The session survived the race: another refresh with whatever cookie the jar now holds works.
    await tab1.reload()
    await expectStatus(tab1, 'authenticated', 'a later reload still refreshes (the session was not revoked)')
  })

  await step('foreign origin', async () => {
    const attacker = await context.newPage()
    await attacker.goto(evilOrigin)
    const before = exchanges.length

    // Same host, so the attacker page can even read the CSRF cookie: only the Origin check and
    // CORS stand between it and the session.
    const readable = await attacker.evaluate(() => document.cookie.includes('authd_csrf='))
    t.comment(`the foreign page ${readable ? 'can' : 'cannot'} read the authd_csrf cookie`)

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
      const csrf = /(?:^|;\s*)authd_csrf=([^;]*)/.exec(document.cookie)?.[1] ?? 'guess'
      try {
        const res = await fetch(url, { method: 'POST', credentials: 'include', headers: { 'x-csrf-token': csrf } })
        return `status ${res.status}`
      } catch (e) { return `blocked: ${String(e)}` }
    }, `${authdOrigin}/v1/browser/auth/refresh`)
    t.match(withHeader, /^blocked: TypeError/, `a foreign refresh with X-CSRF-Token is blocked by the preflight: ${withHeader}`)
    const preflighted = exchanges.slice(beforePreflighted)
    t.ok(preflighted.some((e) => e.method === 'OPTIONS') && !preflighted.some((e) => e.method === 'POST'), 'authd refused the preflight and the POST was never sent')

    // 3. A classic CSRF: an auto-submitted HTML form (top-level navigation, cookies attached).
    const formAnswer = attacker.waitForResponse((r) => r.url().endsWith('/v1/browser/auth/logout'))
    await attacker.evaluate((action) => {
      const form = document.createElement('form')
      form.method = 'POST'
      form.action = action
      document.body.append(form)
      form.submit()
    }, `${authdOrigin}/v1/browser/auth/logout`)
    const formRes = await formAnswer
    t.equal(formRes.status(), 403, 'a forged form POST to logout gets 403')
    t.match(await formRes.text(), /csrf_failed/, 'and the problem code csrf_failed')

    const foreign = exchanges.slice(before).filter((e) => e.origin === evilOrigin)
    t.ok(foreign.length >= 3, `authd saw the foreign requests (${foreign.map((e) => `${e.method} ${e.url} ${e.status}`).join('; ')})`)
    t.notOk(foreign.some((e) => e.method === 'POST' && e.status < 400), 'no foreign POST succeeded')
    t.notOk(foreign.some((e) => e.allowOrigin !== undefined), 'no CORS Allow-Origin header for the foreign origin')
    t.notOk(foreign.some((e) => e.method === 'POST' && e.url === '/v1/browser/auth/refresh' && e.status === 200), 'the foreign page never refreshed')
    await attacker.close()

    await tab1.reload()
    await expectStatus(tab1, 'authenticated', 'the user\'s session still works after the attempts')
    t.equal(await tab1.getByTestId('user-email').textContent(), account.email, 'same user after the attempts')
  })

  await step('logout', async () => {
    const loggedOut = tab1.waitForResponse((r) => r.url().endsWith('/v1/browser/auth/logout'))
    await tab1.getByTestId('logout').click()
    t.equal((await loggedOut).status(), 204, 'logout answers 204')
    await expectStatus(tab1, 'anonymous', 'logged out')
    const names = (await context.cookies()).map((c) => c.name)
    t.notOk(names.includes('authd_refresh') || names.includes('authd_csrf'), `logout cleared the cookies (left: ${names.join(', ') || 'none'})`)
    await tab1.reload()
    await expectStatus(tab1, 'anonymous', 'still logged out after a reload')
  })

  await step('log in again', async () => {
    await tab1.getByTestId('login-login').fill(account.email)
    await tab1.getByTestId('login-password').fill(account.password)
    await tab1.getByTestId('login-submit').click()
    await expectStatus(tab1, 'authenticated', 'logging in with the login form works')
  })

  await step('refresh before expiry', async () => {
    // Fake timers in the page: jump to 30 s before the access token expires, without waiting.
    await context.clock.install()
    await tab1.reload()
    await expectStatus(tab1, 'authenticated', 'logged in under a fake clock')
    const from = exchanges.length
    const scheduled = tab1.waitForResponse((r) => r.url().endsWith('/v1/browser/auth/refresh') && r.request().method() === 'POST')
    await tab1.clock.fastForward((300 - 30) * 1000) // ACCESS_TOKEN_TTL defaults to 300 s
    t.equal((await scheduled).status(), 200, 'the page refreshed on its own 30 s before the access token expired')
    t.equal(exchanges.slice(from).filter((e) => e.method === 'POST' && e.url === '/v1/browser/auth/refresh').length, 1, 'exactly one scheduled refresh')
    await expectStatus(tab1, 'authenticated', 'still logged in after the scheduled refresh')
  })

  t.same(pageErrors, [], 'no uncaught errors in the pages')
})
