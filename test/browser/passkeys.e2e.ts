// Passkeys in a real browser: Debian's Chromium (playwright-core) with a CDP virtual
// authenticator (CTAP2, platform, resident keys, user verification) — the proof that authd's
// options and verification work with what a browser really sends, which the software
// authenticator of test/routes/users/passkeys.test.ts cannot give. Run by `npm run test:browser`.
//
// A tiny page (served from http://localhost:<page>) bundles @simplewebauthn/browser with
// esbuild and talks to authd (http://localhost:<authd>, the page's origin in CORS_ORIGINS and
// WEBAUTHN_ORIGINS) as an app client would: register with a password, register a passkey,
// then log in with the passkey alone. Then the replays: the same assertion again, and a new
// assertion over a used challenge. rpID is `localhost`: Chromium refuses `127.0.0.1` as an RP id
// (docs/accounts.md "Passkeys"), so the pages are browsed as localhost while the servers listen
// on 127.0.0.1.
import { build as esbuild } from 'esbuild'
import { decodeJwt } from 'jose'
import type { AddressInfo } from 'node:net'
import { existsSync } from 'node:fs'
import t from 'tap'
import { build, newAccount } from '../helper.js'
import { repoRoot } from '../support/processes.js'
import { chromiumPath, launchChromium, stepRunner } from './chromium.js'
import { close, listen } from './local-servers.js'

// What the page's module puts on `window` (see PAGE), used inside page.evaluate() callbacks.
interface Reply { status: number, body: { code?: string, [key: string]: unknown } }
interface PageApi {
  post: (path: string, body?: unknown, token?: string) => Promise<Reply>
  startRegistration: (options: { optionsJSON: unknown }) => Promise<unknown>
  startAuthentication: (options: { optionsJSON: unknown }) => Promise<unknown>
}
declare const window: { pk: PageApi }

const ENTRY = `
import { startAuthentication, startRegistration } from '@simplewebauthn/browser'
const authd = new URLSearchParams(location.search).get('authd')
async function post (path, body, token) {
  const headers = {}
  if (body !== undefined) headers['content-type'] = 'application/json'
  if (token !== undefined) headers.authorization = 'Bearer ' + token
  // credentials: the browser client's refresh cookie comes back in the reply.
  const res = await fetch(authd + path, { method: 'POST', headers, credentials: 'include', body: body === undefined ? undefined : JSON.stringify(body) })
  return { status: res.status, body: await res.json() }
}
window.pk = { post, startRegistration, startAuthentication }
document.title = 'ready'
`
const PAGE = '<!doctype html><meta charset="utf-8"><title>loading</title><script type="module" src="/bundle.js"></script><h1>passkeys</h1>'

