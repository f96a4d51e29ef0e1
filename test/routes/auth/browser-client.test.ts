// POST /v1/browser/auth/{register,login,refresh,logout} (API.md: two kinds of client): the
// refresh token only in an HttpOnly cookie, the access and CSRF tokens in the body, CSRF
// checks (Origin allowlist, X-CSRF-Token bound to the session), cookies cleared when dead.
// Cookies are carried by hand between inject calls, as a browser would.
import { randomBytes } from 'node:crypto'
import t, { type Test } from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { cookieNameCounts } from '../../../src/routes/auth/browser-cookies.js'
import { assertProblem, build, buildWithDatabase, me, newAccount, register } from '../../helper.js'
import { refreshClaims } from '../../jwt-helper.js'

const ORIGIN = 'http://localhost:5173'
const BASE = '/v1/browser/auth'
const BODY_TOKEN_FIELDS = ['access', 'accessExpiresIn', 'csrfToken', 'tokenType']

// Development set-up (http://localhost page, Secure off) with the default 10 s grace window…
const { app, database } = await buildWithDatabase(t, { CORS_ORIGINS: ORIGIN, COOKIE_SECURE: 'false' })
// …and with no grace window, so any second use of a rotated cookie is reuse.
const strict = await build(t, { CORS_ORIGINS: ORIGIN, COOKIE_SECURE: 'false', REFRESH_GRACE_SECONDS: '0' })

type Cookie = LightMyRequestResponse['cookies'][number]

/** A browser's cookie store for one site, enough for authd's two cookies. */
class Jar {
  readonly cookies = new Map<string, Cookie>()
  take (res: LightMyRequestResponse): this {
    for (const c of res.cookies) {
      if (c.maxAge === 0) this.cookies.delete(c.name)
      else this.cookies.set(c.name, c)
    }
    return this
  }

  /** The Cookie header a browser sends to `url` (path matching as RFC 6265 5.1.4). */
  header (url: string): string {
    return [...this.cookies.values()]
      .filter((c) => { const p = c.path ?? '/'; return url === p || url.startsWith(p.endsWith('/') ? p : `${p}/`) })
      .map((c) => `${c.name}=${c.value}`).join('; ')
  }

  value (name: string): string | undefined { return this.cookies.get(name)?.value }
}

interface Browser { jar: Jar, csrf: string, access: string, userId: string }

async function post (target: FastifyInstance, path: string, options: { jar?: Jar, csrf?: string, origin?: string | null, payload?: unknown, headers?: Record<string, string>, remoteAddress?: string } = {}): Promise<LightMyRequestResponse> {
  const url = `${BASE}${path}`
  const headers: Record<string, string> = { ...options.headers }
  if (options.origin !== null) headers.origin = options.origin ?? ORIGIN
  if (options.csrf !== undefined) headers['x-csrf-token'] = options.csrf
  const cookie = options.jar?.header(url)
  if (cookie !== undefined && cookie !== '') headers.cookie = cookie
  return await target.inject({ method: 'POST', url, headers, remoteAddress: options.remoteAddress, ...(options.payload === undefined ? {} : { payload: options.payload as Record<string, unknown> }) })
}

/** Registers through the browser endpoint; the jar then holds both cookies. */
async function browserRegister (target: FastifyInstance = app): Promise<Browser> {
  const res = await post(target, '/register', { payload: newAccount() })
  if (res.statusCode !== 201) throw new Error(`register failed: ${res.statusCode} ${res.body}`)
  const body = res.json()
  return { jar: new Jar().take(res), csrf: body.tokens.csrfToken, access: body.tokens.access, userId: body.user.id }
}

const cookieNamed = (res: LightMyRequestResponse, name: string): Cookie | undefined => res.cookies.find((c) => c.name === name)

function assertCleared (t: Test, res: LightMyRequestResponse, path = BASE): void {
  const refresh = cookieNamed(res, 'authd_refresh')
  const csrf = cookieNamed(res, 'authd_csrf')
  t.match(refresh, { value: '', maxAge: 0, path, httpOnly: true }, 'refresh cookie cleared on its own path')
  t.match(csrf, { value: '', maxAge: 0, path: '/' }, 'CSRF cookie cleared')
}

