// The `mfa` service: the second factor of an account (TOTP, RFC 6238, with recovery codes) —
// enrolment, status, disabling, new recovery codes — and the one check of a second-factor
// proof that login, re-authentication and enrolment share.
//
// Secrets at rest: the TOTP secret is sealed (AES-256-GCM, secret-box.ts) with the MFA key
// (MFA_ENCRYPTION_KEY, or derived from the refresh secret), bound to its user; recovery codes
// are kept as keyed hashes (recovery-codes.ts). Single use: a TOTP time step is accepted once
// and a recovery code used once, each by one conditional statement (repositories/mfa.ts), so
// two requests with one code cannot both pass.
import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { AppError } from '../errors.js'
import type { Factors } from '../repositories/mfa.js'
import type { Repositories, UnitOfWork } from '../repositories/unit-of-work.js'
import type { User } from '../repositories/users.js'
import type { ClientMeta } from './client-meta.js'
import { RECOVERY_CODE_COUNT, hashRecoveryCode, newRecoveryCodes, normalizeRecoveryCode } from './recovery-codes.js'
import { createSecretBox } from './secret-box.js'
import type { CheckedAssertion, PasskeyService, PasskeySummary } from './passkey-service.js'
import type { Caller, SessionService } from './session-service.js'
import { newTotpSecret, totpUri, verifyTotp } from './totp.js'

/** A second-factor proof, as the login and re-authentication bodies carry it. */
export type FactorProof = { code: string } | { recoveryCode: string } | { webauthn: unknown }

/** Which proof a body carries (for audit events and field errors). */
export const proofMethod = (proof: FactorProof): CheckedProof['method'] => 'code' in proof ? 'totp' : 'recoveryCode' in proof ? 'recovery_code' : 'webauthn'

/** The answer to a wrong proof: its field named, or webauthn_failed for a passkey's. */
export function proofInvalid (proof: FactorProof): AppError {
  if ('webauthn' in proof) return new AppError('webauthn_failed', 'The passkey response does not verify for this account')
  return codeInvalid('code' in proof ? 'code' : 'recoveryCode')
}

/** RFC 8176 amr of a session whose user gave a password and a one-time code (TOTP or recovery code). */
export const AMR_PASSWORD_AND_OTP = ['pwd', 'otp', 'mfa']

/**
 * The amr of a login completed by a second factor: the first step's (`pwd`, or `email` for a
 * mailed code) and the second factor's, from `amr` as check() gives it for a password login.
 */
export function afterFirstFactor (firstAmr: string[], amr: string[]): string[] {
  return [...firstAmr, ...amr.filter((value) => value !== 'pwd' && !firstAmr.includes(value))]
}

/** A proof that checked out and what using it up takes (inside the caller's transaction). */
export interface CheckedProof {
  method: 'totp' | 'recovery_code' | 'webauthn'
  /** RFC 8176 amr of a session whose user gave a password and this proof. */
  amr: string[]
  /** Uses the code up; false when it was used meanwhile (a replay). `left`: recovery codes remaining. */
  consume: (repos: Repositories) => Promise<{ ok: boolean, left?: number }>
}

export interface MfaServiceOptions {
  db: UnitOfWork
  sessions: SessionService
  /** Passkeys, as a second factor (their assertions are checked there). */
  passkeys: PasskeyService
  /** The MFA key (32 bytes): seals TOTP secrets, keys recovery-code hashes. */
  key: Buffer
  /** The name authenticator apps show (MFA_ISSUER, or the frontend's host). */
  issuer: string
}

const notPending = () => new AppError('mfa_not_pending', 'There is no TOTP enrolment to confirm: start one with POST /v1/users/me/mfa/totp')

const codeInvalid = (field: string) => new AppError('mfa_invalid', 'The code is not valid (wrong, expired or already used)', {
  errors: [{ field, code: 'mfa_invalid', message: 'is not valid' }]
})