t.test('a passkey registered and used for passwordless logins (app and browser clients) in Chromium; its assertion and its challenge work once', async (t) => {
  if (!existsSync(chromiumPath)) return t.fail(`no Chromium at ${chromiumPath}: apt-get install -y chromium (or set CHROMIUM_PATH)`)
  const bundled = await esbuild({ stdin: { contents: ENTRY, resolveDir: repoRoot, loader: 'js' }, bundle: true, format: 'esm', write: false, logLevel: 'silent' })
  const bundle = bundled.outputFiles[0]?.text ?? ''
  t.comment(`bundled @simplewebauthn/browser: ${bundle.length} bytes`)

  const page = await listen((req, res) => {
    const js = req.url === '/bundle.js'
    res.writeHead(200, { 'content-type': js ? 'text/javascript; charset=utf-8' : 'text/html; charset=utf-8' })
    res.end(js ? bundle : PAGE)
  })
  t.teardown(async () => await close(page.server))
  const pageOrigin = `http://localhost:${page.port}`
  const app = await build(t, { CORS_ORIGINS: pageOrigin, WEBAUTHN_RP_ID: 'localhost', WEBAUTHN_ORIGINS: pageOrigin, LOG_LEVEL: 'silent' })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const authd = `http://localhost:${(app.server.address() as AddressInfo).port}`
  t.comment(`page ${pageOrigin}, authd ${authd}`)

  const browser = await launchChromium(t)
  const context = await browser.newContext()
  const step = stepRunner(t, context, 'passkeys')
  const tab = await context.newPage()
  const cdp = await context.newCDPSession(tab)
  await cdp.send('WebAuthn.enable')
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true }
  })
  await tab.goto(`${pageOrigin}/?authd=${encodeURIComponent(authd)}`)
  await tab.waitForFunction(() => window.pk !== undefined)

  const account = newAccount()
  let userId = ''
  await step('register an account and a passkey', async () => {
    const result = await tab.evaluate(async (account) => {
      const { pk } = window
      const registered = await pk.post('/v1/app/auth/register', account)
      const token = (registered.body.tokens as { access: string }).access
      const options = await pk.post('/v1/users/me/passkeys/options', undefined, token)
      const response = await pk.startRegistration({ optionsJSON: options.body })
      const added = await pk.post('/v1/users/me/passkeys', { name: 'Chromium', response }, token)
      return { registered: registered.status, userId: (registered.body.user as { id: string }).id, options: options.status, added }
    }, account)
    t.equal(result.registered, 201)
    t.equal(result.options, 200)
    t.equal(result.added.status, 201, JSON.stringify(result.added.body))
    t.match(result.added.body, { id: String, name: 'Chromium', createdAt: String })
    userId = result.userId
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId })
    t.equal(credentials.length, 1, 'the authenticator holds one credential')
    t.equal(credentials[0]?.isResidentCredential, true, 'a discoverable (resident) one')
    t.comment(`registered passkey ${String(result.added.body.id)} for ${userId}`)
  })

  await step('log in with the passkey alone (no password), then replay the assertion and the challenge', async () => {
    const result = await tab.evaluate(async () => {
      const { pk } = window
      const options = await pk.post('/v1/app/auth/passkey/options')
      const assertion = await pk.startAuthentication({ optionsJSON: options.body })
      const login = await pk.post('/v1/app/auth/passkey', { response: assertion })
      // The very same assertion again.
      const replay = await pk.post('/v1/app/auth/passkey', { response: assertion })
      // A new, validly signed assertion over the challenge already used.
      const again = await pk.startAuthentication({ optionsJSON: options.body })
      const challengeReplay = await pk.post('/v1/app/auth/passkey', { response: again })
      return { options: options.status, login, replay, challengeReplay }
    })
    t.equal(result.options, 200)
    t.equal(result.login.status, 200, JSON.stringify(result.login.body))
    const tokens = result.login.body.tokens as { access: string, refresh: string }
    t.match(tokens, { access: String, refresh: String })
    const claims = decodeJwt(tokens.access)
    t.equal(claims.sub, userId, 'the account that registered the passkey')
    t.same(claims.amr, ['hwk', 'user', 'mfa'], 'amr: a device-bound key, a verified user')
    const me = await app.inject({ method: 'GET', url: '/v1/users/me', headers: { authorization: `Bearer ${tokens.access}` } })
    t.equal(me.statusCode, 200, 'the access token works')
    t.comment(`passwordless login: ${result.login.status}, amr ${JSON.stringify(claims.amr)}`)
    t.equal(result.replay.status, 400)
    t.equal(result.replay.body.code, 'webauthn_failed', 'assertion replay refused')
    t.equal(result.challengeReplay.status, 400)
    t.equal(result.challengeReplay.body.code, 'webauthn_failed', 'challenge replay refused')
    t.comment(`assertion replay: ${result.replay.status} ${String(result.replay.body.code)}; challenge replay: ${result.challengeReplay.status} ${String(result.challengeReplay.body.code)}`)
  })

  await step('the browser client: a passkey login sets the session cookie', async () => {
    const result = await tab.evaluate(async () => {
      const { pk } = window
      const options = await pk.post('/v1/browser/auth/passkey/options')
      const assertion = await pk.startAuthentication({ optionsJSON: options.body })
      return await pk.post('/v1/browser/auth/passkey', { response: assertion })
    })
    t.equal(result.status, 200, JSON.stringify(result.body))
    const tokens = result.body.tokens as { access: string, csrfToken: string, refresh?: string }
    t.match(tokens, { access: String, csrfToken: String })
    t.equal(tokens.refresh, undefined, 'no refresh token in the body')
    t.same(decodeJwt(tokens.access).amr, ['hwk', 'user', 'mfa'])
    const cookies = await context.cookies(authd)
    t.ok(cookies.some((cookie) => cookie.name.includes('authd_refresh') && cookie.httpOnly), 'the HttpOnly refresh cookie is set')
    t.comment(`browser passkey login: ${result.status}, cookies ${cookies.map((cookie) => cookie.name).join(', ')}`)
  })
})