t.test('register: 201 with user, access and CSRF token in the body, the refresh token only in the cookie', async (t) => {
  const secure = await build(t, { CORS_ORIGINS: 'https://app.example.com' })
  const account = newAccount()
  const res = await post(secure, '/register', { origin: 'https://app.example.com', payload: account })
  t.equal(res.statusCode, 201, res.body.slice(0, 300))
  const body = res.json()
  t.equal(body.user.email, account.email)
  t.same(Object.keys(body.tokens).sort(), BODY_TOKEN_FIELDS, 'no refresh token in the body')
  t.equal(body.tokens.tokenType, 'Bearer')

  // The defaults: __Host- names, which no other host of the domain can set or shadow.
  t.same(res.cookies.map((c) => c.name).sort(), ['__Host-authd_csrf', '__Host-authd_refresh'])
  const refresh = cookieNamed(res, '__Host-authd_refresh')
  const csrf = cookieNamed(res, '__Host-authd_csrf')
  t.match(refresh, { httpOnly: true, secure: true, sameSite: 'Strict', path: '/', maxAge: 86400 }, 'refresh cookie flags (__Host- requires Path=/)')
  t.notOk(refresh?.domain, 'host-only')
  t.notOk(csrf?.domain, 'host-only')
  t.equal(refreshClaims(String(refresh?.value)).sub, body.user.id, 'the cookie holds a refresh token of this user')
  t.notOk(res.body.includes(String(refresh?.value)), 'the refresh token appears nowhere in the body')
  t.match(csrf, { secure: true, sameSite: 'Strict', path: '/', maxAge: 86400, value: body.tokens.csrfToken }, 'CSRF cookie = body csrfToken')
  t.notOk(csrf?.httpOnly, 'the page can read the CSRF cookie')
  t.match(body.tokens.csrfToken, /^[A-Za-z0-9_-]{43}$/, '256-bit base64url token')
  t.equal(res.headers['cache-control'], 'no-store')
  t.equal((await me(secure, body.tokens.access)).statusCode, 200, 'the access token works')
})

t.test('login: 200 with the same shape; a new session with its own CSRF token', async (t) => {
  const account = newAccount()
  const first = await post(app, '/register', { payload: account })
  const res = await post(app, '/login', { payload: { login: account.email, password: account.password } })
  t.equal(res.statusCode, 200, res.body.slice(0, 300))
  const body = res.json()
  t.same(Object.keys(body).sort(), ['tokens', 'user'])
  t.same(Object.keys(body.tokens).sort(), BODY_TOKEN_FIELDS)
  t.match(cookieNamed(res, 'authd_refresh'), { httpOnly: true, sameSite: 'Strict', path: BASE })
  t.notOk(cookieNamed(res, 'authd_refresh')?.secure, 'COOKIE_SECURE=false (http://localhost development): no Secure flag')
  t.not(body.tokens.csrfToken, first.json().tokens.csrfToken, 'CSRF tokens are per session')
  t.equal((await me(app, body.tokens.access)).statusCode, 200)

  const wrong = await post(app, '/login', { payload: { login: account.email, password: 'wrong password!' } })
  assertProblem(t, wrong, 401, 'invalid_credentials')
  t.equal(wrong.cookies.length, 0, 'no cookie on a failed login')
})

t.test('refresh: cookie + X-CSRF-Token rotates the cookie, keeps the session and its CSRF token', async (t) => {
  const b = await browserRegister()
  const sid = refreshClaims(String(b.jar.value('authd_refresh'))).sid
  const seen = new Set([b.jar.value('authd_refresh')])
  for (let i = 0; i < 3; i++) {
    const res = await post(app, '/refresh', { jar: b.jar, csrf: b.csrf })
    t.equal(res.statusCode, 200, res.body.slice(0, 300))
    b.jar.take(res)
    const body = res.json()
    t.same(Object.keys(body), ['tokens'])
    t.same(Object.keys(body.tokens).sort(), BODY_TOKEN_FIELDS)
    t.equal(body.tokens.csrfToken, b.csrf, 'same CSRF token: same session')
    t.equal(b.jar.value('authd_csrf'), b.csrf, 'CSRF cookie set again (its lifetime renewed)')
    const token = String(b.jar.value('authd_refresh'))
    t.notOk(seen.has(token), `refresh #${i + 1} sets a new refresh cookie`)
    seen.add(token)
    t.equal(refreshClaims(token).sid, sid)
    t.notOk(res.body.includes(token), 'not in the body')
    t.equal(res.headers['cache-control'], 'no-store')
    t.equal((await me(app, body.tokens.access)).json().id, b.userId)
  }
})

