// How a browser login ends, whichever way the user logged in (password, second factor, passkey,
// identity provider): the browser's earlier session ends, the session and known-device cookies
// are set, and the body carries the access token and CSRF token. One copy, used by the browser
// token endpoints and by the provider callback.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { AppError } from '../../errors.js'
import { toPublicUser } from '../../schemas/user.js'
import type { User } from '../../repositories/users.js'
import type { TokenPair } from '../../services/auth-service.js'
import type { IssuedDeviceToken } from '../../services/device-tokens.js'
import { clientMeta } from '../../services/client-meta.js'
import type { BrowserCookies } from './browser-cookies.js'

export function browserSessions (app: FastifyInstance, cookies: BrowserCookies) {
  /** Sets both cookies for a new or rotated pair and returns the body's `tokens`. */
  function issue (reply: FastifyReply, pair: TokenPair) {
    const csrfToken = app.csrf.tokenFor(pair.sessionId)
    cookies.set(reply, { refresh: pair.refresh, refreshExpiresIn: pair.refreshExpiresIn, csrfToken })
    return { tokenType: 'Bearer' as const, access: pair.access, accessExpiresIn: pair.accessExpiresIn, csrfToken }
  }

  /**
   * A login or register from a browser that still holds another session's cookie replaces that
   * cookie, so the old session could never be used again from here: end it rather than leave a
   * live refresh token behind in the database (it would otherwise count as an open session).
   */
  async function endReplacedSession (request: FastifyRequest): Promise<void> {
    const old = cookies.refreshToken(request)
    if (old === undefined) return
    try {
      await app.auth.logout(old, clientMeta(request))
    } catch (error) {
      // A dead, forged or foreign cookie has no session to end; anything else is a real fault.
      if (!(error instanceof AppError)) throw error
    }
  }

  /** A completed login: the browser's earlier session ends, the device and session cookies are set. */
  async function loggedIn (request: FastifyRequest, reply: FastifyReply, result: { user: User, tokens: TokenPair, deviceToken: IssuedDeviceToken | null }) {
    await endReplacedSession(request)
    if (result.deviceToken !== null) cookies.setDevice(reply, result.deviceToken)
    return { user: toPublicUser(result.user), tokens: issue(reply, result.tokens) }
  }

  return { issue, endReplacedSession, loggedIn }
}
