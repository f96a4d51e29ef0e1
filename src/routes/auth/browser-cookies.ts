// The two cookies of a browser session:
// - the refresh token: HttpOnly (page scripts, and so XSS, cannot read it), Secure, SameSite,
//   Path = the browser token endpoints, so it travels only to refresh and logout, and always
//   host-only, so no other host of the domain (a compromised sibling) ever receives it;
// - the CSRF token: readable by the page (that is its purpose: after a reload the page reads it
//   and sends it back in X-CSRF-Token), Path=/ because document.cookie only shows cookies whose
//   path covers the page's own path, and COOKIE_CSRF_DOMAIN so that a page on a sibling host
//   (app.example.com beside api.example.com) can read it. Reading it is harmless to us: the
//   header is checked against the session, not against the cookie.
// Both live as long as the refresh token. Clearing repeats name, path and domain: a browser only
// replaces a cookie whose three match.
import type { CookieSerializeOptions } from '@fastify/cookie'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../../config.js'

export interface BrowserCookies {
  /** The refresh token the browser sent, if any. */
  refreshToken (request: FastifyRequest): string | undefined
  /** Set both cookies (after register, login and every refresh). */
  set (reply: FastifyReply, tokens: { refresh: string, refreshExpiresIn: number, csrfToken: string }): void
  /** Expire both cookies. */
  clear (reply: FastifyReply): void
}

export function browserCookies (config: Config): BrowserCookies {
  const common: CookieSerializeOptions = {
    secure: config.COOKIE_SECURE,
    sameSite: config.COOKIE_SAMESITE.toLowerCase() as 'strict' | 'lax' | 'none'
  }
  const refreshCookie: CookieSerializeOptions = { ...common, httpOnly: true, path: config.COOKIE_PATH }
  const csrfCookie: CookieSerializeOptions = {
    ...common,
    httpOnly: false,
    path: '/',
    ...(config.COOKIE_CSRF_DOMAIN === '' ? {} : { domain: config.COOKIE_CSRF_DOMAIN })
  }
  const expired = { maxAge: 0, expires: new Date(0) }

  return {
    refreshToken (request) {
      const value = request.cookies[config.COOKIE_REFRESH_NAME]
      return value === undefined || value === '' ? undefined : value
    },
    set (reply, tokens) {
      reply.setCookie(config.COOKIE_REFRESH_NAME, tokens.refresh, { ...refreshCookie, maxAge: tokens.refreshExpiresIn })
      reply.setCookie(config.COOKIE_CSRF_NAME, tokens.csrfToken, { ...csrfCookie, maxAge: tokens.refreshExpiresIn })
    },
    clear (reply) {
      reply.setCookie(config.COOKIE_REFRESH_NAME, '', { ...refreshCookie, ...expired })
      reply.setCookie(config.COOKIE_CSRF_NAME, '', { ...csrfCookie, ...expired })
    }
  }
}