t.test('refresh: a replayed old cookie is reuse — 401 token_reused, session revoked, cookies cleared', async (t) => {
  const b = await browserRegister(strict)
  const stolen = new Jar().take({ cookies: [...b.jar.cookies.values()] } as unknown as LightMyRequestResponse)
  const ok = await post(strict, '/refresh', { jar: b.jar, csrf: b.csrf })
  t.equal(ok.statusCode, 200)
  b.jar.take(ok)

  const replay = await post(strict, '/refresh', { jar: stolen, csrf: b.csrf })
  assertProblem(t, replay, 401, 'token_reused')
  assertCleared(t, replay)
  // The whole family is gone: the legitimate, newest cookie too.
  const after = await post(strict, '/refresh', { jar: b.jar, csrf: b.csrf })
  assertProblem(t, after, 401, 'token_invalid')
  assertCleared(t, after)
})

t.test('refresh within the grace window (two tabs at once) answers both, in one session', async (t) => {
  const b = await browserRegister()
  const [one, two] = await Promise.all([
    post(app, '/refresh', { jar: b.jar, csrf: b.csrf }),
    post(app, '/refresh', { jar: b.jar, csrf: b.csrf })
  ])
  t.equal(one.statusCode, 200, one.body.slice(0, 200))
  t.equal(two.statusCode, 200, two.body.slice(0, 200))
  const sid = (res: LightMyRequestResponse) => refreshClaims(String(cookieNamed(res, 'authd_refresh')?.value)).sid
  t.equal(sid(one), sid(two), 'same session')
  t.equal(cookieNamed(one, 'authd_refresh')?.value, cookieNamed(two, 'authd_refresh')?.value, 'both tabs are given the same new refresh cookie')
  // Whichever reply the browser kept last, its cookie works.
  const next = await post(app, '/refresh', { jar: new Jar().take(two), csrf: b.csrf })
  t.equal(next.statusCode, 200, next.body.slice(0, 200))
})

t.test('known device: a browser that logged in before gets past a lock an attacker keeps on the account', async (t) => {
  const locking = await build(t, { CORS_ORIGINS: ORIGIN, COOKIE_SECURE: 'false', LOCKOUT_THRESHOLD: '3' })
  const account = newAccount()
  t.equal((await post(locking, '/register', { payload: account })).statusCode, 201)
  const first = await post(locking, '/login', { payload: { login: account.email, password: account.password } })
  t.equal(first.statusCode, 200)
  const device = cookieNamed(first, 'authd_device')
  t.match(device, { httpOnly: true, sameSite: 'Strict', path: BASE }, 'the known-device cookie: HttpOnly, sent only to the token endpoints')
  t.ok((device?.maxAge ?? 0) > 86400, 'it outlives the session')
  const jar = new Jar().take(first)

  // Logging out ends the session but not the device.
  const out = await post(locking, '/logout', { jar, csrf: first.json().tokens.csrfToken })
  t.equal(out.statusCode, 204)
  t.notOk(out.cookies.some((c) => c.name === 'authd_device'), 'logout leaves the device cookie alone')
  jar.take(out)
  t.ok(jar.value('authd_device'), 'the browser still holds it')

  for (let i = 0; i < 3; i++) await post(locking, '/login', { payload: { login: account.email, password: `attacker ${i}` } })
  assertProblem(t, await post(locking, '/login', { payload: { login: account.email, password: account.password } }), 429, 'account_locked')
  const owner = await post(locking, '/login', { jar, payload: { login: account.email, password: account.password } })
  t.equal(owner.statusCode, 200, `the owner's browser gets in: ${owner.body.slice(0, 200)}`)
  t.ok(cookieNamed(owner, 'authd_device')?.value, 'and a new device cookie')

  const tossed = await post(locking, '/login', {
    headers: { cookie: `authd_device=${String(jar.value('authd_device'))}; authd_device=planted` },
    payload: { login: account.email, password: account.password }
  })
  assertProblem(t, tossed, 403, 'csrf_failed')

  // With the production defaults the device cookie is a __Host- cookie like the other two.
  const secure = await build(t, { CORS_ORIGINS: 'https://app.example.com' })
  const other = newAccount()
  t.equal((await post(secure, '/register', { origin: 'https://app.example.com', payload: other })).statusCode, 201)
  const res = await post(secure, '/login', { origin: 'https://app.example.com', payload: { login: other.email, password: other.password } })
  t.match(cookieNamed(res, '__Host-authd_device'), { httpOnly: true, secure: true, path: '/' }, '__Host-authd_device')
})

