// @authd/client: a small, framework-free client for authd's browser endpoints (/v1/browser/auth/*).
//
// - The refresh token lives only in authd's HttpOnly cookie: this code never sees it. Every call to
//   the browser endpoints uses `credentials: 'include'`.
// - The access token is kept in memory only (never localStorage), so a reload loses it and the
//   page gets a new one with a silent refresh.
// - refresh and logout carry the CSRF token in `X-CSRF-Token`: from the last body, else from
//   authd's readable CSRF cookie (after a reload).
// - ONE refresh at a time across all tabs of the origin: the refresh runs under a Web Lock
//   (`navigator.locks`); the tab that refreshed posts the new access token on a BroadcastChannel,
//   and a tab that waited for the lock first looks whether a fresher token arrived meanwhile and
//   then does not refresh. Refreshes are thus sequential (each presents the cookie the previous one
//   set) and rare (one per token lifetime, not one per tab), so authd's reuse detection
//   (`token_reused`, which ends the session) is never tripped by the app's own tabs.
// - Logout (and a session authd refused) is posted on the channel too: every tab signs out.
//
// Browser globals are reached through `globalThis` and checked, so the module can be imported
// during server-side rendering (SvelteKit, Next) and in Node tests; all of them can be injected.

/** The lock and channel names all tabs of an origin share. */
export const LOCK_NAME = 'authd-refresh'
export const CHANNEL_NAME = 'authd'
/**
 * How long a tab that waited for another tab's refresh waits for its message before refreshing
 * itself. Generous: its own token is still valid (refreshes start 30 s before expiry), and on a
 * busy machine a message can trail the lock by more than a second (seen in CI: a refresh too many).
 */
const WAIT_FOR_TAB_MS = 5000
/** authd's default names of its readable CSRF cookie, prefixed ones first (a sibling host can plant a plain `authd_csrf`, never a `__Host-` one). */
export const DEFAULT_CSRF_COOKIES = ['__Host-authd_csrf', '__Secure-authd_csrf', 'authd_csrf']

/** What authd's browser endpoints answer as `tokens`. */
export interface BrowserTokens {
  tokenType: 'Bearer'
  access: string
  accessExpiresIn: number
  csrfToken: string
}

/** authd's user (GET /v1/users/me and the sign-in answers). */
export interface AuthdUser {
  id: string
  email: string
  username: string | null
  fullName: string | null
  bio: string | null
  roles: string[]
  emailVerified: boolean
  createdAt: string
  lastLoginAt: string | null
  [field: string]: unknown
}

/** With a second factor on, a right password answers no tokens: a code must follow (`completeMfa`). */
export interface MfaChallenge { mfaRequired?: true, mfaEnrollmentRequired?: true, mfaToken: string, methods: string[] }

/**
 * `unknown` until the first refresh (page load) settles. `signedOut.reason`: `logout` — this tab or
 * another one logged out; `ended` — authd refused a refresh (session revoked, expired, reused).
 */
export type AuthState =
  | { status: 'unknown' }
  | { status: 'signedIn' }
  | { status: 'signedOut', reason?: 'logout' | 'ended' }

/** An RFC 9457 problem answered by authd, or a network failure (status 0, code `network_error`). */
export class AuthdError extends Error {
  constructor (readonly status: number, readonly code: string, message: string) {
    super(message)
    this.name = 'AuthdError'
  }
}

/** The part of the Web Locks API this client uses (`lock` is null when `ifAvailable` finds it taken). */
export interface LockManagerLike {
  request: <T>(name: string, options: { ifAvailable?: boolean }, callback: (lock: unknown) => Promise<T>) => Promise<T>
}
/** The part of BroadcastChannel this client uses. */
export interface ChannelLike {
  postMessage: (message: unknown) => void
  close: () => void
  onmessage: ((event: { data: unknown }) => void) | null
}

export interface AuthdClientOptions {
  /** authd's origin (and path prefix), e.g. `https://auth.example.com`. */
  baseUrl: string
  /** Names of authd's readable CSRF cookie (its COOKIE_CSRF_NAME), tried in order. */
  csrfCookieNames?: string[]
  /** Refresh this many seconds before the access token expires (default 30), but never sooner than 5 s (or half the lifetime) after it was issued. */
  refreshMarginSeconds?: number
  /** Web Lock name (default `authd-refresh`); apps talking to two authd deployments need two. */
  lockName?: string
  /** BroadcastChannel name (default `authd`). */
  channelName?: string
  // --- injectable for tests and unusual environments; the defaults are the browser's ---
  fetch?: typeof globalThis.fetch
  /** `null`: no cross-tab lock (refreshes are then single-flight in this tab only). */
  locks?: LockManagerLike | null
  /** `null`: no cross-tab channel. */
  channel?: ChannelLike | null
  readCookie?: (name: string) => string | null
  now?: () => number
}

