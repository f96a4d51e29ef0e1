// The caller's passkeys: POST /me/passkeys/options and POST /me/passkeys (registration, two
// steps), PATCH /me/passkeys/:id (rename), DELETE /me/passkeys/:id (needs a recent
// authentication). GET /me/mfa lists them. The passwordless login with a passkey is under
// /v1/{client}/auth/passkey (routes/auth).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { CreationOptions, PasskeyCreated, PasskeyParams, PasskeyReply, RegisterPasskeyBody, RenamePasskeyBody } from '../../schemas/passkeys.js'
import { bearerProblems, bearerSecurity, bodyProblems, problemResponse, problemResponses } from '../../schemas/responses.js'
import { clientMeta } from '../../services/client-meta.js'

// A malformed id is answered 404, like an unknown one or another user's: none is a passkey the caller has.
const config = { notFoundOnBadParams: 'No passkey of yours has this id' }
const NOT_FOUND = { 404: problemResponse(404, 'The caller has no passkey with this id (another user\'s, a malformed id): `not_found`.') }

const passkeyRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', app.authenticate)
  app.addHook('onRequest', app.requireLiveSession)
  const security = bearerSecurity
  const errors = { ...bearerProblems, ...problemResponses(503) }

  app.post('/me/passkeys/options', {
    schema: {
      tags: ['passkeys'],
      summary: 'Start registering a passkey',
      description: 'WebAuthn creation options for `navigator.credentials.create()` (or @simplewebauthn/browser\'s `startRegistration({ optionsJSON })`): a discoverable credential with user verification, none of the caller\'s existing passkeys. ' +
        'Its challenge works once, for WEBAUTHN_CHALLENGE_TTL seconds, for this user only.',
      security,
      response: { 200: CreationOptions, ...errors }
    }
  }, async (request) => await app.passkeys.registrationOptions(request.currentUser))

  app.post('/me/passkeys', {
    onRequest: app.rateLimitHooks('login'),
    schema: {
      tags: ['passkeys'],
      summary: 'Register a passkey',
      description: 'The browser\'s answer to the options of `POST /v1/users/me/passkeys/options`. From now on the caller can log in with it, without a password (`POST /v1/{client}/auth/passkey`). Audited (`passkey_added`).',
      security,
      body: RegisterPasskeyBody,
      response: {
        201: PasskeyCreated,
        ...bodyProblems,
        400: problemResponse(400, 'The response does not verify (challenge unknown, used, expired or another user\'s; wrong origin or RP id; no user verification; the credential is registered already): `webauthn_failed`; or the body is not valid: `validation_failed`.', 'webauthn_failed'),
        ...errors,
        ...problemResponses(429)
      }
    }
  }, async (request, reply) => {
    const created = await app.passkeys.register(request.currentUser, request.body, clientMeta(request))
    return await reply.code(201).send({ id: created.id, name: created.name, createdAt: created.createdAt })
  })

  app.patch('/me/passkeys/:id', {
    config,
    schema: {
      tags: ['passkeys'],
      summary: 'Rename a passkey',
      security,
      params: PasskeyParams,
      body: RenamePasskeyBody,
      response: { 200: PasskeyReply, ...bodyProblems, ...errors, ...NOT_FOUND }
    }
  }, async (request) => await app.passkeys.rename(request.currentUser.id, request.params.id, request.body.name))

  app.delete('/me/passkeys/:id', {
    config,
    schema: {
      tags: ['passkeys'],
      summary: 'Remove a passkey',
      description: 'It stops working at once. Needs a recent authentication. Audited (`passkey_removed`).',
      security,
      params: PasskeyParams,
      response: {
        204: Type.Null({ description: 'Removed.' }),
        ...errors,
        403: problemResponse(403, 'The session\'s last authentication is older than REAUTHENTICATION_WINDOW: `reauthentication_required` (POST /v1/users/me/reauthenticate, then retry).', 'reauthentication_required'),
        ...NOT_FOUND
      }
    }
  }, async (request, reply) => {
    await app.passkeys.remove(request.auth, request.currentUser, request.params.id, clientMeta(request))
    return await reply.code(204).send(null)
  })
}

export default passkeyRoutes
