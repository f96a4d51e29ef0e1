// A small client for authd's *browser* endpoints (see authd's API.md, "Two kinds of client").
//
// - The refresh token lives only in authd's HttpOnly cookie (`__Host-authd_refresh`, or
//   `authd_refresh` when authd runs with COOKIE_SECURE=false on http://localhost): this code never
//   sees it. Every call to /v1/browser/auth/* uses `credentials: 'include'` so the browser sends and stores it.
// - The access token is kept in this module's memory only (never localStorage/sessionStorage), so
//   a reload loses it and the page gets a new one with a "silent refresh".
// - refresh/logout must carry the CSRF token in `X-CSRF-Token`. authd returns it in the body of
//   login/register/refresh and also sets it as a readable cookie (`__Host-authd_csrf`,
//   `__Secure-authd_csrf` with COOKIE_CSRF_DOMAIN, `authd_csrf` in development). After a reload
//   the body value is gone, so the cookie is the source: it is readable here when the page and authd
//   share a host (cookies ignore ports: localhost:5173 sees cookies set by localhost:3000) or when
//   authd sets it for a parent domain (COOKIE_CSRF_DOMAIN=example.com for app.example.com + auth.example.com).

import { startAuthentication, startRegistration } from '@simplewebauthn/browser'

export const AUTHD_URL = (import.meta.env.VITE_AUTHD_URL ?? 'http://localhost:3000').replace(/\/+$/, '')

/**
 * Names authd's readable CSRF cookie may have, tried in this order: VITE_AUTHD_CSRF_COOKIE (authd's
 * COOKIE_CSRF_NAME) when set, else authd's defaults. The prefixed names come first: another host of
 * the domain can plant a plain `authd_csrf` cookie, but never a `__Host-` one.
 */
const CSRF_COOKIES = import.meta.env.VITE_AUTHD_CSRF_COOKIE !== undefined && import.meta.env.VITE_AUTHD_CSRF_COOKIE !== ''
  ? [import.meta.env.VITE_AUTHD_CSRF_COOKIE]
  : ['__Host-authd_csrf', '__Secure-authd_csrf', 'authd_csrf']

/** Refresh this many seconds before the access token expires. */
const REFRESH_MARGIN_SECONDS = 30

export interface User {
  id: string
  email: string
  username: string | null
  fullName: string | null
  bio: string | null
  roles: string[]
  emailVerified: boolean
  createdAt: string
  lastLoginAt: string | null
}

interface BrowserTokens {
  tokenType: 'Bearer'
  access: string
  accessExpiresIn: number
  csrfToken: string
}

/** An RFC 9457 problem answered by authd (or a network failure, status 0). */
export class AuthdError extends Error {
  constructor (readonly status: number, readonly code: string, message: string) {
    super(message)
  }
}

// ---- in-memory session state -------------------------------------------------------------
let accessToken: string | null = null
let csrfFromBody: string | null = null
let refreshTimer: ReturnType<typeof setTimeout> | undefined
let refreshing: Promise<boolean> | null = null
const endListeners = new Set<() => void>()

/** Called when the session ends without the user asking (a scheduled refresh was refused). */
export function onSessionEnd (listener: () => void): () => void {
  endListeners.add(listener)
  return () => { endListeners.delete(listener) }
}

function readCookie (name: string): string | null {
  for (const part of document.cookie.split(';')) {
    const [key, ...value] = part.trim().split('=')
    if (key === name) return decodeURIComponent(value.join('='))
  }
  return null
}

/** The cookie wins: another tab may have refreshed since this tab last saw a body. */
function csrfToken (): string | null {
  for (const name of CSRF_COOKIES) {
    const value = readCookie(name)
    if (value !== null) return value
  }
  return csrfFromBody
}

function accept (tokens: BrowserTokens): void {
  accessToken = tokens.access
  csrfFromBody = tokens.csrfToken
  clearTimeout(refreshTimer)
  const delay = Math.max(tokens.accessExpiresIn - REFRESH_MARGIN_SECONDS, 5) * 1000
  refreshTimer = setTimeout(() => {
    void refresh().then((ok) => { if (!ok) endListeners.forEach((l) => l()) }, () => {})
  }, delay)
}

function forget (): void {
  accessToken = null
  csrfFromBody = null
  clearTimeout(refreshTimer)
}

async function request (path: string, init: RequestInit): Promise<Response> {
  let res: Response
  try {
    res = await fetch(AUTHD_URL + path, init)
  } catch {
    throw new AuthdError(0, 'network_error', `cannot reach authd at ${AUTHD_URL}`)
  }
  if (res.ok) return res
  let problem: { code?: string, detail?: string, title?: string } = {}
  try { problem = await res.json() } catch { /* not JSON */ }
  throw new AuthdError(res.status, problem.code ?? 'http_error', problem.detail ?? problem.title ?? `HTTP ${res.status}`)
}

const json = (body: unknown): RequestInit => ({
  method: 'POST',
  credentials: 'include',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body)
})

// ---- the browser endpoints ----------------------------------------------------------------

export interface RegisterInput { email: string, password: string, username?: string }

/** Returns the user; `loggedIn` is false when authd requires email verification first. */
export async function register (input: RegisterInput): Promise<{ user: User, loggedIn: boolean }> {
  const res = await request('/v1/browser/auth/register', json(input))
  const body = await res.json() as { user: User, tokens?: BrowserTokens }
  if (body.tokens) accept(body.tokens)
  return { user: body.user, loggedIn: body.tokens !== undefined }
}

