// Sign in with other identity providers, browser client (docs/browser-clients.md "Sign in with
// other providers"). These are page navigations, not fetches: `start` and `callback` answer with
// redirects — to the provider, then back to the frontend (FRONTEND_URL + next), with the session
// cookies set exactly as a browser login sets them (browser-session.ts). A failure lands on
// FRONTEND_URL + PROVIDER_ERROR_URL_PATH with `?error=<code>` (a code of the catalogue, never a
// provider's message or a token). A second factor sends the mfaToken in the URL fragment, which
// browsers never send to a server; the page completes it with POST /v1/browser/auth/mfa.
// Not under the browser token endpoints' Origin check: the provider's redirect is a cross-site
// navigation by design; the state cookie (SameSite=Lax, bound to this browser) is what ties it
// to the start.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply } from 'fastify'
import { Type } from 'typebox'
import { AppError, type ErrorCode } from '../../errors.js'
import { pendingLoginReply } from '../../schemas/auth.js'
import { CallbackQuery, PROVIDER_NOT_FOUND, ProviderList, ProviderParams, StartQuery } from '../../schemas/providers.js'
import { problemResponses } from '../../schemas/responses.js'
import { clientMeta } from '../../services/client-meta.js'
import { browserCookies } from './browser-cookies.js'
import { browserSessions } from './browser-session.js'

/** What both page navigations (start, callback) take and answer. */
const NAVIGATION = {
  params: ProviderParams,
  response: { 302: Type.Null({ description: 'A redirect (`Location`).' }), ...problemResponses(400, 404, 429) }
}

const providerRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { config } = app
  const frontend = config.FRONTEND_URL.replace(/\/+$/, '')
  const { loggedIn } = browserSessions(app, browserCookies(config))

  /** The frontend's error page with a catalogue code; anything unexpected is logged and is provider_failed. */
  function failed (reply: FastifyReply, error: unknown): FastifyReply {
    let code: ErrorCode = 'provider_failed'
    if (error instanceof AppError) code = error.code
    else reply.log.error({ err: error }, 'provider sign-in failed')
    return reply.redirect(`${frontend}${config.PROVIDER_ERROR_URL_PATH}?error=${code}`, 302)
  }

  app.get('/providers', {
    schema: {
      tags: ['browser auth'],
      summary: 'The identity providers users may sign in with',
      description: 'As configured in AUTH_PROVIDERS: `[{ id, name }]`, for the buttons of the sign-in page.',
      response: { 200: ProviderList }
    }
  }, async () => app.providers.list())

  app.get('/providers/:id/start', {
    onRequest: app.rateLimitHooks('login'),
    config: PROVIDER_NOT_FOUND,
    schema: {
      tags: ['browser auth'],
      summary: 'Sign in with a provider: go there',
      description: 'Navigate the page here (a link, not fetch). Redirects to the provider with a PKCE S256 challenge, `state` and (OpenID) `nonce`, kept in a 10-minute HttpOnly cookie for the callback. ' +
        '`next`: the frontend path to land on afterwards (`/` unless a path of the frontend). An unknown provider or one that cannot be reached redirects to the error page (`?error=provider_unknown`, `provider_failed`).',
      querystring: StartQuery,
      ...NAVIGATION
    }
  }, async (request, reply) => {
    try {
      const { url, sealedState } = await app.providers.start(request.params.id, { next: request.query.next })
      const cookie = app.providers.stateCookie(request.params.id)
      reply.setCookie(cookie.name, sealedState, cookie.options)
      return await reply.redirect(url, 302)
    } catch (error) {
      return await failed(reply, error)
    }
  })

  app.get('/providers/:id/callback', {
    onRequest: app.rateLimitHooks('login'),
    config: { ...PROVIDER_NOT_FOUND, metricsEvent: 'login' },
    schema: {
      tags: ['browser auth'],
      summary: 'Where the provider sends the browser back',
      description: 'Register `PUBLIC_URL/v1/browser/auth/providers/{id}/callback` at the provider. Checks `state` against the cookie of the start, exchanges the code (PKCE), then signs in: ' +
        'redirects to `FRONTEND_URL` + next with the session cookies set as a browser login sets them (the page then calls `POST /v1/browser/auth/refresh` for an access token). ' +
        'With a second factor on: no session, and the redirect carries `#mfaRequired=true&mfaToken=…&methods=…` in its fragment, for `POST /v1/browser/auth/mfa`. ' +
        'A link started with `POST /v1/users/me/identities/{provider}/start` links the identity instead. Failures redirect to `FRONTEND_URL` + PROVIDER_ERROR_URL_PATH + `?error=<code>`.',
      querystring: CallbackQuery,
      ...NAVIGATION
    }
  }, async (request, reply) => {
    try {
      const cookie = app.providers.stateCookie(request.params.id)
      const sealed = request.cookies[cookie.name]
      // Used or not, the state works once.
      reply.clearCookie(cookie.name, { ...cookie.options, maxAge: 0, expires: new Date(0) })
      const { next, result } = await app.providers.callback(request.params.id, request.query, sealed, clientMeta(request))
      const target = `${frontend}${next}`
      if ('linked' in result) return await reply.redirect(target, 302)
      if (result.mfaRequired) {
        const fragment = new URLSearchParams(Object.entries(pendingLoginReply(result)).map(([name, value]): [string, string] => [name, Array.isArray(value) ? value.join(',') : String(value)]))
        return await reply.redirect(`${target}#${fragment.toString()}`, 302)
      }
      await loggedIn(request, reply, result)
      return await reply.redirect(target, 302)
    } catch (error) {
      return await failed(reply, error)
    }
  })
}

export default providerRoutes
