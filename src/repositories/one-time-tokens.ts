// Single-use tokens sent by mail (email verification, password reset, email change). Only a
// hash of each token is stored; a token is usable while it is unused, unexpired, its user
// active and still at the address the mail went to (an email change's went to the new address:
// it is usable while unused, unexpired and its user active). Consuming is one conditional UPDATE … RETURNING, so two
// requests racing with one token cannot both succeed.
import { Prisma } from '../generated/prisma/client.js'
import type { Db } from './users.js'

export type TokenPurpose = 'email_verification' | 'password_reset' | 'email_change'

export interface NewOneTimeToken {
  id: string
  userId: string
  purpose: TokenPurpose
  tokenHash: string
  email: string
  ttlSeconds: number
  /** email_change: the session that asked. */
  sessionId?: string
}

/** A confirmed email change: whose, to which address, from which, asked by which session. */
export interface ConsumedEmailChange {
  tokenId: string
  userId: string
  newEmail: string
  oldEmail: string
  sessionId: string | null
}

/** The user a usable token belongs to, as the policy and the mail need them. */
export interface TokenOwner {
  tokenId: string
  userId: string
  email: string
  username: string | null
  fullName: string
}

export interface LockedUser {
  id: string
  email: string
  emailVerified: boolean
  isActive: boolean
}

/** A token of `purpose` with `hash`, unused, unexpired, of an active user (alias t, users u). */
const live = (purpose: TokenPurpose, tokenHash: string): Prisma.Sql => Prisma.sql`
  t.token_hash = ${tokenHash} AND t.purpose = ${purpose}
  AND t.used_at IS NULL AND t.expires_at > now()
  AND u.id = t.user_id AND u.is_active`

/** Conditions under which such a token may be used: live, and its user still at the address it went to. */
const usable = (purpose: TokenPurpose, tokenHash: string): Prisma.Sql => Prisma.sql`${live(purpose, tokenHash)} AND u.email = t.email`

export function createOneTimeTokenRepository (db: Db) {
  return {
    /**
     * Locks the user's row until the transaction ends and returns its current state. Issuing
     * under this lock serialises concurrent requests for one address, so the per-address
     * throttle below cannot be raced (the next statement sees what the winner committed).
     * Only inside a transaction.
     */
    async lockUser (userId: string): Promise<LockedUser | null> {
      const rows = await db.$queryRaw<Array<{ id: string, email: string, email_verified: boolean, is_active: boolean }>>(Prisma.sql`
        SELECT id::text AS id, email, email_verified, is_active FROM users WHERE id = ${userId}::uuid FOR UPDATE`)
      const row = rows[0]
      return row === undefined ? null : { id: row.id, email: row.email, emailVerified: row.email_verified, isActive: row.is_active }
    },

    /**
     * Stores a token unless one of the same purpose was issued for the user less than
     * `throttleSeconds` ago. True when stored (a mail may be sent), false when throttled.
     */
    async issueUnlessRecent (token: NewOneTimeToken, throttleSeconds: number): Promise<boolean> {
      const rows = await db.$queryRaw<Array<{ id: string }>>(Prisma.sql`
        INSERT INTO one_time_tokens (id, user_id, purpose, token_hash, email, session_id, expires_at)
        SELECT ${token.id}::uuid, ${token.userId}::uuid, ${token.purpose}, ${token.tokenHash}, ${token.email}, ${token.sessionId ?? null}::uuid,
               now() + make_interval(secs => ${token.ttlSeconds})
        WHERE NOT EXISTS (
          SELECT 1 FROM one_time_tokens
          WHERE user_id = ${token.userId}::uuid AND purpose = ${token.purpose}
            AND created_at > now() - make_interval(secs => ${throttleSeconds})
        )
        RETURNING id::text AS id`)
      return rows.length === 1
    },

    /**
     * Deletes the user's tokens that can never be used again (used or expired) once they are
     * older than the throttle window, which still needs them. Called when a new token is
     * issued, so the table keeps only each user's recent tokens without a housekeeping job.
     */
    async deleteSpent (userId: string, throttleSeconds: number): Promise<number> {
      return await db.$executeRaw(Prisma.sql`
        DELETE FROM one_time_tokens
        WHERE user_id = ${userId}::uuid AND (used_at IS NOT NULL OR expires_at < now())
          AND created_at < now() - make_interval(secs => ${throttleSeconds})`)
    },

    /** The owner of a usable token (nothing is changed), or null. */
    async findUsable (purpose: TokenPurpose, tokenHash: string): Promise<TokenOwner | null> {
      const rows = await db.$queryRaw<Array<{ token_id: string, user_id: string, email: string, username: string | null, full_name: string }>>(Prisma.sql`
        SELECT t.id::text AS token_id, u.id::text AS user_id, u.email, u.username, u.full_name
        FROM one_time_tokens t, users u
        WHERE ${usable(purpose, tokenHash)}`)
      const row = rows[0]
      return row === undefined ? null : { tokenId: row.token_id, userId: row.user_id, email: row.email, username: row.username, fullName: row.full_name }
    },

    /**
     * Marks a usable token used and returns whose it was; null when it is not usable (unknown,
     * used, expired, another purpose, user inactive or at another address now). One statement:
     * of two concurrent calls with one token, the second waits for the first's row lock, then
     * finds used_at set and matches nothing.
     */
    async consume (purpose: TokenPurpose, tokenHash: string): Promise<{ tokenId: string, userId: string, email: string } | null> {
      const rows = await db.$queryRaw<Array<{ id: string, user_id: string, email: string }>>(Prisma.sql`
        UPDATE one_time_tokens t SET used_at = now()
        FROM users u
        WHERE ${usable(purpose, tokenHash)}
        RETURNING t.id::text AS id, t.user_id::text AS user_id, t.email`)
      const row = rows[0]
      return row === undefined ? null : { tokenId: row.id, userId: row.user_id, email: row.email }
    },

    /**
     * Marks a live email-change token used and returns the change it asks for (the user's
     * address now is the old one); null when it is not live. One statement, as consume().
     */
    async consumeEmailChange (tokenHash: string): Promise<ConsumedEmailChange | null> {
      const rows = await db.$queryRaw<Array<{ id: string, user_id: string, new_email: string, old_email: string, session_id: string | null }>>(Prisma.sql`
        UPDATE one_time_tokens t SET used_at = now()
        FROM users u
        WHERE ${live('email_change', tokenHash)}
        RETURNING t.id::text AS id, t.user_id::text AS user_id, t.email AS new_email, u.email AS old_email, t.session_id::text AS session_id`)
      const row = rows[0]
      return row === undefined ? null : { tokenId: row.id, userId: row.user_id, newEmail: row.new_email, oldEmail: row.old_email, sessionId: row.session_id }
    },

    /** Ends every unused token of the user, of every purpose (marked used). */
    async invalidateAllForUser (userId: string): Promise<number> {
      const { count } = await db.oneTimeToken.updateMany({ where: { userId, usedAt: null }, data: { usedAt: new Date() } })
      return count
    },

    /** Ends every other unused token of this purpose for the user (marked used). */
    async invalidateOthers (userId: string, purpose: TokenPurpose, exceptTokenId: string): Promise<number> {
      const { count } = await db.oneTimeToken.updateMany({
        where: { userId, purpose, usedAt: null, id: { not: exceptTokenId } },
        data: { usedAt: new Date() }
      })
      return count
    }
  }
}

export type OneTimeTokenRepository = ReturnType<typeof createOneTimeTokenRepository>