export function createMfaService ({ db, sessions, passkeys, key, issuer }: MfaServiceOptions) {
  const box = createSecretBox(key)

  /** New recovery codes for the user (replacing any), in the caller's transaction; the codes in clear, once. */
  async function issueRecoveryCodes (repos: Repositories, userId: string): Promise<string[]> {
    const codes = newRecoveryCodes(RECOVERY_CODE_COUNT)
    await repos.mfa.replaceRecoveryCodes(userId, codes.map(() => randomUUID()), codes.map((code) => hashRecoveryCode(key, normalizeRecoveryCode(code) ?? code)))
    return codes
  }

  const service = {
    async factors (userId: string): Promise<Factors> {
      return await db.repos.mfa.factors(userId)
    },

    /**
     * Checks a proof against the user's factor without writing anything: null when it is
     * wrong; else what using it up takes. A TOTP code matches the current step or one either
     * side (clock skew); a recovery code must be one of the user's, unused.
     */
    async check (userId: string, proof: FactorProof): Promise<CheckedProof | null> {
      if ('webauthn' in proof) {
        // A passkey of this very user, verified (challenge, origin, user verification); its
        // counter is recorded on use. Any other account's passkey is a wrong proof here.
        let assertion: CheckedAssertion
        try {
          assertion = await passkeys.verifyAuthentication(proof.webauthn)
        } catch (error) {
          if (error instanceof AppError && error.code === 'webauthn_failed') return null
          throw error
        }
        if (assertion.userId !== userId) return null
        return { method: 'webauthn', amr: ['pwd', assertion.key, 'mfa'], consume: async (repos) => ({ ok: await assertion.consume(repos) }) }
      }
      if ('code' in proof) {
        const totp = await db.repos.mfa.findTotp(userId)
        if (totp === null || !totp.confirmed) return null
        const step = verifyTotp(box.open(totp.secretSealed, userId), proof.code)
        if (step === null) return null
        return { method: 'totp', amr: AMR_PASSWORD_AND_OTP, consume: async (repos) => ({ ok: await repos.mfa.useTotpStep(userId, step) }) }
      }
      const normalized = normalizeRecoveryCode(proof.recoveryCode)
      if (normalized === null) return null
      const codeHash = hashRecoveryCode(key, normalized)
      return {
        method: 'recovery_code',
        amr: AMR_PASSWORD_AND_OTP,
        consume: async (repos) => {
          const left = await repos.mfa.useRecoveryCode(userId, codeHash)
          return left === null ? { ok: false } : { ok: true, left }
        }
      }
    },

    /** GET /users/me/mfa: the TOTP factor, and the passkeys (which log in on their own, see passkey-service.ts). */
    async status (user: User): Promise<{ totp: boolean, recoveryCodesLeft: number, passkeys: PasskeySummary[] }> {
      const [factors, list] = await Promise.all([db.repos.mfa.factors(user.id), passkeys.list(user.id)])
      return { totp: factors.totp, recoveryCodesLeft: factors.totp ? factors.recoveryCodesLeft : 0, passkeys: list }
    },

    /** Starts (or restarts) enrolment: a new secret, not active until confirmed. 409 when TOTP is on. */
    async startTotp (user: User): Promise<{ secret: string, otpauthUri: string }> {
      const secret = newTotpSecret()
      if (!await db.repos.mfa.startTotp(user.id, box.seal(secret, user.id))) {
        throw new AppError('mfa_already_enabled', 'TOTP is already on for this account; disable it first to enrol another authenticator')
      }
      return { secret, otpauthUri: totpUri({ secret, accountName: user.email, issuer }) }
    },

    /**
     * The time step a first code from the authenticator matches for the pending (unconfirmed)
     * factor: null when the code is wrong; 409 mfa_not_pending without a pending factor.
     */
    async checkPending (userId: string, code: string): Promise<number | null> {
      const totp = await db.repos.mfa.findTotp(userId)
      if (totp === null || totp.confirmed) throw notPending()
      return verifyTotp(box.open(totp.secretSealed, userId), code)
    },

    /**
     * Inside the caller's transaction: activates the pending factor with the step of its first
     * code and issues the recovery codes (to show this once). 409 mfa_not_pending when another
     * request confirmed it meanwhile.
     */
    async enrol (repos: Repositories, userId: string, step: number, meta: ClientMeta, sessionId: string | null): Promise<string[]> {
      if (!await repos.mfa.confirmTotp(userId, step)) throw notPending()
      const recoveryCodes = await issueRecoveryCodes(repos, userId)
      await repos.audit.record({ type: 'mfa_enabled', userId, ...meta, detail: { method: 'totp', sessionId, recoveryCodes: recoveryCodes.length } })
      return recoveryCodes
    },

    /**
     * Activates the pending factor with a first code from the authenticator, and hands out the
     * recovery codes (shown this once). The caller's session has now proved both factors: its
     * amr and auth_time say so from its next access token on.
     */
    async confirmTotp (caller: Caller, user: User, code: string, meta: ClientMeta): Promise<{ recoveryCodes: string[] }> {
      const step = await service.checkPending(user.id, code)
      if (step === null) throw codeInvalid('code')
      return await db.transaction(async (repos) => {
        const recoveryCodes = await service.enrol(repos, user.id, step, meta, caller.sid)
        await repos.sessions.reauthenticated(caller.sid, AMR_PASSWORD_AND_OTP)
        return { recoveryCodes }
      })
    },

    /** Turns the second factor off (TOTP and recovery codes). Needs a recent authentication. */
    async disableTotp (caller: Caller, user: User, meta: ClientMeta): Promise<void> {
      await sessions.requireRecentAuthentication(caller)
      const removed = await db.transaction(async (repos) => {
        const had = await repos.mfa.removeAll(user.id)
        if (had) await repos.audit.record({ type: 'mfa_disabled', userId: user.id, ...meta, detail: { method: 'totp', sessionId: caller.sid } })
        return had
      })
      if (!removed) throw new AppError('not_found', 'TOTP is not on for this account')
    },

    /** New recovery codes (the old ones stop working). Needs TOTP on and a recent authentication. */
    async regenerateRecoveryCodes (caller: Caller, user: User, meta: ClientMeta): Promise<{ recoveryCodes: string[] }> {
      await sessions.requireRecentAuthentication(caller)
      if (!(await db.repos.mfa.factors(user.id)).totp) throw new AppError('not_found', 'TOTP is not on for this account: recovery codes come with it')
      return await db.transaction(async (repos) => {
        const recoveryCodes = await issueRecoveryCodes(repos, user.id)
        await repos.audit.record({ type: 'recovery_codes_regenerated', userId: user.id, ...meta, detail: { sessionId: caller.sid, recoveryCodes: recoveryCodes.length } })
        return { recoveryCodes }
      })
    }
  }
  return service
}

export type MfaService = ReturnType<typeof createMfaService>

declare module 'fastify' {
  interface FastifyInstance {
    /** The second factor: enrolment, status, and the check login and re-authentication share. */
    mfa: MfaService
  }
}

async function mfaServicePlugin (app: FastifyInstance): Promise<void> {
  // The host name without its port: authenticator apps split their label at the first ':'.
  const issuer = app.config.MFA_ISSUER !== '' ? app.config.MFA_ISSUER : new URL(app.config.FRONTEND_URL).hostname
  app.decorate('mfa', createMfaService({ db: app.db, sessions: app.sessions, passkeys: app.passkeys, key: app.mfaKey, issuer }))
}

export default fp(mfaServicePlugin, { name: 'mfa-service', dependencies: ['config', 'database', 'tokens', 'session-service', 'passkey-service'] })