/** With a second factor on, a right password answers no tokens: a code must follow (`completeMfa`). */
export interface MfaChallenge { mfaRequired: true, mfaToken: string, methods: string[] }

/** Logs in, or answers the challenge when the account has a second factor. */
export async function login (login: string, password: string): Promise<User | MfaChallenge> {
  const res = await request('/v1/browser/auth/login', json({ login, password }))
  const body = await res.json() as { user: User, tokens: BrowserTokens } | MfaChallenge
  if ('mfaRequired' in body) return body
  accept(body.tokens)
  return body.user
}

/** Second step of a login: the challenge's mfaToken with a TOTP code, a recovery code or a passkey (`passkeyAssertion()`). */
export async function completeMfa (mfaToken: string, answer: { code: string } | { recoveryCode: string } | { webauthn: unknown }): Promise<User> {
  const res = await request('/v1/browser/auth/mfa', json({ mfaToken, ...answer }))
  const body = await res.json() as { user: User, tokens: BrowserTokens }
  accept(body.tokens)
  return body.user
}

/**
 * Asks the browser for a passkey assertion over a fresh authd challenge: the options name no
 * credential, so the authenticator offers the passkeys it holds for this site (discoverable
 * credentials) and verifies the user (biometrics or PIN).
 */
export async function passkeyAssertion (): Promise<unknown> {
  const options = await request('/v1/browser/auth/passkey/options', { method: 'POST', credentials: 'include' })
  return await startAuthentication({ optionsJSON: await options.json() })
}

/** Passwordless login with a passkey (no second step: the passkey is two factors on its own). */
export async function loginWithPasskey (): Promise<User> {
  const response = await passkeyAssertion()
  const res = await request('/v1/browser/auth/passkey', json({ response }))
  const body = await res.json() as { user: User, tokens: BrowserTokens }
  accept(body.tokens)
  return body.user
}

/**
 * Trades the refresh cookie for a new access token (authd also rotates the cookie).
 * Resolves false when there is no session (no CSRF token, or authd refuses); concurrent
 * callers share one request.
 */
export async function refresh (): Promise<boolean> {
  refreshing ??= (async () => {
    const csrf = csrfToken()
    if (csrf === null) { forget(); return false }
    try {
      const res = await request('/v1/browser/auth/refresh', {
        method: 'POST',
        credentials: 'include',
        headers: { 'x-csrf-token': csrf }
      })
      accept((await res.json() as { tokens: BrowserTokens }).tokens)
      return true
    } catch (error) {
      if (error instanceof AuthdError && error.status !== 0 && error.status < 500 && error.status !== 429) {
        forget()
        return false
      }
      throw error
    }
  })().finally(() => { refreshing = null })
  return await refreshing
}

export async function logout (): Promise<void> {
  const csrf = csrfToken()
  try {
    if (csrf !== null) {
      await request('/v1/browser/auth/logout', {
        method: 'POST',
        credentials: 'include',
        headers: { 'x-csrf-token': csrf }
      })
    }
  } finally {
    forget()
  }
}

// ---- shared endpoints: bearer access token -------------------------------------------------

/** A call with the access token; one silent refresh and retry when it has expired. */
async function authorized (path: string, init: RequestInit = {}): Promise<Response> {
  const attempt = async () => await request(path, {
    ...init,
    headers: { ...init.headers as Record<string, string>, ...(accessToken ? { authorization: `Bearer ${accessToken}` } : {}) }
  })
  try {
    return await attempt()
  } catch (error) {
    if (!(error instanceof AuthdError) || error.status !== 401) throw error
    if (!await refresh()) throw error
    return await attempt()
  }
}

export async function currentUser (): Promise<User> {
  return await (await authorized('/v1/users/me')).json() as User
}

// ---- second factor (TOTP) ------------------------------------------------------------------

export interface Passkey { id: string, name: string, createdAt: string, lastUsedAt: string | null }
export interface MfaStatus { totp: boolean, recoveryCodesLeft: number, passkeys: Passkey[] }

export async function mfaStatus (): Promise<MfaStatus> {
  return await (await authorized('/v1/users/me/mfa')).json() as MfaStatus
}

/** Starts enrolment: a new secret and its otpauth:// URI (nothing changes until confirmed). */
export async function startTotp (): Promise<{ secret: string, otpauthUri: string }> {
  return await (await authorized('/v1/users/me/mfa/totp', { method: 'POST' })).json() as { secret: string, otpauthUri: string }
}

/** Turns TOTP on with a first code; answers the recovery codes, which authd shows only this once. */
export async function confirmTotp (code: string): Promise<string[]> {
  const res = await authorized('/v1/users/me/mfa/totp/confirm', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code })
  })
  return (await res.json() as { recoveryCodes: string[] }).recoveryCodes
}

// ---- passkeys (WebAuthn) --------------------------------------------------------------------

/**
 * Registers a passkey for the signed-in user: authd's creation options → the browser's
 * authenticator (navigator.credentials.create through @simplewebauthn/browser) → authd verifies
 * and stores the public key. The page must be one of authd's WEBAUTHN_ORIGINS.
 */
export async function addPasskey (name: string): Promise<Passkey> {
  const options = await (await authorized('/v1/users/me/passkeys/options', { method: 'POST' })).json()
  const response = await startRegistration({ optionsJSON: options })
  const res = await authorized('/v1/users/me/passkeys', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(name === '' ? { response } : { name, response })
  })
  return await res.json() as Passkey
}
