// The user's authd session, kept in this SvelteKit server's own cookies:
// - `refresh_token`: authd's refresh token. Rotated at every refresh, so the cookie is rewritten
//   each time; the spent token is worthless (authd blacklists it) except within authd's short
//   grace window, which lets two requests that refresh at once both succeed.
// - `access_token`: the short-lived access token, so that most requests need no refresh. Its
//   cookie expires a little before the token does, so the browser stops sending it in time.
// Both are HttpOnly (page scripts, and so XSS, cannot read them), SameSite=Lax (not sent with
// cross-site POSTs, still sent when a link from another site is followed), Path=/ and Secure —
// SvelteKit leaves Secure off only on http://localhost, for development.
import type { Cookies, RequestEvent } from '@sveltejs/kit'
import { AuthdProblem, authd, type Tokens, type User, type Visitor } from './authd'

export const ACCESS_COOKIE = 'access_token'
export const REFRESH_COOKIE = 'refresh_token'

const cookieOptions = { path: '/', httpOnly: true, sameSite: 'lax' } as const

/** Seconds before the access token's expiry at which it is refreshed. */
const marginFor = (lifetime: number) => Math.min(30, Math.floor(lifetime / 10))

export function visitorOf (event: RequestEvent): Visitor {
  return { ip: event.getClientAddress(), userAgent: event.request.headers.get('user-agent') }
}

export function saveTokens (cookies: Cookies, tokens: Tokens): void {
  cookies.set(ACCESS_COOKIE, tokens.access, { ...cookieOptions, maxAge: tokens.accessExpiresIn - marginFor(tokens.accessExpiresIn) })
  cookies.set(REFRESH_COOKIE, tokens.refresh, { ...cookieOptions, maxAge: tokens.refreshExpiresIn })
}

export function clearTokens (cookies: Cookies): void {
  cookies.delete(ACCESS_COOKIE, cookieOptions)
  cookies.delete(REFRESH_COOKIE, cookieOptions)
}

/** True when the access token expires within the margin (or cannot be read). Only a scheduling
 *  decision, so the signature is not checked here: authd checks it on every use. */
function expiresSoon (access: string): boolean {
  try {
    const payload = JSON.parse(Buffer.from(access.split('.')[1] ?? '', 'base64url').toString('utf8')) as { iat?: unknown, exp?: unknown }
    if (typeof payload.exp !== 'number' || typeof payload.iat !== 'number') return true
    return payload.exp - marginFor(payload.exp - payload.iat) <= Date.now() / 1000
  } catch {
    return true
  }
}

/** Swaps the refresh token for new tokens and stores both. null: the session is over (authd
 *  answered 401: logged out, revoked, expired or reused), and the cookies are cleared. */
async function refreshSession (event: RequestEvent, refresh: string): Promise<string | null> {
  try {
    const tokens = await authd.refresh(refresh, visitorOf(event))
    saveTokens(event.cookies, tokens)
    return tokens.access
  } catch (error) {
    if (error instanceof AuthdProblem && error.status === 401) {
      clearTokens(event.cookies)
      return null
    }
    throw error // authd unavailable or rate-limited: keep the cookies, the user is not logged out
  }
}

/** The signed-in user of this request, refreshing the tokens when the access token is missing,
 *  expired or about to expire. Throws AuthdUnavailable (or a non-401 AuthdProblem) when that
 *  cannot be decided now. */
export async function currentUser (event: RequestEvent): Promise<User | null> {
  const refresh = event.cookies.get(REFRESH_COOKIE)
  let access = event.cookies.get(ACCESS_COOKIE)
  if (refresh === undefined) {
    // An access token without its refresh token is a leftover: drop it.
    if (access !== undefined) clearTokens(event.cookies)
    return null
  }
  let refreshed = false
  if (access === undefined || expiresSoon(access)) {
    access = await refreshSession(event, refresh) ?? undefined
    if (access === undefined) return null
    refreshed = true
  }
  try {
    return await authd.me(access, visitorOf(event))
  } catch (error) {
    if (!(error instanceof AuthdProblem) || error.status !== 401) throw error
  }
  // 401 with an access token that looked fresh (clock skew, the session ended elsewhere):
  // one refresh decides. With a token just refreshed there is nothing more to try.
  if (refreshed) {
    clearTokens(event.cookies)
    return null
  }
  access = await refreshSession(event, refresh) ?? undefined
  if (access === undefined) return null
  try {
    return await authd.me(access, visitorOf(event))
  } catch (error) {
    if (!(error instanceof AuthdProblem) || error.status !== 401) throw error
    clearTokens(event.cookies)
    return null
  }
}

/** The access token for a call to authd on the user's behalf. hooks.server.ts ran `currentUser`
 *  for this request first, so it is fresh (a refresh during this request is seen here too). */
export function accessToken (cookies: Cookies): string | undefined {
  return cookies.get(ACCESS_COOKIE)
}

/** Only same-site paths: `?redirectTo=https://evil.example` or `//evil.example` must not turn
 *  the login page into an open redirect. */
export function safeRedirect (target: string | null, fallback = '/account'): string {
  if (target === null || !target.startsWith('/') || target.startsWith('//') || target.startsWith('/\\')) return fallback
  return target
}
