// Token endpoints for app clients (mobile, CLI, services, Postman): both tokens travel in
// JSON bodies. The browser client (cookies + CSRF) wraps the same auth service.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { AppAuthResult, AppLoginReply, AppLoginResult, AppMfaResult, AppTokensResult, DEVICE_TOKEN_HEADER, LoginBody, MfaBody, MfaTokenBody, RefreshBody, pendingLoginReply } from '../../schemas/auth.js'
import { TotpEnrolment } from '../../schemas/mfa.js'
import { LOGIN_FAILED, LOGIN_LIMITED, LOGIN_REFUSED, MFA_FAILED, MFA_NOT_PENDING, PASSKEY_FAILED, REFRESH_REFUSED, REGISTER_CONFLICT, bodyProblems, problemResponse, problemResponses } from '../../schemas/responses.js'
import { RegisterBody, toPublicUser } from '../../schemas/user.js'
import type { User } from '../../repositories/users.js'
import { mfaInput, type TokenPair } from '../../services/auth-service.js'
import type { IssuedDeviceToken } from '../../services/device-tokens.js'
import { clientMeta } from '../../services/client-meta.js'
import { PasskeyLoginBody, RequestOptions } from '../../schemas/passkeys.js'
import { codeRouteSchemas } from '../../schemas/email-code.js'

const appTokens = (pair: TokenPair) => ({
  tokenType: 'Bearer' as const,
  access: pair.access,
  accessExpiresIn: pair.accessExpiresIn,
  refresh: pair.refresh,
  refreshExpiresIn: pair.refreshExpiresIn
})

/** The body of an app login that opened a session (shared with the provider token exchange). */
export const loginReply = ({ user, tokens, deviceToken }: { user: User, tokens: TokenPair, deviceToken: IssuedDeviceToken | null }) =>
  ({ user: toPublicUser(user), tokens: appTokens(tokens), ...(deviceToken === null ? {} : { deviceToken: deviceToken.token }) })

// The errors every token endpoint can answer; each route adds its own 401/403/409.
const errors = { ...bodyProblems, ...problemResponses(503) }

const appAuthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // Token responses must never be stored by a browser or proxy.
  app.addHook('onSend', async (_request, reply) => { reply.header('cache-control', 'no-store') })

  app.post('/register', {
    onRequest: app.rateLimitHooks('register'),
    schema: {
      tags: ['app auth'],
      summary: 'Register a new user (and log in)',
      description: 'Creates the user and, unless email verification is mandatory, a session: the reply then carries both tokens. ' +
        'The password must pass the password policy (`validation_failed` with a field error otherwise).',
      body: RegisterBody,
      response: { 201: AppAuthResult, ...errors, 409: REGISTER_CONFLICT, ...problemResponses(429) }
    }
  }, async (request, reply) => {
    const { user, tokens } = await app.auth.register(request.body, clientMeta(request))
    // Mandatory email verification: no session yet, so no tokens (API.md).
    if (tokens === null) return await reply.code(201).send({ user: toPublicUser(user) })
    return await reply.code(201).send({ user: toPublicUser(user), tokens: appTokens(tokens) })
  })

  app.post('/login', {
    onRequest: app.rateLimitHooks('login'),
    config: { metricsEvent: 'login' },
    schema: {
      tags: ['app auth'],
      summary: 'Log in with email or username and password',
      description: 'Starts a new session and returns its access and refresh tokens, and a known-device token (`deviceToken`). ' +
        'Send that back in `X-Device-Token` with later logins: a lock that failed logins of others put on the account does not apply to this device ' +
        '(its own failures still lock it).',
      headers: Type.Object({ [DEVICE_TOKEN_HEADER]: Type.Optional(Type.String({ description: 'The `deviceToken` of this app\'s last successful login.' })) }),
      body: LoginBody,
      response: { 200: AppLoginReply, ...errors, 401: LOGIN_FAILED, 403: LOGIN_REFUSED, 429: LOGIN_LIMITED }
    }
  }, async (request) => {
    const result = await app.auth.login(request.body, clientMeta(request), request.headers[DEVICE_TOKEN_HEADER])
    if (result.mfaRequired) return pendingLoginReply(result)
    return loginReply(result)
  })

  app.post('/mfa', {
    onRequest: app.rateLimitHooks('login'),
    config: { metricsEvent: 'login' },
    schema: {
      tags: ['app auth'],
      summary: 'Complete a login with the second factor',
      description: 'The `mfaToken` of a login that answered `mfaRequired`, and a TOTP `code`, a `recoveryCode` or a passkey assertion (`webauthn`, for the options of `POST …/auth/passkey/options`). Answers as a login. ' +
        'Wrong codes count toward the account\'s lockout; the mfaToken dies after MFA_MAX_ATTEMPTS of them, MFA_TOKEN_TTL seconds, or one success. Shares the per-IP login rate limit.',
      body: MfaBody,
      response: { 200: AppMfaResult, ...errors, ...MFA_FAILED, 409: MFA_NOT_PENDING, 429: LOGIN_LIMITED }
    }
  }, async (request) => {
    const result = await app.auth.completeMfa(mfaInput(request.body), clientMeta(request))
    return { ...loginReply(result), ...(result.recoveryCodes === undefined ? {} : { recoveryCodes: result.recoveryCodes }) }
  })

  app.post('/mfa/totp', {
    onRequest: app.rateLimitHooks('login'),
    schema: {
      tags: ['app auth'],
      summary: 'Enrol TOTP during a login that requires it',
      description: 'MFA_REQUIRED_ROLES: the `mfaToken` of a login that answered `mfaEnrollmentRequired`. Answers a new secret and its `otpauth://` URI; ' +
        'then `POST /v1/app/auth/mfa { mfaToken, code }` with a first code turns TOTP on, answers the recovery codes once and completes the login.',
      body: MfaTokenBody,
      response: { 200: TotpEnrolment, ...errors, 401: MFA_FAILED[401], 409: problemResponse(409, 'The account has a second factor already: `mfa_already_enabled` (complete the login with a code).', 'mfa_already_enabled'), 429: LOGIN_LIMITED }
    }
  }, async (request) => await app.auth.startEnrolment(request.body.mfaToken))
  app.post('/passkey/options', {
    onRequest: app.rateLimitHooks('login'),
    schema: {
      tags: ['app auth'],
      summary: 'Start a passwordless login with a passkey',
      description: 'WebAuthn request options for a discoverable credential (no `allowCredentials`: the authenticator offers the user\'s passkeys). Its challenge works once, for WEBAUTHN_CHALLENGE_TTL seconds. Shares the per-IP login rate limit.',
      response: { 200: RequestOptions, ...problemResponses(429, 503) }
    }
  }, async () => await app.passkeys.authenticationOptions())

  app.post('/passkey', {
    onRequest: app.rateLimitHooks('login'),
    config: { metricsEvent: 'login' },
    schema: {
      tags: ['app auth'],
      summary: 'Log in with a passkey',
      description: 'The authenticator\'s answer to the options of `POST /v1/app/auth/passkey/options`. Answers as a login; the access token\'s `amr` is `hwk` (a device-bound key) or `swk` (a synced one), with `user` and `mfa` (the user was verified on the device), so a second factor is not asked for.',
      body: PasskeyLoginBody,
      response: { 200: AppLoginResult, ...errors, 400: PASSKEY_FAILED, 403: LOGIN_REFUSED, 429: LOGIN_LIMITED }
    }
  }, async (request) => loginReply(await app.auth.loginWithPasskey(request.body.response, clientMeta(request))))

  // Login by a mailed code (EMAIL_CODE_LOGIN; off: these paths are 404).
  if (app.emailCodes.enabled) {
    const codeSchemas = codeRouteSchemas('app')
    app.post('/code/request', { onRequest: app.rateLimitHooks('email'), schema: codeSchemas.request }, async (request, reply) => {
      app.emailCodes.request(request.body.email, clientMeta(request))
      return await reply.code(202).send()
    })
    app.post('/code/confirm', { onRequest: app.rateLimitHooks('login'), config: { metricsEvent: 'login' }, schema: codeSchemas.confirm }, async (request) => {
      const result = await app.auth.loginWithEmailCode(request.body, clientMeta(request))
      return result.mfaRequired ? pendingLoginReply(result) : loginReply(result)
    })
  }

  app.post('/refresh', {
    onRequest: app.rateLimitHooks('refresh'),
    config: { metricsEvent: 'refresh' },
    schema: {
      tags: ['app auth'],
      summary: 'Swap a refresh token for a new token pair',
      description: 'Rotation: the presented refresh token is blacklisted and a new one issued in the same session. ' +
        'Presenting it again within REFRESH_GRACE_SECONDS (two tabs at once, a lost reply) is answered with the same new refresh token and a fresh access token; after that it revokes the session.',
      body: RefreshBody,
      response: { 200: AppTokensResult, ...errors, 401: REFRESH_REFUSED, ...problemResponses(429) }
    }
  }, async (request) => {
    return { tokens: appTokens(await app.auth.refresh(request.body.refresh, clientMeta(request))) }
  })

  app.post('/logout', {
    schema: {
      tags: ['app auth'],
      summary: 'Log out: end the refresh token\'s session',
      description: 'Blacklists every refresh token of the session. Its access token stays valid for services that verify locally until it expires (at most ACCESS_TOKEN_TTL).',
      body: RefreshBody,
      response: {
        204: Type.Null({ description: 'Logged out.' }),
        ...errors,
        401: problemResponse(401, 'The refresh token is not usable: `token_invalid` or `token_expired`.', 'token_invalid')
      }
    }
  }, async (request, reply) => {
    await app.auth.logout(request.body.refresh, clientMeta(request))
    return await reply.code(204).send(null)
  })
}

export default appAuthRoutes
