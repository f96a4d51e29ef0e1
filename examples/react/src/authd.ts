// authd from this app: one @authd/client instance (packages/client) holds the access token in
// memory, refreshes it once across all tabs (Web Locks + BroadcastChannel), retries a call once
// on 401 token_expired and signs every tab out on logout. This module adds what is specific to the
// app: its User type, errors as AuthdError, the passkey ceremonies (@simplewebauthn/browser) and
// the account calls of the signed-in page.

import { startAuthentication, startRegistration } from '@simplewebauthn/browser'
import { AuthdClient, AuthdError, type MfaChallenge } from '@authd/client'

export { AuthdError, type MfaChallenge }

export const AUTHD_URL = (import.meta.env.VITE_AUTHD_URL ?? 'http://localhost:3000').replace(/\/+$/, '')

/**
 * Names authd's readable CSRF cookie may have: VITE_AUTHD_CSRF_COOKIE (authd's COOKIE_CSRF_NAME)
 * when set, else the client's defaults (__Host-authd_csrf, __Secure-authd_csrf, authd_csrf).
 */
const csrfCookieNames = import.meta.env.VITE_AUTHD_CSRF_COOKIE !== undefined && import.meta.env.VITE_AUTHD_CSRF_COOKIE !== ''
  ? [import.meta.env.VITE_AUTHD_CSRF_COOKIE]
  : undefined

/** The one client of this page; its state (signed in/out, in any tab) is read with useAuthd(authd). */
export const authd = new AuthdClient({ baseUrl: AUTHD_URL, ...(csrfCookieNames ? { csrfCookieNames } : {}) })

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

async function request (path: string, init: RequestInit): Promise<Response> {
  let res: Response
  try {
    res = await fetch(AUTHD_URL + path, init)
  } catch {
    throw new AuthdError(0, 'network_error', `cannot reach authd at ${AUTHD_URL}`)
  }
  return await ok(res)
}

/** The answer when it is a success, else its problem JSON as an AuthdError. */
async function ok (res: Response): Promise<Response> {
  if (res.ok) return res
  let problem: { code?: string, detail?: string, title?: string } = {}
  try { problem = await res.json() } catch { /* not JSON */ }
  throw new AuthdError(res.status, problem.code ?? 'http_error', problem.detail ?? problem.title ?? `HTTP ${res.status}`)
}

// ---- the browser endpoints (through the client: it keeps the tokens) -----------------------

export interface RegisterInput { email: string, password: string, username?: string }

/** Returns the user; `loggedIn` is false when authd requires email verification first. */
export async function register (input: RegisterInput): Promise<{ user: User, loggedIn: boolean }> {
  const { user, signedIn } = await authd.register(input)
  return { user: user as unknown as User, loggedIn: signedIn }
}

/** Logs in, or answers the challenge when the account has a second factor. */
export async function login (login: string, password: string): Promise<User | MfaChallenge & { mfaRequired: true }> {
  const result = await authd.login(login, password)
  if ('mfaToken' in result) return { ...result, mfaRequired: true }
  return result.user as unknown as User
}

/** Second step of a login: the challenge's mfaToken with a TOTP code, a recovery code or a passkey (`passkeyAssertion()`). */
export async function completeMfa (mfaToken: string, answer: { code: string } | { recoveryCode: string } | { webauthn: unknown }): Promise<User> {
  return (await authd.completeMfa(mfaToken, answer)).user as unknown as User
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
  return (await authd.signIn('/v1/browser/auth/passkey', { response })).user as unknown as User
}

/** Page load: trades the refresh cookie for an access token (one tab at a time). true: signed in. */
export async function refresh (): Promise<boolean> {
  return await authd.refresh()
}

/** Ends the session and signs out every tab of this app. */
export async function logout (): Promise<void> {
  await authd.logout()
}

// ---- sign in with other providers (a page navigation, not a fetch) ---------------------------

export interface Provider { id: string, name: string }

/** The providers configured in authd (AUTH_PROVIDERS), for the "Sign in with …" buttons. */
export async function providers (): Promise<Provider[]> {
  return await (await request('/v1/browser/auth/providers', { method: 'GET' })).json() as Provider[]
}

/**
 * Where a "Sign in with …" button sends the page: authd redirects to the provider and, once the
 * user is back, to this app's `next` with the refresh cookie set (the page then signs in with
 * `refresh()` as after a reload), or to /login?error=<code>, or with the second-factor challenge
 * in the fragment (`providerReturn()`).
 */
export const providerStartUrl = (id: string, next = '/'): string =>
  `${AUTHD_URL}/v1/browser/auth/providers/${encodeURIComponent(id)}/start?next=${encodeURIComponent(next)}`

export type ProviderReturn =
  | { kind: 'error', code: string }
  | { kind: 'mfa', mfaToken: string, methods: string[] }
  | { kind: 'mfaEnrollment' }
  | { kind: 'none' }

/**
 * What authd's redirect back from a provider left in this page's address: `?error=<code>` on a
 * failure, `#mfaRequired=true&mfaToken=…` when the account has a second factor. Both are removed
 * from the address bar (history.replaceState), so a reload or a bookmark does not replay them.
 */
export function providerReturn (): ProviderReturn {
  const url = new URL(window.location.href)
  const fragment = new URLSearchParams(url.hash.slice(1))
  const code = url.searchParams.get('error')
  let result: ProviderReturn = { kind: 'none' }
  if (fragment.get('mfaRequired') === 'true' && fragment.get('mfaToken')) {
    result = { kind: 'mfa', mfaToken: fragment.get('mfaToken') ?? '', methods: (fragment.get('methods') ?? '').split(',').filter(Boolean) }
  } else if (fragment.get('mfaEnrollmentRequired') === 'true') {
    result = { kind: 'mfaEnrollment' }
  } else if (code !== null) {
    result = { kind: 'error', code }
  }
  if (result.kind !== 'none') {
    url.hash = ''
    url.searchParams.delete('error')
    window.history.replaceState(null, '', url.pathname + url.search)
  }
  return result
}

// ---- shared endpoints: bearer access token -------------------------------------------------

/** A call with the access token (the client retries once after a refresh on token_expired). */
async function authorized (path: string, init: RequestInit = {}): Promise<Response> {
  let res: Response
  try {
    res = await authd.fetch(path, init)
  } catch {
    throw new AuthdError(0, 'network_error', `cannot reach authd at ${AUTHD_URL}`)
  }
  return await ok(res)
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
