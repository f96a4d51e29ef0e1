// Passkeys (WebAuthn credentials) and the challenges of their registration and login. The
// rules that must hold under concurrency are each one conditional statement: a challenge is
// consumed once (DELETE … RETURNING, unexpired only), a signature counter only grows (the
// UPDATE's WHERE), and a rename or delete touches only the caller's own passkey.
import { Prisma } from '../generated/prisma/client.js'
import type { Db } from './users.js'

export type ChallengePurpose = 'register' | 'login'

export interface NewPasskey {
  id: string
  userId: string
  credentialId: string
  publicKey: Uint8Array<ArrayBuffer>
  counter: number
  transports: string[]
  deviceType: string
  backedUp: boolean
  name: string
}

export interface StoredPasskey extends NewPasskey {
  createdAt: Date
  lastUsedAt: Date | null
}

interface Row {
  id: string
  user_id: string
  credential_id: string
  public_key: string
  counter: bigint
  transports: string[]
  device_type: string
  backed_up: boolean
  name: string
  created_at: Date
  last_used_at: Date | null
}

// The key travels as base64 text both ways: the PGlite and pg drivers disagree on how a
// bytea parameter or result looks, and text means the same to both.
const COLUMNS = Prisma.sql`id::text, user_id::text, credential_id, encode(public_key, 'base64') AS public_key, counter, transports,
  device_type, backed_up, name, created_at, last_used_at`

const toPasskey = (row: Row): StoredPasskey => ({
  id: row.id,
  userId: row.user_id,
  credentialId: row.credential_id,
  publicKey: new Uint8Array(Buffer.from(row.public_key, 'base64')),
  counter: Number(row.counter),
  transports: row.transports,
  deviceType: row.device_type,
  backedUp: row.backed_up,
  name: row.name,
  createdAt: row.created_at,
  lastUsedAt: row.last_used_at
})

export function createPasskeyRepository (db: Db) {
  return {
    /** Null when the credential id is registered already (to anyone). */
    async create (passkey: NewPasskey): Promise<StoredPasskey | null> {
      const rows = await db.$queryRaw<Row[]>(Prisma.sql`
        INSERT INTO passkeys (id, user_id, credential_id, public_key, counter, transports, device_type, backed_up, name, created_at)
        VALUES (${passkey.id}::uuid, ${passkey.userId}::uuid, ${passkey.credentialId}, decode(${Buffer.from(passkey.publicKey).toString('base64')}, 'base64'),
          ${passkey.counter}::bigint, ${passkey.transports}::text[], ${passkey.deviceType}, ${passkey.backedUp}, ${passkey.name}, now())
        ON CONFLICT (credential_id) DO NOTHING
        RETURNING ${COLUMNS}`)
      return rows[0] === undefined ? null : toPasskey(rows[0])
    },

    async listByUser (userId: string): Promise<StoredPasskey[]> {
      const rows = await db.$queryRaw<Row[]>(Prisma.sql`SELECT ${COLUMNS} FROM passkeys WHERE user_id = ${userId}::uuid ORDER BY created_at, id`)
      return rows.map(toPasskey)
    },

    async findByCredentialId (credentialId: string): Promise<StoredPasskey | null> {
      const rows = await db.$queryRaw<Row[]>(Prisma.sql`SELECT ${COLUMNS} FROM passkeys WHERE credential_id = ${credentialId}`)
      return rows[0] === undefined ? null : toPasskey(rows[0])
    },

    /** Renames the user's own passkey; null when no passkey of theirs has this id. */
    async rename (userId: string, id: string, name: string): Promise<StoredPasskey | null> {
      const rows = await db.$queryRaw<Row[]>(Prisma.sql`
        UPDATE passkeys SET name = ${name} WHERE id = ${id}::uuid AND user_id = ${userId}::uuid RETURNING ${COLUMNS}`)
      return rows[0] === undefined ? null : toPasskey(rows[0])
    },

    /** Every passkey of the user (an admin's factor reset); how many there were. */
    async deleteAllOfUser (userId: string): Promise<number> {
      const { count } = await db.passkey.deleteMany({ where: { userId } })
      return count
    },

    /** Deletes the user's own passkey: how many they have left, or null when none of theirs has this id. */
    async delete (userId: string, id: string): Promise<number | null> {
      const rows = await db.$queryRaw<Array<{ left: number }>>(Prisma.sql`
        WITH gone AS (DELETE FROM passkeys WHERE id = ${id}::uuid AND user_id = ${userId}::uuid RETURNING id)
        SELECT (SELECT count(*) FROM passkeys WHERE user_id = ${userId}::uuid AND id NOT IN (SELECT id FROM gone))::int AS left
        WHERE EXISTS (SELECT 1 FROM gone)`)
      return rows[0]?.left ?? null
    },

    /**
     * Records a use with the authenticator's new signature counter, only when it grew (or both
     * are 0: an authenticator that keeps no counter). A counter that did not grow means two
     * authenticators hold one key (a clone, WebAuthn §6.1.1), or a replay that raced this one:
     * false, and the assertion is refused.
     */
    async recordUse (id: string, newCounter: number): Promise<boolean> {
      const count = await db.$executeRaw(Prisma.sql`
        UPDATE passkeys SET counter = ${newCounter}::bigint, last_used_at = now()
        WHERE id = ${id}::uuid AND (counter < ${newCounter}::bigint OR (${newCounter}::bigint = 0 AND counter = 0))`)
      return count === 1
    },

    /**
     * Stores a challenge, and deletes a few expired ones on the way: the login options are
     * asked for without an account, so unanswered challenges must not pile up, and sweeping a
     * bounded batch with each insert keeps the table near the number of live ones.
     */
    async createChallenge (challenge: { challengeHash: string, userId: string | null, purpose: ChallengePurpose, ttlSeconds: number }): Promise<void> {
      await db.$executeRaw(Prisma.sql`
        WITH swept AS (
          DELETE FROM webauthn_challenges WHERE challenge_hash IN (
            SELECT challenge_hash FROM webauthn_challenges WHERE expires_at < now() LIMIT 10 FOR UPDATE SKIP LOCKED)
        )
        INSERT INTO webauthn_challenges (challenge_hash, user_id, purpose, expires_at, created_at)
        VALUES (${challenge.challengeHash}, ${challenge.userId}::uuid, ${challenge.purpose},
          now() + make_interval(secs => ${challenge.ttlSeconds}::float8), now())`)
    },

    /**
     * Uses a challenge up: found (and gone) only when it exists, is of this purpose (and this
     * user, for a registration) and has not expired. One DELETE, so it answers one request.
     */
    async consumeChallenge (challengeHash: string, purpose: ChallengePurpose, userId: string | null): Promise<boolean> {
      const rows = await db.$queryRaw<Array<{ challenge_hash: string }>>(Prisma.sql`
        DELETE FROM webauthn_challenges
        WHERE challenge_hash = ${challengeHash} AND purpose = ${purpose} AND expires_at > now()
          AND user_id IS NOT DISTINCT FROM ${userId}::uuid
        RETURNING challenge_hash`)
      return rows.length === 1
    }
  }
}

export type PasskeyRepository = ReturnType<typeof createPasskeyRepository>
