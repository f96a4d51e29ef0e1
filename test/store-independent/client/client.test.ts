// packages/client's cross-tab logic with fakes of what a browser shares between tabs: one cookie
// jar, one Web Locks manager, BroadcastChannel delivery to the OTHER channels (asynchronously, as
// browsers do), and a fake authd that rotates the refresh cookie on every refresh and answers
// 401 token_reused — revoking the session — when a rotated cookie comes back, as authd does with
// REFRESH_GRACE_SECONDS=0. Several AuthdClient instances are several tabs. The real thing runs
// in Chromium in test/browser/tabs.e2e.ts.
import t from 'tap'
import { AuthdClient, type AuthState, type ChannelLike, type LockManagerLike } from '../../../packages/client/src/index.js'

const BASE = 'https://auth.example.test'

/** A FIFO lock per name, as navigator.locks grants them, with `ifAvailable`. */
function fakeLocks (): LockManagerLike & { grants: number } {
  const tails = new Map<string, Promise<unknown>>()
  const held = new Set<string>()
  const manager = {
    grants: 0,
    async request<T> (name: string, options: { ifAvailable?: boolean }, callback: (lock: unknown) => Promise<T>): Promise<T> {
      if (options.ifAvailable === true && (held.has(name) || tails.has(name))) return await callback(null)
      const previous = tails.get(name) ?? Promise.resolve()
      let release = () => {}
      const mine = new Promise<void>((resolve) => { release = resolve })
      const tail = previous.then(() => mine)
      tails.set(name, tail)
      await previous
      held.add(name)
      manager.grants++
      try {
        return await callback({ name })
      } finally {
        held.delete(name)
        if (tails.get(name) === tail) tails.delete(name)
        release()
      }
    }
  }
  return manager
}

/** BroadcastChannel: a message reaches every other channel of the hub, on a later task. */
function fakeHub () {
  const channels = new Set<ChannelLike>()
  return {
    channel (): ChannelLike {
      const channel: ChannelLike = {
        onmessage: null,
        postMessage (message: unknown) {
          const copy = structuredClone(message)
          for (const other of channels) {
            if (other !== channel) setTimeout(() => other.onmessage?.({ data: copy }), 1)
          }
        },
        close () { channels.delete(channel) }
      }
      channels.add(channel)
      return channel
    }
  }
}

/** authd's browser endpoints and /v1/users/me, with one cookie jar for all tabs. */
function fakeAuthd () {
  let generation = 0
  const server = {
    jar: { refresh: null as string | null, csrf: null as string | null },
    current: null as string | null, // the refresh token authd would accept now
    revoked: false,
    refreshes: 0,
    reused: 0,
    meCalls: [] as Array<{ token: string | null, status: number }>,
    expired: new Set<string>(), // access tokens authd now calls expired
    valid: new Set<string>(),
    accessExpiresIn: 300,
    signIn () {
      generation++
      server.revoked = false
      server.current = `r${generation}`
      server.jar.refresh = server.current
      server.jar.csrf = 'csrf-1'
      return server.issue()
    },
    issue () {
      const access = `a${generation}`
      server.valid.add(access)
      return { tokenType: 'Bearer', access, accessExpiresIn: server.accessExpiresIn, csrfToken: 'csrf-1' }
    },
    async fetch (input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
      const url = String(input).replace(BASE, '')
      const headers = new Headers(init.headers)
      const cookie = server.jar.refresh // the browser attaches the cookie when it sends the request
      await new Promise((resolve) => setTimeout(resolve, 5)) // on the wire
      const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })
      const problem = (status: number, code: string) => json(status, { type: 'about:blank', status, title: code, code })
      if (url === '/v1/browser/auth/login') return json(200, { user: { id: 'u1', email: 'a@example.test' }, tokens: server.signIn() })
      if (url === '/v1/browser/auth/refresh' || url === '/v1/browser/auth/logout') {
        if (cookie === null) return problem(401, 'authentication_required')
        if (headers.get('x-csrf-token') !== server.jar.csrf) return problem(403, 'csrf_failed')
        if (server.revoked || cookie !== server.current) {
          if (!server.revoked) server.reused++
          server.revoked = true
          server.jar.refresh = server.jar.csrf = null
          return problem(401, server.reused > 0 && cookie !== server.current ? 'token_reused' : 'token_invalid')
        }
        if (url.endsWith('/logout')) {
          server.revoked = true
          server.jar.refresh = server.jar.csrf = null
          return new Response(null, { status: 204 })
        }
        server.refreshes++
        generation++
        server.current = `r${generation}`
        server.jar.refresh = server.current
        return json(200, { tokens: server.issue() })
      }
      if (url === '/v1/users/me') {
        const token = headers.get('authorization')?.replace(/^Bearer /, '') ?? null
        const status = token === null ? 401 : server.expired.has(token) ? 401 : server.valid.has(token) ? 200 : 401
        server.meCalls.push({ token, status })
        if (status === 200) return json(200, { id: 'u1' })
        return problem(401, token === null ? 'authentication_required' : server.expired.has(token) ? 'token_expired' : 'token_invalid')
      }
      return problem(404, 'not_found')
    }
  }
  return server
}

