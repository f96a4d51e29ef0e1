// Second factors: the TOTP factor, recovery codes, and the challenges of logins waiting for
// their second factor (the mfaToken). Every rule that must hold under concurrency is one
// conditional statement: a TOTP time step is accepted once (last_used_step only grows), a
// recovery code is used once (used_at), an mfaToken completes one login (used_at) and dies
// after its attempts.
import { Prisma } from '../generated/prisma/client.js'
import type { Db } from './users.js'

/** What a user has enrolled: what the login reply's `methods` and GET /users/me/mfa say. */
export interface Factors {
  /** A confirmed TOTP factor. */
  totp: boolean
  recoveryCodesLeft: number
  /** Registered passkeys (each can also be the second step of a password login). */
  passkeys: number
}

export interface TotpFactor {
  secretSealed: string
  confirmed: boolean
}

/** verify: prove the factor the user has; enroll: MFA_REQUIRED_ROLES, enrol one to log in. */
export type ChallengePurpose = 'verify' | 'enroll'

export interface NewChallenge {
  purpose: ChallengePurpose
  tokenHash: string
  userId: string
  lockoutKey: string
  passwordFingerprint: string
  /** RFC 8176 amr of the login's first step (`pwd`, `email` for a mailed code, `fed` for an identity provider). */
  firstAmr: string[]
  ttlSeconds: number
}

export interface Challenge {
  purpose: ChallengePurpose
  userId: string
  lockoutKey: string
  passwordFingerprint: string
  firstAmr: string[]
}

