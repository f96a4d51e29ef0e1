// The two cookies of a browser session:
// - the refresh token: HttpOnly (page scripts, and so XSS, cannot read it), Secure, SameSite,
//   Path = COOKIE_PATH, and always host-only, so no other host of the domain (a compromised
//   sibling) ever receives it;
// - the CSRF token: readable by the page (that is its purpose: after a reload the page reads it
//   and sends it back in X-CSRF-Token), Path=/ because document.cookie only shows cookies whose
//   path covers the page's own path, and COOKIE_CSRF_DOMAIN so that a page on a sibling host
//   (app.example.com beside api.example.com) can read it. Reading it is harmless to us: the
//   header is checked against the session, not against the cookie.
// Both live as long as the refresh token. Clearing repeats name, path and domain: a browser only
// replaces a cookie whose three match.
// A third cookie is the browser's known-device token (services/device-tokens.ts): HttpOnly, with
// the refresh cookie's path (it only needs to reach login), set at each successful login and kept
// across logouts, since it says which device this is, not which session.
//
// Cookie tossing: another host of the domain (a sibling subdomain, or on localhost any other
// port) can set a cookie of the same name with its own Domain or a longer Path. The browser then
// sends both, the tossed one first, and a server that reads the first would use the attacker's
// refresh token (and the page its CSRF token): the visitor silently works in the attacker's
// session. The default names carry the __Host- prefix (config.ts, prefixedCookieName), which
// browsers refuse to let anyone set with a Domain or another Path; and a request that carries one
// of these names twice is refused outright (hasDuplicate), whatever the names.
import type { CookieSerializeOptions } from '@fastify/cookie'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { prefixedCookieName, type Config } from '../../config.js'

export interface BrowserCookies {
  /** The refresh token the browser sent, if any. */
  refreshToken (request: FastifyRequest): string | undefined
  /** Set both cookies (after register, login and every refresh). */
  set (reply: FastifyReply, tokens: { refresh: string, refreshExpiresIn: number, csrfToken: string }): void
  /** Expire both session cookies (the device cookie stays: it outlives sessions). */
  clear (reply: FastifyReply): void
  /** The known-device token the browser sent, if any. */
  deviceToken (request: FastifyRequest): string | undefined
  /** Set the known-device cookie (after a successful login). */
  setDevice (reply: FastifyReply, device: { token: string, expiresIn: number }): void
  /** The first of authd's cookie names that the request's Cookie header carries more than once. */
  duplicated (request: FastifyRequest): string | undefined
}

/**
 * How many times each name occurs in a Cookie header as browsers send it
 * (`name=value; name=value`, RFC 6265 5.4). A pair without `=` is a nameless cookie (name "").
 * Several Cookie fields (HTTP/2 may split one) count together.
 */
export function cookieNameCounts (header: string | string[] | undefined): Map<string, number> {
  const counts = new Map<string, number>()
  const fields = header === undefined ? [] : Array.isArray(header) ? header : [header]
  for (const field of fields) {
    for (const pair of field.split(';')) {
      if (pair.trim() === '') continue
      const eq = pair.indexOf('=')
      const name = eq === -1 ? '' : pair.slice(0, eq).trim()
      counts.set(name, (counts.get(name) ?? 0) + 1)
    }
  }
  return counts
}

interface CookieSpec { name: string, options: CookieSerializeOptions }

export function browserCookies (config: Config): BrowserCookies {
  const common: CookieSerializeOptions = {
    secure: config.COOKIE_SECURE,
    sameSite: config.COOKIE_SAMESITE.toLowerCase() as 'strict' | 'lax' | 'none'
  }
  // Every cookie authd sets on a browser, in one place: set, clear and the duplicate rule follow it.
  const cookies = {
    refresh: { name: config.COOKIE_REFRESH_NAME, options: { ...common, httpOnly: true, path: config.COOKIE_PATH } },
    csrf: {
      name: config.COOKIE_CSRF_NAME,
      options: { ...common, httpOnly: false, path: '/', ...(config.COOKIE_CSRF_DOMAIN === '' ? {} : { domain: config.COOKIE_CSRF_DOMAIN }) }
    }
  } satisfies Record<string, CookieSpec>
  const device: CookieSpec = {
    name: prefixedCookieName('authd_device', { secure: config.COOKIE_SECURE, path: config.COOKIE_PATH, domain: '' }),
    options: { ...common, httpOnly: true, path: config.COOKIE_PATH }
  }
  const names = [...Object.values(cookies), device].map((c) => c.name)
  const expired = { maxAge: 0, expires: new Date(0) }

  return {
    refreshToken (request) {
      const value = request.cookies[cookies.refresh.name]
      return value === undefined || value === '' ? undefined : value
    },
    set (reply, tokens) {
      reply.setCookie(cookies.refresh.name, tokens.refresh, { ...cookies.refresh.options, maxAge: tokens.refreshExpiresIn })
      reply.setCookie(cookies.csrf.name, tokens.csrfToken, { ...cookies.csrf.options, maxAge: tokens.refreshExpiresIn })
    },
    clear (reply) {
      for (const cookie of Object.values(cookies)) reply.setCookie(cookie.name, '', { ...cookie.options, ...expired })
    },
    deviceToken (request) {
      const value = request.cookies[device.name]
      return value === undefined || value === '' ? undefined : value
    },
    setDevice (reply, issued) {
      reply.setCookie(device.name, issued.token, { ...device.options, maxAge: issued.expiresIn })
    },
    duplicated (request) {
      const counts = cookieNameCounts(request.headers.cookie)
      return names.find((name) => (counts.get(name) ?? 0) > 1)
    }
  }
}