t.test('refresh/logout without or with a wrong X-CSRF-Token: 403 csrf_failed, nothing rotated or revoked', async (t) => {
  const b = await browserRegister(strict)
  const other = await browserRegister(strict)
  const cases: Array<[string, string | undefined]> = [
    ['missing', undefined],
    ['empty', ''],
    ['another session\'s token', other.csrf],
    ['the token with one character changed', `${b.csrf.slice(0, -1)}${b.csrf.endsWith('A') ? 'B' : 'A'}`],
    ['a prefix', b.csrf.slice(0, 20)]
  ]
  for (const path of ['/refresh', '/logout']) {
    for (const [name, csrf] of cases) {
      const res = await post(strict, path, { jar: b.jar, csrf })
      assertProblem(t, res, 403, 'csrf_failed')
      t.equal(res.cookies.length, 0, `${path}, ${name}: no cookie set or cleared`)
    }
  }
  // Nothing rotated: with no grace window, a rotation would have made this cookie a reused one.
  const res = await post(strict, '/refresh', { jar: b.jar, csrf: b.csrf })
  t.equal(res.statusCode, 200, `the untouched cookie still refreshes (${res.body.slice(0, 200)})`)
})

t.test('a disallowed Origin gets 403 csrf_failed on all four endpoints; an allowed or absent one passes', async (t) => {
  const b = await browserRegister()
  const account = newAccount()
  const requests: Array<[string, Parameters<typeof post>[2]]> = [
    ['/register', { payload: account }],
    ['/login', { payload: { login: b.userId, password: 'irrelevant' } }],
    ['/refresh', { jar: b.jar, csrf: b.csrf }],
    ['/logout', { jar: b.jar, csrf: b.csrf }]
  ]
  for (const [path, options] of requests) {
    for (const origin of ['https://evil.example', 'http://localhost:5174', 'http://localhost:5173.evil.example', 'null', 'HTTP://LOCALHOST:5173']) {
      const res = await post(app, path, { ...options, origin })
      assertProblem(t, res, 403, 'csrf_failed')
      t.notOk(res.headers['access-control-allow-origin'], `${path} from ${origin}: no CORS grant`)
      t.equal(res.cookies.length, 0, `${path} from ${origin}: no cookie`)
    }
    // Fetch metadata: a cross-site request that somehow carries no Origin is refused too.
    const res = await post(app, path, { ...options, origin: null, headers: { 'sec-fetch-site': 'cross-site' } })
    assertProblem(t, res, 403, 'csrf_failed')
  }
  t.equal((await post(app, '/register', { payload: account, origin: null })).statusCode, 201, 'no Origin (not a browser page): allowed')
  const refreshed = await post(app, '/refresh', { jar: b.jar, csrf: b.csrf, headers: { 'sec-fetch-site': 'same-site' } })
  t.equal(refreshed.statusCode, 200, 'the allowed origin, same-site, passes')
  t.equal(refreshed.headers['access-control-allow-origin'], ORIGIN)
  t.equal(refreshed.headers['access-control-allow-credentials'], 'true')
  t.equal((await post(app, '/register', { payload: newAccount() })).statusCode, 201, 'register from the allowed origin passes')
})

t.test('no refresh cookie: 401 authentication_required, before any CSRF check', async (t) => {
  for (const path of ['/refresh', '/logout']) {
    for (const csrf of [undefined, 'anything']) {
      const res = await post(app, path, { csrf })
      assertProblem(t, res, 401, 'authentication_required')
      t.equal(res.headers['www-authenticate'], 'Bearer realm="authd"', 'no token was sent')
      assertCleared(t, res)
    }
  }
})

