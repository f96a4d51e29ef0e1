// The `passkeys` service: WebAuthn credentials (passkeys) — registration by a logged-in user,
// listing, renaming, removal, and the check of a passwordless login's assertion (the auth
// service opens the session). @simplewebauthn/server does the WebAuthn verification; this file
// adds what it leaves to its caller:
// - challenges are single-use and short-lived: stored (by their SHA-256) when options are handed
//   out and consumed by one DELETE inside the verification, so a response, or a second
//   response to one challenge, works once;
// - a registration challenge belongs to the user who asked for it;
// - the signature counter must grow (a conditional UPDATE in the session's transaction), else
//   the authenticator may be cloned;
// - user verification is required, so a passkey login counts as two factors.
import { randomUUID } from 'node:crypto'
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON
} from '@simplewebauthn/server'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { allowedOrigins } from '../config.js'
import { AppError } from '../errors.js'
import type { ChallengePurpose, StoredPasskey } from '../repositories/passkeys.js'
import type { Repositories, UnitOfWork } from '../repositories/unit-of-work.js'
import type { User } from '../repositories/users.js'
import type { ClientMeta } from './client-meta.js'
import { hashToken } from './opaque-tokens.js'
import type { Caller, SessionService } from './session-service.js'

// Loaded at the first passkey request, not at start: @simplewebauthn/server and its decoders are
// about 15 MB of resident memory that a deployment without passkeys never needs (issue 18).
let webauthnModule: Promise<typeof import('@simplewebauthn/server')> | undefined
const webauthn = async (): Promise<typeof import('@simplewebauthn/server')> => await (webauthnModule ??= import('@simplewebauthn/server'))

export interface PasskeyServiceOptions {
  db: UnitOfWork
  sessions: SessionService
  rpId: string
  rpName: string
  /** Exact origins a response may come from (its clientDataJSON.origin). */
  origins: string[]
  challengeTtl: number
}

/** What GET /users/me/mfa and the passkey routes show of a passkey. */
export interface PasskeySummary { id: string, name: string, createdAt: string, lastUsedAt: string | null }

/** An assertion that verified, and what using it takes (inside the session's transaction). */
export interface CheckedAssertion {
  userId: string
  passkeyId: string
  /** RFC 8176: `hwk` for a device-bound key, `swk` for a synced (backed-up) one. */
  key: 'hwk' | 'swk'
  /** A passwordless login's amr: the key, and user verification makes it two factors (`user`, `mfa`). */
  amr: string[]
  /** Records the use with its new counter; false when the counter did not grow (a clone, or a replay that raced this one). */
  consume: (repos: Repositories) => Promise<boolean>
}

export const DEFAULT_PASSKEY_NAME = 'Passkey'

const failed = (detail: string) => new AppError('webauthn_failed', detail)

const summary = (passkey: StoredPasskey): PasskeySummary => ({
  id: passkey.id,
  name: passkey.name,
  createdAt: passkey.createdAt.toISOString(),
  lastUsedAt: passkey.lastUsedAt?.toISOString() ?? null
})