export function createMfaRepository (db: Db) {
  return {
    async factors (userId: string): Promise<Factors> {
      const rows = await db.$queryRaw<Array<{ totp: boolean, left: number, passkeys: number }>>(Prisma.sql`
        SELECT EXISTS (SELECT 1 FROM mfa_totp WHERE user_id = ${userId}::uuid AND confirmed_at IS NOT NULL) AS totp,
               (SELECT count(*) FROM mfa_recovery_codes WHERE user_id = ${userId}::uuid AND used_at IS NULL)::int AS left,
               (SELECT count(*) FROM passkeys WHERE user_id = ${userId}::uuid)::int AS passkeys`)
      const row = rows[0]
      return { totp: row?.totp ?? false, recoveryCodesLeft: row?.left ?? 0, passkeys: row?.passkeys ?? 0 }
    },

    async findTotp (userId: string): Promise<TotpFactor | null> {
      const row = await db.mfaTotp.findUnique({ where: { userId }, select: { secretEncrypted: true, confirmedAt: true } })
      return row === null ? null : { secretSealed: row.secretEncrypted, confirmed: row.confirmedAt !== null }
    },

    /**
     * A new, unconfirmed secret for the user, replacing an earlier unconfirmed one; nothing
     * when a confirmed factor exists (false: disable it first).
     */
    async startTotp (userId: string, secretSealed: string): Promise<boolean> {
      const rows = await db.$queryRaw<Array<{ user_id: string }>>(Prisma.sql`
        INSERT INTO mfa_totp (user_id, secret_encrypted, confirmed_at, last_used_step, created_at)
        VALUES (${userId}::uuid, ${secretSealed}, NULL, NULL, now())
        ON CONFLICT (user_id) DO UPDATE SET secret_encrypted = EXCLUDED.secret_encrypted, last_used_step = NULL, created_at = now()
          WHERE mfa_totp.confirmed_at IS NULL
        RETURNING user_id::text`)
      return rows.length === 1
    },

    /** Activates a pending factor with the step of its first code. False: none pending (or confirmed already). */
    async confirmTotp (userId: string, step: number): Promise<boolean> {
      const { count } = await db.mfaTotp.updateMany({
        where: { userId, confirmedAt: null },
        data: { confirmedAt: new Date(), lastUsedStep: BigInt(step) }
      })
      return count === 1
    },

    /**
     * Accepts a code of time step `step` once: only when no code of this step or a later one
     * was accepted before (a replayed or older code matches no row). One UPDATE, so two
     * requests with the same code cannot both pass.
     */
    async useTotpStep (userId: string, step: number): Promise<boolean> {
      const count = await db.$executeRaw(Prisma.sql`
        UPDATE mfa_totp SET last_used_step = ${step}::bigint
        WHERE user_id = ${userId}::uuid AND confirmed_at IS NOT NULL
          AND (last_used_step IS NULL OR last_used_step < ${step}::bigint)`)
      return count === 1
    },

    /** Removes the TOTP factor and every recovery code. True when there was a factor. */
    async removeAll (userId: string): Promise<boolean> {
      const removed = await db.mfaTotp.deleteMany({ where: { userId } })
      await db.mfaRecoveryCode.deleteMany({ where: { userId } })
      return removed.count > 0
    },

    /** The user's recovery codes become exactly these (the old ones stop working). */
    async replaceRecoveryCodes (userId: string, ids: string[], hashes: string[]): Promise<void> {
      await db.mfaRecoveryCode.deleteMany({ where: { userId } })
      await db.mfaRecoveryCode.createMany({ data: hashes.map((codeHash, i) => ({ id: ids[i] ?? '', userId, codeHash })) })
    },

    /** Uses a recovery code once; how many remain, or null when it is unknown or used. */
    async useRecoveryCode (userId: string, codeHash: string): Promise<number | null> {
      const rows = await db.$queryRaw<Array<{ left: number }>>(Prisma.sql`
        WITH used AS (
          UPDATE mfa_recovery_codes SET used_at = now()
          WHERE user_id = ${userId}::uuid AND code_hash = ${codeHash} AND used_at IS NULL
          RETURNING id
        )
        SELECT (SELECT count(*) FROM mfa_recovery_codes
                WHERE user_id = ${userId}::uuid AND used_at IS NULL AND id NOT IN (SELECT id FROM used))::int AS left
        WHERE EXISTS (SELECT 1 FROM used)`)
      return rows[0]?.left ?? null
    },

    async createChallenge (challenge: NewChallenge): Promise<void> {
      await db.$executeRaw(Prisma.sql`
        INSERT INTO mfa_challenges (token_hash, user_id, lockout_key, password_fingerprint, purpose, first_amr, attempts, expires_at, created_at)
        VALUES (${challenge.tokenHash}, ${challenge.userId}::uuid, ${challenge.lockoutKey}, ${challenge.passwordFingerprint}, ${challenge.purpose}, ${challenge.firstAmr}::text[], 0,
          now() + make_interval(secs => ${challenge.ttlSeconds}::float8), now())`)
    },

    /** The challenge while it can still complete a login: unused, unexpired, under `maxAttempts` wrong codes. */
    async findChallenge (tokenHash: string, maxAttempts: number): Promise<Challenge | null> {
      const rows = await db.$queryRaw<Array<{ user_id: string, lockout_key: string, password_fingerprint: string, purpose: string, first_amr: string[] }>>(Prisma.sql`
        SELECT user_id::text, lockout_key, password_fingerprint, purpose, first_amr FROM mfa_challenges
        WHERE token_hash = ${tokenHash} AND used_at IS NULL AND expires_at > now() AND attempts < ${maxAttempts}`)
      const row = rows[0]
      return row === undefined ? null : { purpose: row.purpose === 'enroll' ? 'enroll' : 'verify', userId: row.user_id, lockoutKey: row.lockout_key, passwordFingerprint: row.password_fingerprint, firstAmr: row.first_amr }
    },

    /** Marks the challenge used, under the same conditions as findChallenge. False: another request won. */
    async consumeChallenge (tokenHash: string, maxAttempts: number): Promise<boolean> {
      const count = await db.$executeRaw(Prisma.sql`
        UPDATE mfa_challenges SET used_at = now()
        WHERE token_hash = ${tokenHash} AND used_at IS NULL AND expires_at > now() AND attempts < ${maxAttempts}`)
      return count === 1
    },

    /** Counts a wrong code against the challenge. */
    async failChallenge (tokenHash: string): Promise<void> {
      await db.$executeRaw(Prisma.sql`UPDATE mfa_challenges SET attempts = attempts + 1 WHERE token_hash = ${tokenHash} AND used_at IS NULL`)
    }
  }
}

export type MfaRepository = ReturnType<typeof createMfaRepository>