t.test('a cookie that is no refresh token: 401, cookies cleared', async (t) => {
  const b = await browserRegister()
  const cases: Array<[string, string]> = [
    ['garbage', 'not-a-jwt'],
    ['an access token', b.access]
  ]
  for (const [name, value] of cases) {
    const jar = new Jar()
    jar.cookies.set('authd_refresh', { name: 'authd_refresh', value, path: BASE })
    const res = await post(app, '/refresh', { jar, csrf: b.csrf })
    assertProblem(t, res, 401, 'token_invalid')
    t.match(res.headers['www-authenticate'], /error="invalid_token"/, name)
    assertCleared(t, res)
  }
})

t.test('logout: 204, cookies cleared, the session revoked', async (t) => {
  const b = await browserRegister()
  const cookie = String(b.jar.value('authd_refresh'))
  const res = await post(app, '/logout', { jar: b.jar, csrf: b.csrf })
  t.equal(res.statusCode, 204, res.body)
  t.equal(res.body, '')
  assertCleared(t, res)
  b.jar.take(res)
  t.equal(b.jar.cookies.size, 0, 'the browser holds no authd cookie any more')

  const session = await database.prisma.session.findUnique({ where: { id: refreshClaims(cookie).sid } })
  t.ok(session?.revokedAt, 'session revoked')
  assertProblem(t, await me(app, b.access), 401, 'token_invalid')
  // The old cookie (say, from another tab that had not seen the logout) is dead and cleared.
  const jar = new Jar()
  jar.cookies.set('authd_refresh', { name: 'authd_refresh', value: cookie, path: BASE })
  const again = await post(app, '/refresh', { jar, csrf: b.csrf })
  assertProblem(t, again, 401, 'token_invalid')
  assertCleared(t, again)
})

t.test('refresh/logout take no body: {} is tolerated, a refresh token in the body is refused', async (t) => {
  const b = await browserRegister()
  const empty = await post(app, '/refresh', { jar: b.jar, csrf: b.csrf, payload: {} })
  t.equal(empty.statusCode, 200, empty.body.slice(0, 200))
  b.jar.take(empty)
  const token = String(b.jar.value('authd_refresh'))
  for (const path of ['/refresh', '/logout']) {
    const res = await post(app, path, { jar: b.jar, csrf: b.csrf, payload: { refresh: token } })
    assertProblem(t, res, 400, 'validation_failed')
    t.match(res.json().errors, [{ field: 'refresh', code: 'unknown_field' }])
  }
  t.equal((await post(app, '/refresh', { jar: b.jar, csrf: b.csrf })).statusCode, 200, 'the cookie was not used up')
})

t.test('an app client\'s refresh token sent as the browser cookie works only with its session\'s CSRF token', async (t) => {
  const s = await register(app)
  const jar = new Jar()
  jar.cookies.set('authd_refresh', { name: 'authd_refresh', value: s.tokens.refresh, path: BASE })
  const other = await browserRegister()
  for (const csrf of [undefined, other.csrf]) assertProblem(t, await post(app, '/refresh', { jar, csrf }), 403, 'csrf_failed')
  const csrf = app.csrf.tokenFor(refreshClaims(s.tokens.refresh).sid)
  const res = await post(app, '/refresh', { jar, csrf })
  t.equal(res.statusCode, 200, res.body.slice(0, 200))
  t.equal(res.json().tokens.csrfToken, csrf)
})

t.test('cookie settings: names, SameSite, Path and the CSRF cookie\'s Domain from the configuration', async (t) => {
  const custom = await build(t, {
    CORS_ORIGINS: 'https://app.example.com',
    COOKIE_REFRESH_NAME: '__Secure-rt',
    COOKIE_CSRF_NAME: 'xsrf',
    COOKIE_SAMESITE: 'Lax',
    COOKIE_PATH: '/auth/v1/browser/auth',
    COOKIE_CSRF_DOMAIN: 'example.com'
  })
  const res = await post(custom, '/register', { origin: 'https://app.example.com', payload: newAccount() })
  t.equal(res.statusCode, 201)
  t.match(cookieNamed(res, '__Secure-rt'), { httpOnly: true, secure: true, sameSite: 'Lax', path: '/auth/v1/browser/auth' })
  t.notOk(cookieNamed(res, '__Secure-rt')?.domain, 'the refresh cookie stays host-only: no sibling host receives it')
  t.match(cookieNamed(res, 'xsrf'), { secure: true, sameSite: 'Lax', path: '/', domain: 'example.com', value: res.json().tokens.csrfToken })
  const csrf = res.json().tokens.csrfToken
  const out = await custom.inject({
    method: 'POST',
    url: `${BASE}/logout`,
    headers: { origin: 'https://app.example.com', 'x-csrf-token': csrf, cookie: `__Secure-rt=${String(cookieNamed(res, '__Secure-rt')?.value)}` }
  })
  t.equal(out.statusCode, 204)
  t.match(cookieNamed(out, '__Secure-rt'), { maxAge: 0, path: '/auth/v1/browser/auth' }, 'cleared with the same path')
  t.match(cookieNamed(out, 'xsrf'), { maxAge: 0, path: '/', domain: 'example.com' })
})