/** `n` tabs of one browser. */
function browser (t: { teardown: (fn: () => void) => void }, n: number, options: { shared?: boolean } = {}) {
  const authd = fakeAuthd()
  const locks = fakeLocks()
  const hub = fakeHub()
  const tabs = Array.from({ length: n }, () => new AuthdClient({
    baseUrl: BASE,
    fetch: authd.fetch,
    locks: options.shared === false ? null : locks,
    channel: options.shared === false ? null : hub.channel(),
    readCookie: (name) => name === 'authd_csrf' ? authd.jar.csrf : null
  }))
  t.teardown(() => { for (const tab of tabs) tab.close() })
  return { authd, locks, tabs }
}

const settle = async (ms = 30) => await new Promise((resolve) => setTimeout(resolve, ms))

t.test('N callers in one tab and in five tabs at once: one refresh, and the session survives', async (t) => {
  const { authd, tabs } = browser(t, 5)
  const [first] = tabs
  await first!.login('a@example.test', 'pw')
  const before = authd.refreshes
  const answers = await Promise.all(tabs.flatMap((tab) => [tab.refresh(), tab.refresh(), tab.refresh()]))
  t.same(answers, Array(15).fill(true), 'every caller is told it is signed in')
  t.equal(authd.refreshes - before, 1, 'authd saw exactly one refresh')
  t.equal(authd.reused, 0, 'no refresh token was presented twice')
  await settle()
  t.same(new Set(tabs.map((tab) => tab.accessToken)).size, 1, 'all tabs hold the same, new access token')
  t.ok(tabs.every((tab) => tab.state.status === 'signedIn'), 'all tabs are signed in')
})

t.test('without the lock and channel (the bug the package prevents) the same race trips reuse detection', async (t) => {
  const { authd, tabs } = browser(t, 2, { shared: false })
  await tabs[0]!.login('a@example.test', 'pw')
  const answers = await Promise.all(tabs.map((tab) => tab.refresh()))
  t.ok(answers.includes(false), 'one tab was refused')
  t.equal(authd.reused, 1, 'authd saw a rotated refresh token come back: the session is revoked')
})

t.test('a token broadcast by another tab is used without refreshing', async (t) => {
  const { authd, tabs } = browser(t, 2)
  const [a, b] = tabs as [AuthdClient, AuthdClient]
  await a.login('a@example.test', 'pw')
  await settle()
  t.equal(b.accessToken, a.accessToken, 'the other tab received the login\'s access token')
  t.equal(b.state.status, 'signedIn', 'and shows signed in')
  await a.refresh()
  await settle()
  t.equal(b.accessToken, a.accessToken, 'and the refreshed one')
  const before = authd.refreshes
  const res = await b.fetch('/v1/users/me')
  t.equal(res.status, 200, 'the other tab calls authd with it')
  t.equal(authd.refreshes, before, 'without a refresh of its own')
  t.equal(authd.meCalls.at(-1)?.token, a.accessToken, 'with the broadcast token')
})

t.test('a tab that waited for the lock uses the token that arrived meanwhile', async (t) => {
  const { authd, tabs } = browser(t, 2)
  const [a, b] = tabs as [AuthdClient, AuthdClient]
  await a.login('a@example.test', 'pw')
  await settle()
  const before = authd.refreshes
  // Both tabs find the same token expired at once: a takes the lock, b waits.
  authd.expired.add(a.accessToken!)
  const [ra, rb] = await Promise.all([a.fetch('/v1/users/me'), b.fetch('/v1/users/me')])
  t.same([ra.status, rb.status], [200, 200], 'both calls succeed after the retry')
  t.equal(authd.refreshes - before, 1, 'one refresh for both tabs')
  t.equal(authd.reused, 0, 'no reuse')
})