type Message =
  | { type: 'tokens', access: string, expiresAt: number, csrfToken: string }
  | { type: 'signedOut' }

interface Globals {
  fetch?: typeof globalThis.fetch
  navigator?: { locks?: LockManagerLike }
  BroadcastChannel?: new (name: string) => ChannelLike
  document?: { cookie: string }
}
const globals = globalThis as unknown as Globals

function browserCookie (name: string): string | null {
  const cookie = globals.document?.cookie ?? ''
  for (const part of cookie.split(';')) {
    const [key, ...value] = part.trim().split('=')
    if (key === name) {
      try { return decodeURIComponent(value.join('=')) } catch { return null }
    }
  }
  return null
}

async function problemOf (res: Response): Promise<AuthdError> {
  let problem: { code?: string, detail?: string, title?: string } = {}
  try { problem = await res.json() as typeof problem } catch { /* not JSON */ }
  return new AuthdError(res.status, problem.code ?? 'http_error', problem.detail ?? problem.title ?? `HTTP ${res.status}`)
}

/** A 401 whose problem code is `token_expired` (read from a clone: the caller still gets the body). */
async function isTokenExpired (res: Response): Promise<boolean> {
  if (res.status !== 401) return false
  try {
    return ((await res.clone().json()) as { code?: unknown }).code === 'token_expired'
  } catch {
    return false
  }
}

export class AuthdClient {
  readonly baseUrl: string
  #fetch: typeof globalThis.fetch
  #locks: LockManagerLike | null
  #channel: ChannelLike | null
  #readCookie: (name: string) => string | null
  #now: () => number
  #csrfNames: string[]
  #margin: number
  #lockName: string

  #access: string | null = null
  #expiresAt = 0
  #refreshAt = 0
  #csrf: string | null = null
  #timer: ReturnType<typeof setTimeout> | undefined
  #inflight: Promise<boolean> | null = null
  #state: AuthState = { status: 'unknown' }
  #listeners = new Set<(state: AuthState) => void>()
  #waiters = new Set<(type: Message['type']) => void>()

  constructor (options: AuthdClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '')
    const fetchImpl = options.fetch ?? globals.fetch
    if (fetchImpl === undefined) throw new Error('@authd/client needs fetch')
    this.#fetch = (input, init) => fetchImpl(input, init) // unbound window.fetch throws "Illegal invocation"
    this.#locks = options.locks !== undefined ? options.locks : (globals.navigator?.locks ?? null)
    this.#csrfNames = options.csrfCookieNames ?? DEFAULT_CSRF_COOKIES
    this.#margin = (options.refreshMarginSeconds ?? 30) * 1000
    this.#lockName = options.lockName ?? LOCK_NAME
    this.#readCookie = options.readCookie ?? browserCookie
    this.#now = options.now ?? Date.now
    const Channel = globals.BroadcastChannel
    this.#channel = options.channel !== undefined ? options.channel : (Channel === undefined ? null : new Channel(options.channelName ?? CHANNEL_NAME))
    if (this.#channel !== null) this.#channel.onmessage = (event) => { this.#receive(event.data as Message) }
  }