t.test('the browser and app clients share one rate-limit budget per action', async (t) => {
  const limited = await build(t, { CORS_ORIGINS: ORIGIN, COOKIE_SECURE: 'false', RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_LOGIN: '2' })
  const payload = { login: 'nobody@example.com', password: 'whatever password' }
  // Counters in Redis (TEST_REDIS_URL) outlive a run: a fresh client address every time.
  const remoteAddress = `10.${[...randomBytes(3)].join('.')}`
  t.equal((await post(limited, '/login', { payload, remoteAddress })).statusCode, 401)
  t.equal((await limited.inject({ method: 'POST', url: '/v1/app/auth/login', payload, remoteAddress })).statusCode, 401)
  assertProblem(t, await post(limited, '/login', { payload, remoteAddress }), 429, 'rate_limited')
})

t.test('logging in again from a browser that holds a session cookie ends the replaced session', async (t) => {
  const account = newAccount()
  const first = await post(app, '/register', { payload: account })
  const jar = new Jar().take(first)
  const oldAccess = first.json().tokens.access
  const oldCookie = jar.value('authd_refresh')

  const again = await post(app, '/login', { jar, payload: { login: account.email, password: account.password } })
  t.equal(again.statusCode, 200, again.body.slice(0, 300))
  jar.take(again)
  t.not(jar.value('authd_refresh'), oldCookie, 'the browser now holds the new session\'s cookie')
  assertProblem(t, await me(app, oldAccess), 401, 'token_invalid')
  const replay = await app.inject({ method: 'POST', url: '/v1/app/auth/refresh', payload: { refresh: String(oldCookie) } })
  assertProblem(t, replay, 401, 'token_invalid')
  t.equal((await me(app, again.json().tokens.access)).statusCode, 200, 'the new session works')

  // A cookie that is not a live session (here: garbage) does not stop the login.
  const stray = new Jar()
  stray.cookies.set('authd_refresh', { name: 'authd_refresh', value: 'not-a-token', path: BASE } as Cookie)
  const withStray = await post(app, '/login', { jar: stray, payload: { login: account.email, password: account.password } })
  t.equal(withStray.statusCode, 200, 'a stray cookie is ignored')
})

t.test('cookieNameCounts: the names of a Cookie header as browsers send it', async (t) => {
  const counts = (header: string | string[] | undefined) => Object.fromEntries(cookieNameCounts(header))
  t.same(counts('a=1; b=2; a=3'), { a: 2, b: 1 })
  t.same(counts('a=1;a=2'), { a: 2 }, 'without the space')
  t.same(counts(' a = 1 ;  b=2=3; '), { a: 1, b: 1 }, 'spaces around names, "=" in a value, a trailing separator')
  t.same(counts('a=; a'), { a: 1, '': 1 }, 'a pair without "=" is a nameless cookie, not "a"')
  t.same(counts('A=1; a=1'), { A: 1, a: 1 }, 'names are case-sensitive, as the server reads them')
  t.same(counts(['a=1', 'a=2; b=1']), { a: 2, b: 1 }, 'several Cookie fields count together')
  t.same(counts(''), {})
  t.same(counts(undefined), {})
})