export function createPasskeyService ({ db, sessions, rpId, rpName, origins, challengeTtl }: PasskeyServiceOptions) {
  async function storeChallenge (challenge: string, purpose: ChallengePurpose, userId: string | null): Promise<void> {
    await db.repos.passkeys.createChallenge({ challengeHash: hashToken(challenge), userId, purpose, ttlSeconds: challengeTtl })
  }

  /**
   * The `expectedChallenge` callback: the response's challenge must be one authd handed out
   * for this purpose (and user), unexpired and unused; it is used up here, whatever the rest
   * of the verification says.
   */
  const consumeChallenge = (purpose: ChallengePurpose, userId: string | null) => async (challenge: string): Promise<boolean> =>
    await db.repos.passkeys.consumeChallenge(hashToken(challenge), purpose, userId)

  /** Runs a @simplewebauthn verification; anything it throws (malformed input, a wrong signature…) is webauthn_failed. */
  async function verifying<T> (work: () => Promise<T>): Promise<T> {
    try {
      return await work()
    } catch (error) {
      if (error instanceof AppError) throw error
      throw failed(`The passkey response did not verify: ${(error as Error).message}`)
    }
  }

  return {
    /** Creation options for navigator.credentials.create(): a discoverable credential with user verification. */
    async registrationOptions (user: User): Promise<PublicKeyCredentialCreationOptionsJSON> {
      const existing = await db.repos.passkeys.listByUser(user.id)
      const options = await (await webauthn()).generateRegistrationOptions({
        rpName,
        rpID: rpId,
        userName: user.email,
        // The user's id (not their email) as the user handle: it comes back with each
        // assertion and is checked against the credential's owner.
        userID: new TextEncoder().encode(user.id),
        userDisplayName: user.fullName !== '' ? user.fullName : user.email,
        timeout: challengeTtl * 1000,
        attestationType: 'none',
        // Another passkey on an authenticator that already holds one of this user's is useless.
        excludeCredentials: existing.map((passkey) => ({ id: passkey.credentialId, transports: passkey.transports })),
        authenticatorSelection: { residentKey: 'required', userVerification: 'required' }
      })
      await storeChallenge(options.challenge, 'register', user.id)
      return options
    },

    async register (user: User, input: { name?: string, response: unknown }, meta: ClientMeta): Promise<PasskeySummary> {
      const response = input.response as RegistrationResponseJSON
      const verification = await verifying(async () => await (await webauthn()).verifyRegistrationResponse({
        response,
        expectedChallenge: consumeChallenge('register', user.id),
        expectedOrigin: origins,
        expectedRPID: rpId,
        requireUserVerification: true
      }))
      if (!verification.verified) throw failed('The passkey response did not verify')
      const info = verification.registrationInfo
      return await db.transaction(async (repos) => {
        const created = await repos.passkeys.create({
          id: randomUUID(),
          userId: user.id,
          credentialId: info.credential.id,
          publicKey: info.credential.publicKey,
          counter: info.credential.counter,
          transports: info.credential.transports ?? [],
          deviceType: info.credentialDeviceType,
          backedUp: info.credentialBackedUp,
          name: input.name ?? DEFAULT_PASSKEY_NAME
        })
        if (created === null) throw failed('This passkey is registered already')
        await repos.audit.record({ type: 'passkey_added', userId: user.id, ...meta, detail: { passkeyId: created.id, deviceType: created.deviceType, backedUp: created.backedUp } })
        return summary(created)
      })
    },

    /** The user's passkeys as GET /users/me/mfa lists them. */
    async list (userId: string): Promise<PasskeySummary[]> {
      return (await db.repos.passkeys.listByUser(userId)).map(summary)
    },

    async rename (userId: string, id: string, name: string): Promise<PasskeySummary> {
      const renamed = await db.repos.passkeys.rename(userId, id, name)
      if (renamed === null) throw new AppError('not_found', 'No passkey of yours has this id')
      return summary(renamed)
    },

    /** Removes one of the caller's passkeys. Needs a recent authentication (a stolen session must not strip the owner's keys). */
    async remove (caller: Caller, user: User, id: string, meta: ClientMeta): Promise<void> {
      await sessions.requireRecentAuthentication(caller)
      await db.transaction(async (repos) => {
        const left = await repos.passkeys.delete(user.id, id)
        if (left === null) throw new AppError('not_found', 'No passkey of yours has this id')
        await repos.audit.record({ type: 'passkey_removed', userId: user.id, ...meta, detail: { passkeyId: id, sessionId: caller.sid, left } })
      })
    },

    /** Request options for a passwordless login: no allowCredentials, the authenticator offers its discoverable ones. */
    async authenticationOptions (): Promise<PublicKeyCredentialRequestOptionsJSON> {
      const options = await (await webauthn()).generateAuthenticationOptions({ rpID: rpId, userVerification: 'required', allowCredentials: [], timeout: challengeTtl * 1000 })
      await storeChallenge(options.challenge, 'login', null)
      return options
    },

    /**
     * Checks a passwordless login's assertion: a known credential, whose owner the user handle
     * names, signed over a challenge of ours (used up here) from one of our origins, with the
     * user verified. What it does not check yet is the counter: `consume` does, in the
     * transaction that opens the session.
     */
    async verifyAuthentication (response: unknown): Promise<CheckedAssertion> {
      const assertion = response as AuthenticationResponseJSON
      const passkey = typeof assertion?.id === 'string' ? await db.repos.passkeys.findByCredentialId(assertion.id) : null
      if (passkey === null) throw failed('This passkey is not known here')
      const userHandle = assertion.response?.userHandle
      if (typeof userHandle === 'string' && Buffer.from(userHandle, 'base64url').toString('utf8') !== passkey.userId) throw failed('The passkey does not belong to the account it names')
      const verification = await verifying(async () => await (await webauthn()).verifyAuthenticationResponse({
        response: assertion,
        expectedChallenge: consumeChallenge('login', null),
        expectedOrigin: origins,
        expectedRPID: rpId,
        credential: { id: passkey.credentialId, publicKey: passkey.publicKey, counter: passkey.counter, transports: passkey.transports },
        requireUserVerification: true
      }))
      if (!verification.verified) throw failed('The passkey response did not verify')
      const info = verification.authenticationInfo
      return {
        userId: passkey.userId,
        passkeyId: passkey.id,
        key: info.credentialBackedUp ? 'swk' : 'hwk',
        amr: [info.credentialBackedUp ? 'swk' : 'hwk', 'user', 'mfa'],
        consume: async (repos) => await repos.passkeys.recordUse(passkey.id, info.newCounter)
      }
    }
  }
}

export type PasskeyService = ReturnType<typeof createPasskeyService>

declare module 'fastify' {
  interface FastifyInstance {
    /** Passkeys: registration, management, and the check of a passwordless login. */
    passkeys: PasskeyService
  }
}

/** WEBAUTHN_ORIGINS, or FRONTEND_URL's origin plus CORS_ORIGINS (as the config plugin parsed them once). */
export function webauthnOrigins (config: FastifyInstance['config'], corsOrigins: Iterable<string>): string[] {
  if (config.WEBAUTHN_ORIGINS.trim() !== '') {
    try {
      return allowedOrigins(config.WEBAUTHN_ORIGINS)
    } catch (error) {
      throw new Error(`WEBAUTHN_ORIGINS: ${(error as Error).message.replace(/^CORS_ORIGINS: /, '')}`)
    }
  }
  return [...new Set([new URL(config.FRONTEND_URL).origin, ...corsOrigins])]
}

async function passkeyServicePlugin (app: FastifyInstance): Promise<void> {
  const { config } = app
  const host = new URL(config.FRONTEND_URL).hostname
  app.decorate('passkeys', createPasskeyService({
    db: app.db,
    sessions: app.sessions,
    rpId: config.WEBAUTHN_RP_ID !== '' ? config.WEBAUTHN_RP_ID : host,
    rpName: config.WEBAUTHN_RP_NAME !== '' ? config.WEBAUTHN_RP_NAME : config.MFA_ISSUER !== '' ? config.MFA_ISSUER : host,
    origins: webauthnOrigins(config, app.corsOrigins),
    challengeTtl: config.WEBAUTHN_CHALLENGE_TTL
  }))
}

export default fp(passkeyServicePlugin, { name: 'passkey-service', dependencies: ['config', 'database', 'session-service'] })