t.test('fetch retries once on 401 token_expired, and not twice', async (t) => {
  const { authd, tabs } = browser(t, 1)
  const [tab] = tabs as [AuthdClient]
  await tab.login('a@example.test', 'pw')
  const old = tab.accessToken!
  authd.expired.add(old)
  const from = authd.meCalls.length
  const res = await tab.fetch('/v1/users/me', { headers: { accept: 'application/json' } })
  t.equal(res.status, 200, 'the retried call succeeds')
  t.same(authd.meCalls.slice(from).map((c) => [c.token === old, c.status]), [[true, 401], [false, 200]], 'first with the old token, then once with the new one')

  // authd calls every token expired now: the retry fails too, and the answer is handed back.
  const always = authd.issue
  authd.issue = () => { const tokens = always(); authd.expired.add(tokens.access); return tokens }
  authd.expired.add(tab.accessToken!)
  const from2 = authd.meCalls.length
  const refreshes = authd.refreshes
  const again = await tab.fetch('/v1/users/me')
  t.equal(again.status, 401, 'the second 401 is the answer')
  t.equal(((await again.json()) as { code: string }).code, 'token_expired', 'with its body readable')
  t.equal(authd.meCalls.length - from2, 2, 'two calls: the first and ONE retry')
  t.equal(authd.refreshes - refreshes, 1, 'one refresh')

  // Other 401s are not retried.
  authd.issue = always
  await tab.refresh()
  authd.valid.clear()
  const from3 = authd.meCalls.length
  const invalid = await tab.fetch('/v1/users/me')
  t.equal(invalid.status, 401, 'token_invalid is answered as is')
  t.equal(authd.meCalls.length - from3, 1, 'without a retry')
})

t.test('logout in one tab signs every tab out, and they say so to their subscribers', async (t) => {
  const { authd, tabs } = browser(t, 3)
  await tabs[0]!.login('a@example.test', 'pw')
  await settle()
  const seen: AuthState[][] = tabs.map(() => [])
  tabs.forEach((tab, i) => tab.subscribe((state) => seen[i]!.push(state)))
  await tabs[1]!.logout()
  await settle()
  t.ok(authd.revoked, 'authd ended the session')
  t.ok(tabs.every((tab) => tab.accessToken === null), 'no tab holds an access token')
  t.same(seen, tabs.map(() => [{ status: 'signedOut', reason: 'logout' }]), 'every tab told its subscribers once')
  const res = await tabs[2]!.fetch('/v1/users/me')
  t.equal(res.status, 401, 'a call from another tab now goes without a token')
  t.equal(authd.meCalls.at(-1)?.token, null, 'no stale token is sent')
})

t.test('a refused refresh ends the session in every tab; a page load without a session is signed out', async (t) => {
  const { authd, tabs } = browser(t, 2)
  const [a, b] = tabs as [AuthdClient, AuthdClient]
  t.equal(a.state.status, 'unknown', 'unknown before the first refresh')
  t.equal(await a.refresh(), false, 'no cookie: not signed in')
  t.same(a.state, { status: 'signedOut' }, 'signed out, with no reason (there was no session)')
  await a.login('a@example.test', 'pw')
  await settle()
  authd.revoked = true // e.g. an administrator revoked the session
  t.equal(await a.refresh(), false, 'the refresh is refused')
  await settle()
  t.same([a.state, b.state], [{ status: 'signedOut', reason: 'ended' }, { status: 'signedOut', reason: 'logout' }], 'both tabs are signed out')
})

t.test('a network error on refresh throws and keeps the session', async (t) => {
  const { authd, tabs } = browser(t, 1)
  const [tab] = tabs as [AuthdClient]
  await tab.login('a@example.test', 'pw')
  const real = authd.fetch
  authd.fetch = async () => { throw new TypeError('Failed to fetch') }
  const failing = new AuthdClient({ baseUrl: BASE, fetch: async (...args) => await authd.fetch(...args), locks: null, channel: null, readCookie: () => 'csrf-1' })
  t.teardown(() => failing.close())
  await t.rejects(failing.refresh(), { code: 'network_error', status: 0 }, 'an AuthdError with status 0')
  authd.fetch = real
  t.equal(tab.state.status, 'signedIn', 'the session is untouched')
})