t.test('a Cookie header with one of authd\'s cookies twice (cookie tossing): 403 csrf_failed, nothing used, rotated, revoked or cleared', async (t) => {
  const victim = await browserRegister(strict)
  const attacker = await browserRegister(strict)
  const refreshOf = (b: Browser) => String(b.jar.value('authd_refresh'))
  const send = async (path: string, cookie: string, csrf?: string) => await strict.inject({
    method: 'POST', url: `${BASE}${path}`, headers: { origin: ORIGIN, cookie, ...(csrf === undefined ? {} : { 'x-csrf-token': csrf }) }
  })
  // A sibling host sets its own cookie with a longer Path: the browser sends it first. Without
  // the rule the first one (the attacker's session) would be used, with the attacker's CSRF
  // token planted in the readable cookie: the victim would work in the attacker's account.
  const cases: Array<[string, string, string]> = [
    ['the attacker\'s refresh cookie first', `authd_refresh=${refreshOf(attacker)}; authd_refresh=${refreshOf(victim)}; authd_csrf=${attacker.csrf}`, attacker.csrf],
    ['the victim\'s refresh cookie first', `authd_refresh=${refreshOf(victim)}; authd_refresh=${refreshOf(attacker)}`, victim.csrf],
    ['the CSRF cookie twice', `authd_refresh=${refreshOf(victim)}; authd_csrf=${attacker.csrf}; authd_csrf=${victim.csrf}`, victim.csrf],
    ['an empty second refresh cookie', `authd_refresh=${refreshOf(victim)}; authd_refresh=`, victim.csrf]
  ]
  for (const [name, cookie, csrf] of cases) {
    for (const path of ['/refresh', '/logout']) {
      const res = await send(path, cookie, csrf)
      assertProblem(t, res, 403, 'csrf_failed')
      t.match(res.json().detail, /cookie was sent twice/, `${path}, ${name}: says why`)
      t.equal(res.cookies.length, 0, `${path}, ${name}: no cookie set or cleared`)
    }
  }
  // register and login too: a login would otherwise end "the" old session and set cookies beside the tossed one.
  const account = newAccount()
  const twice = `authd_refresh=${refreshOf(attacker)}; authd_refresh=x`
  assertProblem(t, await strict.inject({ method: 'POST', url: `${BASE}/register`, headers: { origin: ORIGIN, cookie: twice }, payload: account }), 403, 'csrf_failed')
  assertProblem(t, await strict.inject({ method: 'POST', url: `${BASE}/login`, headers: { origin: ORIGIN, cookie: twice }, payload: { login: victim.userId, password: 'x' } }), 403, 'csrf_failed')

  // Nothing rotated (no grace window here: a rotation would make these cookies reused ones) or revoked.
  for (const b of [victim, attacker]) {
    const res = await post(strict, '/refresh', { jar: b.jar, csrf: b.csrf })
    t.equal(res.statusCode, 200, `the untouched cookie still refreshes (${res.body.slice(0, 200)})`)
    t.equal(refreshClaims(String(cookieNamed(res, 'authd_refresh')?.value)).sub, b.userId, 'in its own session')
  }
  // Cookies of other names may repeat: another site's cookies on this domain are not authd's business.
  const b = await browserRegister(strict)
  const others = await send('/refresh', `theme=dark; theme=light; authd_refresh=${refreshOf(b)}; authd_refreshx=1; authd_refreshx=2`, b.csrf)
  t.equal(others.statusCode, 200, others.body.slice(0, 200))
})

t.test('the duplicate rule holds for the configured names, and a refused request costs no rate-limit budget', async (t) => {
  const secure = await build(t, { CORS_ORIGINS: 'https://app.example.com', RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_REFRESH: '2' })
  const origin = 'https://app.example.com'
  const reg = await post(secure, '/register', { origin, payload: newAccount() })
  const refresh = String(cookieNamed(reg, '__Host-authd_refresh')?.value)
  const csrf = reg.json().tokens.csrfToken as string
  const remoteAddress = `10.${[...randomBytes(3)].join('.')}`
  const send = async (cookie: string) => await secure.inject({ method: 'POST', url: `${BASE}/refresh`, remoteAddress, headers: { origin, cookie, 'x-csrf-token': csrf } })
  for (let i = 0; i < 5; i++) {
    assertProblem(t, await send(`__Host-authd_refresh=${refresh}; __Host-authd_refresh=${refresh}`), 403, 'csrf_failed')
    assertProblem(t, await send(`__Host-authd_refresh=${refresh}; __Host-authd_csrf=a; __Host-authd_csrf=b`), 403, 'csrf_failed')
  }
  const ok = await send(`__Host-authd_refresh=${refresh}`)
  t.equal(ok.statusCode, 200, `10 refused requests left the budget of 2 untouched (${ok.body.slice(0, 200)})`)
  t.equal(ok.headers['x-ratelimit-remaining'], '1')
})