  /** The current access token (memory only), or null. */
  get accessToken (): string | null { return this.#access }

  get state (): AuthState { return this.#state }

  /** Calls `listener` on every change of the signed-in state (this tab's or another's). Returns the unsubscribe function. */
  subscribe (listener: (state: AuthState) => void): () => void {
    this.#listeners.add(listener)
    return () => { this.#listeners.delete(listener) }
  }

  /**
   * Trades the refresh cookie for a new access token — on page load, and by itself shortly before
   * the access token expires. true: signed in. false: no session (authd refused; the state is
   * then `signedOut`). Throws an AuthdError on network errors, 429 and 5xx (the session may be fine).
   */
  async refresh (): Promise<boolean> {
    return await this.#refresh(this.#access)
  }

  /**
   * fetch with `Authorization: Bearer <access token>`. A path starting with `/` is resolved against
   * authd's baseUrl; give full URLs for your own APIs. An answer 401 `token_expired` is retried ONCE
   * after a refresh (so bodies must be re-sendable: strings, FormData, not streams).
   */
  async fetch (input: string | URL, init: RequestInit = {}): Promise<Response> {
    const url = typeof input === 'string' && input.startsWith('/') ? this.baseUrl + input : input
    // A token this tab knows has expired is not worth a round trip.
    if (this.#access !== null && this.#now() >= this.#expiresAt) await this.#refresh(this.#access).catch(() => false)
    const used = this.#access
    const res = await this.#fetch(url, this.#withBearer(init, used))
    if (used === null || !await isTokenExpired(res)) return res
    if (!await this.#refresh(used).catch(() => false) || this.#access === null) return res
    return await this.#fetch(url, this.#withBearer(init, this.#access))
  }

  /** Logs in, or answers the challenge when the account has a second factor. */
  async login (login: string, password: string): Promise<{ user: AuthdUser } | MfaChallenge> {
    const body = await this.#post('/v1/browser/auth/login', { login, password }) as { user: AuthdUser, tokens: BrowserTokens } | MfaChallenge
    if ('mfaToken' in body) return body
    this.#signedIn(body.tokens)
    return { user: body.user }
  }

  /** `signedIn` is false when authd requires email verification first. */
  async register (input: { email: string, password: string, username?: string }): Promise<{ user: AuthdUser, signedIn: boolean }> {
    const body = await this.#post('/v1/browser/auth/register', input) as { user: AuthdUser, tokens?: BrowserTokens }
    if (body.tokens !== undefined) this.#signedIn(body.tokens)
    return { user: body.user, signedIn: body.tokens !== undefined }
  }

  /** Second step of a login: the challenge's mfaToken with `{ code }`, `{ recoveryCode }` or `{ webauthn }`. */
  async completeMfa (mfaToken: string, answer: { code: string } | { recoveryCode: string } | { webauthn: unknown }): Promise<{ user: AuthdUser }> {
    return await this.signIn('/v1/browser/auth/mfa', { mfaToken, ...answer })
  }

  /** Any other browser endpoint that answers `{ user, tokens }` (e.g. `/v1/browser/auth/passkey`). */
  async signIn (path: string, body: unknown): Promise<{ user: AuthdUser }> {
    const answer = await this.#post(path, body) as { user: AuthdUser, tokens: BrowserTokens }
    this.#signedIn(answer.tokens)
    return { user: answer.user }
  }

  /** Ends the session at authd (cookies cleared) and signs every tab out, even when authd cannot be reached. */
  async logout (): Promise<void> {
    try {
      await this.#withLock(async () => {
        const csrf = this.#csrfToken()
        if (csrf === null) return
        await this.#fetch(this.baseUrl + '/v1/browser/auth/logout', { method: 'POST', credentials: 'include', headers: { 'x-csrf-token': csrf } })
      })
    } finally {
      this.#signedOut('logout', true)
    }
  }

  /** Stops the timer and the channel (tests, or an app that unmounts for good). */
  close (): void {
    clearTimeout(this.#timer)
    this.#channel?.close()
    this.#listeners.clear()
  }

  // --- internals ---------------------------------------------------------------------------

  #refresh (seen: string | null): Promise<boolean> {
    this.#inflight ??= this.#refreshAcrossTabs(seen).finally(() => { this.#inflight = null })
    return this.#inflight
  }

  /**
   * The lock is tried first without waiting: free, nobody else is refreshing, go. Taken, another tab
   * is refreshing (or logging out): wait for it, then for its message (up to WAIT_FOR_TAB_MS — the
   * lock can be granted before the channel delivers), and refresh only if no fresher token came.
   * Without the message the refresh still runs after the other one, with the cookie it set: at worst
   * one refresh too many, never a reuse.
   */
  async #refreshAcrossTabs (seen: string | null): Promise<boolean> {
    if (this.#locks === null) return await this.#refreshNow(seen, false)
    const busy = Symbol('busy')
    const first = await this.#locks.request(this.#lockName, { ifAvailable: true }, async (lock) => lock === null ? busy : await this.#refreshNow(seen, false))
    if (first !== busy) return first
    return await this.#locks.request(this.#lockName, {}, async () => await this.#refreshNow(seen, true))
  }

  async #refreshNow (seen: string | null, waited: boolean): Promise<boolean> {
    // Another tab may have refreshed and posted its token while this one waited.
    const fresh = () => this.#access !== null && this.#access !== seen && this.#now() < this.#refreshAt
    if (fresh()) return true
    if (waited) {
      const message = await this.#nextMessage(WAIT_FOR_TAB_MS)
      if (fresh()) return true
      if (message === 'signedOut') return false
    }
    const csrf = this.#csrfToken()
    if (csrf === null) { this.#signedOut(this.#state.status === 'signedIn' ? 'ended' : undefined, false); return false }
    let res: Response
    try {
      res = await this.#fetch(this.baseUrl + '/v1/browser/auth/refresh', { method: 'POST', credentials: 'include', headers: { 'x-csrf-token': csrf } })
    } catch {
      throw new AuthdError(0, 'network_error', `cannot reach authd at ${this.baseUrl}`)
    }
    if (res.ok) {
      this.#accept((await res.json() as { tokens: BrowserTokens }).tokens, true)
      return true
    }
    const error = await problemOf(res)
    if (res.status >= 500 || res.status === 429) throw error
    // 401 (no, revoked or reused session) or 403: over. Other tabs hear of it only if it was a session.
    const had = this.#state.status === 'signedIn'
    this.#signedOut(had ? 'ended' : undefined, had)
    return false
  }

  /** Resolves with the type of the next message from another tab, or null after `ms`. */
  async #nextMessage (ms: number): Promise<Message['type'] | null> {
    if (this.#channel === null) return null
    return await new Promise((resolve) => {
      const timer = setTimeout(() => { this.#waiters.delete(done); resolve(null) }, ms)
      const done = (type: Message['type']) => { clearTimeout(timer); this.#waiters.delete(done); resolve(type) }
      this.#waiters.add(done)
    })
  }

  async #withLock<T> (fn: () => Promise<T>): Promise<T> {
    return this.#locks === null ? await fn() : await this.#locks.request(this.#lockName, {}, fn)
  }

  async #post (path: string, body: unknown): Promise<unknown> {
    let res: Response
    try {
      res = await this.#fetch(this.baseUrl + path, { method: 'POST', credentials: 'include', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    } catch {
      throw new AuthdError(0, 'network_error', `cannot reach authd at ${this.baseUrl}`)
    }
    if (!res.ok) throw await problemOf(res)
    return await res.json()
  }

  #withBearer (init: RequestInit, token: string | null): RequestInit {
    if (token === null) return init
    const headers = new Headers(init.headers)
    headers.set('authorization', `Bearer ${token}`)
    return { ...init, headers }
  }

  /** The body's token first (this tab's session); after a reload the cookie. */
  #csrfToken (): string | null {
    if (this.#csrf !== null) return this.#csrf
    for (const name of this.#csrfNames) {
      const value = this.#readCookie(name)
      if (value !== null && value !== '') return value
    }
    return null
  }

  #signedIn (tokens: BrowserTokens): void {
    this.#accept(tokens, true)
  }

  #accept (tokens: BrowserTokens, share: boolean): void {
    const now = this.#now()
    const lifetime = tokens.accessExpiresIn * 1000
    this.#set(tokens.access, now + lifetime, tokens.csrfToken, now)
    if (share) this.#channel?.postMessage({ type: 'tokens', access: tokens.access, expiresAt: this.#expiresAt, csrfToken: tokens.csrfToken } satisfies Message)
  }

  #set (access: string, expiresAt: number, csrf: string, now: number): void {
    this.#access = access
    this.#expiresAt = expiresAt
    this.#csrf = csrf
    const lifetime = Math.max(expiresAt - now, 0)
    this.#refreshAt = Math.max(expiresAt - this.#margin, now + Math.min(5000, lifetime / 2))
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => { this.#scheduled() }, this.#refreshAt - now)
    this.#setState({ status: 'signedIn' })
  }

  #scheduled (): void {
    this.#refresh(this.#access).catch(() => {
      // Network error, 429 or 5xx: try again in a few seconds while the token may still work.
      if (this.#access !== null) this.#timer = setTimeout(() => { this.#scheduled() }, 5000)
    })
  }

  #receive (message: Message): void {
    if (message.type === 'tokens') {
      // Messages may arrive out of order: keep the token that lives longest.
      if (message.access !== this.#access && message.expiresAt > this.#expiresAt) this.#set(message.access, message.expiresAt, message.csrfToken, this.#now())
    } else if (message.type === 'signedOut') {
      this.#signedOut('logout', false)
    }
    for (const waiter of [...this.#waiters]) waiter(message.type)
  }

  #signedOut (reason: 'logout' | 'ended' | undefined, share: boolean): void {
    this.#access = null
    this.#csrf = null
    this.#expiresAt = 0
    this.#refreshAt = 0
    clearTimeout(this.#timer)
    if (share) this.#channel?.postMessage({ type: 'signedOut' } satisfies Message)
    this.#setState(reason === undefined ? { status: 'signedOut' } : { status: 'signedOut', reason })
  }

  #setState (state: AuthState): void {
    const current = this.#state
    if (current.status === state.status && (current.status !== 'signedOut' || state.status !== 'signedOut' || current.reason === state.reason)) return
    this.#state = state
    for (const listener of this.#listeners) listener(state)
  }
}

/** One client per authd deployment and page. */
export function createAuthdClient (options: AuthdClientOptions): AuthdClient {
  return new AuthdClient(options)
}
