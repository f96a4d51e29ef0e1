// The caller's second factor (TOTP with recovery codes) and re-authentication (step-up):
// GET /me/mfa, POST /me/mfa/totp (+ /confirm), DELETE /me/mfa/totp, POST /me/mfa/recovery-codes,
// POST /me/reauthenticate. Disabling the factor and new recovery codes need a recent
// authentication (403 reauthentication_required otherwise).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { CodeBody, MfaStatus, ReauthenticateBody, RecoveryCodes, TotpEnrolment } from '../../schemas/mfa.js'
import { bearerProblems, bearerSecurity, bodyProblems, problemResponse, problemResponses } from '../../schemas/responses.js'
import { clientMeta } from '../../services/client-meta.js'

const STEP_UP = { 403: problemResponse(403, 'The session\'s last authentication is older than REAUTHENTICATION_WINDOW: `reauthentication_required` (POST /v1/users/me/reauthenticate, then retry).', 'reauthentication_required') }
const CODE_WRONG = problemResponse(400, 'The code is wrong, outside its time window or already used: `mfa_invalid`; or the body is not valid: `validation_failed`.', 'mfa_invalid')

const mfaRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', app.authenticate)
  app.addHook('onRequest', app.requireLiveSession)
  const security = bearerSecurity
  const errors = { ...bearerProblems, ...problemResponses(503) }

  app.get('/me/mfa', {
    schema: { tags: ['mfa'], summary: 'The caller\'s second factors', security, response: { 200: MfaStatus, ...errors } }
  }, async (request) => await app.mfa.status(request.currentUser))

  app.post('/me/mfa/totp', {
    schema: {
      tags: ['mfa'],
      summary: 'Start TOTP enrolment',
      description: 'A new secret and its `otpauth://` URI (show it as a QR code). Nothing is active until `POST /v1/users/me/mfa/totp/confirm` with a first code; starting again replaces an unconfirmed secret.',
      security,
      response: { 200: TotpEnrolment, ...errors, 409: problemResponse(409, 'TOTP is already on: `mfa_already_enabled` (disable it first).', 'mfa_already_enabled') }
    }
  }, async (request) => await app.mfa.startTotp(request.currentUser))

  app.post('/me/mfa/totp/confirm', {
    onRequest: app.rateLimitHooks('login'),
    schema: {
      tags: ['mfa'],
      summary: 'Confirm TOTP enrolment with a first code',
      description: 'Turns TOTP on and answers the ten recovery codes, shown this once. From now on a login with the password also needs a code.',
      security,
      body: CodeBody,
      response: { 200: RecoveryCodes, ...bodyProblems, 400: CODE_WRONG, ...errors, 409: problemResponse(409, 'No enrolment to confirm: `mfa_not_pending`.', 'mfa_not_pending'), ...problemResponses(429) }
    }
  }, async (request) => await app.mfa.confirmTotp(request.auth, request.currentUser, request.body.code, clientMeta(request)))

  app.delete('/me/mfa/totp', {
    schema: {
      tags: ['mfa'],
      summary: 'Turn TOTP off',
      description: 'Removes the authenticator and the recovery codes. Needs a recent authentication.',
      security,
      response: { 204: Type.Null({ description: 'Off.' }), ...errors, ...STEP_UP, 404: problemResponse(404, 'TOTP is not on: `not_found`.') }
    }
  }, async (request, reply) => {
    await app.mfa.disableTotp(request.auth, request.currentUser, clientMeta(request))
    return await reply.code(204).send(null)
  })

  app.post('/me/mfa/recovery-codes', {
    schema: {
      tags: ['mfa'],
      summary: 'New recovery codes',
      description: 'Ten new codes, shown this once; the old ones stop working. Needs TOTP on and a recent authentication.',
      security,
      response: { 200: RecoveryCodes, ...errors, ...STEP_UP, 404: problemResponse(404, 'TOTP is not on: `not_found`.') }
    }
  }, async (request) => await app.mfa.regenerateRecoveryCodes(request.auth, request.currentUser, clientMeta(request)))

  app.post('/me/reauthenticate', {
    // Checks a secret, like login: same per-IP budget.
    onRequest: app.rateLimitHooks('login'),
    schema: {
      tags: ['mfa'],
      summary: 'Re-authenticate (step-up)',
      description: 'Exactly one of `password` (accounts without a second factor), `code`, `recoveryCode` or `webauthn` (a passkey assertion for the options of `POST /v1/app/auth/passkey/options`). The session\'s `auth_time` becomes now: sensitive actions are allowed for REAUTHENTICATION_WINDOW seconds, and the next access token carries the new `auth_time`. ' +
        'Failures count toward the account\'s lockout, like a login\'s.',
      security,
      body: ReauthenticateBody,
      response: {
        204: Type.Null({ description: 'Re-authenticated.' }),
        ...bodyProblems,
        400: problemResponse(400, 'A wrong password (`validation_failed`, field `password`), a wrong or used code (`mfa_invalid`), a passkey assertion that does not verify for this account (`webauthn_failed`), or not exactly one field (`validation_failed`).', 'mfa_invalid'),
        ...errors,
        403: problemResponse(403, 'A password for an account with a second factor: `reauthentication_required` (give a code).', 'reauthentication_required'),
        ...problemResponses(429)
      }
    }
  }, async (request, reply) => {
    await app.accounts.reauthenticate(request.auth, request.currentUser, request.body, clientMeta(request))
    return await reply.code(204).send(null)
  })
}

export default mfaRoutes
