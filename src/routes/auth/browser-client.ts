// Token endpoints for browser clients (SPAs): the same auth service as the app client, but the
// refresh token travels only in an HttpOnly cookie (browser-cookies.ts) and the body carries
// the access token and a CSRF token. Because the browser attaches the cookie by itself, every
// request is checked against cross-site forgery: its Origin must be one of CORS_ORIGINS (all
// four routes, so a foreign page cannot log a visitor into its own account either), it must not
// carry one of authd's cookies twice (cookie tossing, see browser-cookies.ts), and
// refresh/logout must echo the session's CSRF token in X-CSRF-Token.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { AppError, type ErrorCode } from '../../errors.js'
import { BrowserAuthResult, BrowserLoginReply, BrowserMfaResult, BrowserTokensResult, LoginBody, MfaBody, MfaTokenBody, pendingLoginReply } from '../../schemas/auth.js'
import { TotpEnrolment } from '../../schemas/mfa.js'
import { LOGIN_FAILED, LOGIN_LIMITED, MFA_FAILED, MFA_NOT_PENDING, PASSKEY_FAILED, REGISTER_CONFLICT, bodyProblems, problemResponse, problemResponses } from '../../schemas/responses.js'
import { RegisterBody, toPublicUser } from '../../schemas/user.js'
import { mfaInput } from '../../services/auth-service.js'
import { clientMeta } from '../../services/client-meta.js'
import { browserCookies } from './browser-cookies.js'
import { browserSessions } from './browser-session.js'
import { PasskeyLoginBody, RequestOptions } from '../../schemas/passkeys.js'
import { codeRouteSchemas } from '../../schemas/email-code.js'

/** Answers after which the refresh cookie can never work again: the browser should drop it. */
const DEAD_COOKIE: ReadonlySet<ErrorCode> = new Set(['authentication_required', 'token_invalid', 'token_expired', 'token_reused', 'session_expired'])

// The errors every browser token endpoint can answer; each route adds its own 401/403/409.
const errors = { ...bodyProblems, ...problemResponses(503) }
const FOREIGN_ORIGIN = 'The `Origin` is not one of CORS_ORIGINS, or the `Cookie` header carries one of authd\'s cookie names twice (cookie tossing): `csrf_failed`.'
/** The browser session: the refresh cookie, and its CSRF token echoed in X-CSRF-Token. */
const cookieSecurity = [{ refreshCookie: [], csrfHeader: [] }]
const COOKIE_REFUSED = problemResponse(401, 'No refresh cookie (`authentication_required`), or it is not usable: `token_invalid`, `token_expired`, `token_reused` ' +
  '(the whole session is now revoked), or `session_expired` (past SESSION_MAX_LIFETIME). The reply expires both cookies.', 'authentication_required')
const CSRF_REFUSED = problemResponse(403, `${FOREIGN_ORIGIN} Or \`X-CSRF-Token\` is missing or not this session's token: \`csrf_failed\`.`, 'csrf_failed')

const browserAuthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const cookies = browserCookies(app.config)
  const origins = app.corsOrigins
  const { loggedIn, issue, endReplacedSession } = browserSessions(app, cookies)

  // Added here, it runs before each route's rate-limit hook: a forged request costs no budget.
  // A request without Origin is not from a browser page (browsers send Origin with every POST
  // made by fetch or a form), unless fetch metadata says it came from another site.
  app.addHook('onRequest', async (request) => {
    const origin = request.headers.origin
    const foreign = origin !== undefined ? !origins.has(origin) : request.headers['sec-fetch-site'] === 'cross-site'
    if (foreign) throw new AppError('csrf_failed', 'Requests from this origin are not allowed (see CORS_ORIGINS)')
    // Two cookies of one of our names: another host of the domain has tossed one in
    // (browser-cookies.ts). Which one is ours cannot be told, so nothing is used, rotated or
    // revoked. Nor are cookies cleared: a browser would only drop the one whose path and domain
    // match ours — leaving the tossed one as the only one, which is what the attacker wants.
    const name = cookies.duplicated(request)
    if (name !== undefined) {
      throw new AppError('csrf_failed', `The ${name} cookie was sent twice: another site on this domain may have set one. Clear this site's cookies and log in again`)
    }
  })

  // refresh/logout take no body: the token is in the cookie. `{}` is tolerated for clients that
  // always send JSON; anything else is refused as API.md refuses unknown fields (a refresh
  // token in this body would be a client bug worth hearing about). A body schema cannot say
  // "no body": Fastify validates a missing body against it as undefined.
  const noBody = async (request: FastifyRequest): Promise<void> => {
    const body = request.body
    if (body === undefined || body === null) return
    const fields = typeof body === 'object' && !Array.isArray(body) ? Object.keys(body) : null
    if (fields !== null && fields.length === 0) return
    throw new AppError('validation_failed', 'This endpoint takes no body: the refresh token travels in the cookie', {
      errors: fields === null
        ? [{ field: 'body', code: 'invalid_type', message: 'must be absent or {}' }]
        : fields.map((field) => ({ field, code: 'unknown_field', message: 'is not an accepted field' }))
    })
  }

  /**
   * Runs `use` with the request's refresh cookie once the CSRF token matches the cookie's
   * session. The cookies are cleared whenever the answer shows the cookie is dead (missing,
   * invalid, expired, reused — the last one revokes the whole session).
   */
  async function withSessionCookie<T> (request: FastifyRequest, reply: FastifyReply, use: (token: string) => Promise<T>): Promise<T> {
    try {
      const token = cookies.refreshToken(request)
      if (token === undefined) throw new AppError('authentication_required', 'No session cookie: log in first')
      // The signature check names the session whose CSRF token must be sent back.
      const { sid } = app.tokens.verifyRefresh(token)
      if (!app.csrf.matches(sid, request.headers['x-csrf-token'])) {
        throw new AppError('csrf_failed', 'Send this session\'s csrfToken in the X-CSRF-Token header')
      }
      return await use(token)
    } catch (error) {
      if (error instanceof AppError && DEAD_COOKIE.has(error.code)) cookies.clear(reply)
      throw error
    }
  }

  app.post('/register', {
    onRequest: app.rateLimitHooks('register'),
    schema: {
      tags: ['browser auth'],
      summary: 'Register a new user (and log in) from a browser page',
      description: 'As the app register, but the refresh token is set as an HttpOnly cookie and the body carries the access token and `csrfToken` (also set as a readable cookie).',
      body: RegisterBody,
      response: { 201: BrowserAuthResult, ...errors, 403: problemResponse(403, FOREIGN_ORIGIN, 'csrf_failed'), 409: REGISTER_CONFLICT, ...problemResponses(429) }
    }
  }, async (request, reply) => {
    const { user, tokens } = await app.auth.register(request.body, clientMeta(request))
    // Mandatory email verification: no session yet, so no tokens and no cookies (a cookie of
    // another session this browser holds is not replaced, so it stays as it is).
    if (tokens === null) return await reply.code(201).send({ user: toPublicUser(user) })
    await endReplacedSession(request)
    return await reply.code(201).send({ user: toPublicUser(user), tokens: issue(reply, tokens) })
  })

  app.post('/login', {
    onRequest: app.rateLimitHooks('login'),
    config: { metricsEvent: 'login' },
    schema: {
      tags: ['browser auth'],
      summary: 'Log in from a browser page',
      description: 'Starts a new session: the refresh token is set as an HttpOnly cookie, the body carries the access token and `csrfToken`. ' +
        'A session cookie the browser already held is replaced, and its session ended. ' +
        'Also sets a known-device cookie (HttpOnly, kept across logouts): with it, a lock that failed logins of others put on the account does not apply to this browser.',
      body: LoginBody,
      response: {
        200: BrowserLoginReply,
        ...errors,
        401: LOGIN_FAILED,
        403: problemResponse(403, `${FOREIGN_ORIGIN} Or the email address is not verified yet and verification is mandatory: \`email_not_verified\`.`, 'csrf_failed'),
        429: LOGIN_LIMITED
      }
    }
  }, async (request, reply) => {
    const result = await app.auth.login(request.body, clientMeta(request), cookies.deviceToken(request))
    // A second factor is on: no cookie, no session yet (POST /mfa completes it).
    if (result.mfaRequired) return pendingLoginReply(result)
    return await loggedIn(request, reply, result)
  })

  app.post('/mfa', {
    onRequest: app.rateLimitHooks('login'),
    config: { metricsEvent: 'login' },
    schema: {
      tags: ['browser auth'],
      summary: 'Complete a browser login with the second factor',
      description: 'The `mfaToken` of a login that answered `mfaRequired`, and a TOTP `code`, a `recoveryCode` or a passkey assertion (`webauthn`, for the options of `POST …/auth/passkey/options`). Answers as a browser login (cookies set). ' +
        'Wrong codes count toward the account\'s lockout; the mfaToken dies after MFA_MAX_ATTEMPTS of them, MFA_TOKEN_TTL seconds, or one success.',
      body: MfaBody,
      response: { 200: BrowserMfaResult, ...errors, ...MFA_FAILED, 403: problemResponse(403, FOREIGN_ORIGIN, 'csrf_failed'), 409: MFA_NOT_PENDING, 429: LOGIN_LIMITED }
    }
  }, async (request, reply) => {
    const result = await app.auth.completeMfa(mfaInput(request.body), clientMeta(request))
    return { ...await loggedIn(request, reply, result), ...(result.recoveryCodes === undefined ? {} : { recoveryCodes: result.recoveryCodes }) }
  })

  app.post('/mfa/totp', {
    onRequest: app.rateLimitHooks('login'),
    schema: {
      tags: ['browser auth'],
      summary: 'Enrol TOTP during a browser login that requires it',
      description: 'MFA_REQUIRED_ROLES: the `mfaToken` of a login that answered `mfaEnrollmentRequired`. Answers a new secret and its `otpauth://` URI; ' +
        'then `POST /v1/browser/auth/mfa { mfaToken, code }` with a first code turns TOTP on, answers the recovery codes once and completes the login.',
      body: MfaTokenBody,
      response: { 200: TotpEnrolment, ...errors, 401: MFA_FAILED[401], 403: problemResponse(403, FOREIGN_ORIGIN, 'csrf_failed'), 409: problemResponse(409, 'The account has a second factor already: `mfa_already_enabled`.', 'mfa_already_enabled'), 429: LOGIN_LIMITED }
    }
  }, async (request) => await app.auth.startEnrolment(request.body.mfaToken))
  app.post('/passkey/options', {
    onRequest: app.rateLimitHooks('login'),
    schema: {
      tags: ['browser auth'],
      summary: 'Start a passwordless browser login with a passkey',
      description: 'WebAuthn request options for a discoverable credential (pass them to `startAuthentication({ optionsJSON })`). Its challenge works once, for WEBAUTHN_CHALLENGE_TTL seconds.',
      response: { 200: RequestOptions, 403: problemResponse(403, FOREIGN_ORIGIN, 'csrf_failed'), ...problemResponses(429, 503) }
    }
  }, async () => await app.passkeys.authenticationOptions())

  app.post('/passkey', {
    onRequest: app.rateLimitHooks('login'),
    config: { metricsEvent: 'login' },
    schema: {
      tags: ['browser auth'],
      summary: 'Log in from a browser page with a passkey',
      description: 'The authenticator\'s answer to the options of `POST /v1/browser/auth/passkey/options`. Answers as a browser login (cookies set); the access token\'s `amr` is `hwk` or `swk`, `user`, `mfa`.',
      body: PasskeyLoginBody,
      response: { 200: BrowserAuthResult, ...errors, 400: PASSKEY_FAILED, 403: problemResponse(403, `${FOREIGN_ORIGIN} Or the email address is not verified yet and verification is mandatory: \`email_not_verified\`.`, 'csrf_failed'), 429: LOGIN_LIMITED }
    }
  }, async (request, reply) => {
    return await loggedIn(request, reply, await app.auth.loginWithPasskey(request.body.response, clientMeta(request)))
  })

  // Login by a mailed code (EMAIL_CODE_LOGIN; off: these paths are 404). Confirming answers as
  // a browser login: cookies set, or (second factor on) no cookie yet.
  if (app.emailCodes.enabled) {
    const codeSchemas = codeRouteSchemas('browser')
    app.post('/code/request', { onRequest: app.rateLimitHooks('email'), schema: codeSchemas.request }, async (request, reply) => {
      app.emailCodes.request(request.body.email, clientMeta(request))
      return await reply.code(202).send()
    })
    app.post('/code/confirm', { onRequest: app.rateLimitHooks('login'), config: { metricsEvent: 'login' }, schema: codeSchemas.confirm }, async (request, reply) => {
      const result = await app.auth.loginWithEmailCode(request.body, clientMeta(request))
      return result.mfaRequired ? pendingLoginReply(result) : await loggedIn(request, reply, result)
    })
  }

  app.post('/refresh', {
    onRequest: app.rateLimitHooks('refresh'),
    preValidation: noBody,
    config: { metricsEvent: 'refresh' },
    schema: {
      tags: ['browser auth'],
      summary: 'Rotate the session cookie and get a new access token',
      description: 'Needs the refresh cookie and the session\'s CSRF token in `X-CSRF-Token`; no body (or `{}`). Rotates the refresh cookie as the app refresh rotates its token.',
      security: cookieSecurity,
      response: { 200: BrowserTokensResult, ...errors, 401: COOKIE_REFUSED, 403: CSRF_REFUSED, ...problemResponses(429) }
    }
  }, async (request, reply) => {
    const pair = await withSessionCookie(request, reply, async (token) => await app.auth.refresh(token, clientMeta(request)))
    return { tokens: issue(reply, pair) }
  })

  app.post('/logout', {
    preValidation: noBody,
    schema: {
      tags: ['browser auth'],
      summary: 'Log out the browser session',
      description: 'Needs the refresh cookie and `X-CSRF-Token`; no body (or `{}`). Ends the session and expires both cookies.',
      security: cookieSecurity,
      response: { 204: Type.Null({ description: 'Logged out; both cookies expired.' }), ...errors, 401: COOKIE_REFUSED, 403: CSRF_REFUSED }
    }
  }, async (request, reply) => {
    await withSessionCookie(request, reply, async (token) => { await app.auth.logout(token, clientMeta(request)) })
    cookies.clear(reply)
    return await reply.code(204).send(null)
  })
}

export default browserAuthRoutes
