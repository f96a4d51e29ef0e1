// Password hashing with the native `bcrypt` package. Its async functions run on libuv's
// thread pool, so hashing never blocks the event loop.
//
// That pool (UV_THREADPOOL_SIZE threads, 4 by default) also runs access-token signing
// (keys/jws-sign.ts) and file I/O. Unbounded, a login storm queues hundreds of bcrypt jobs of
// ~0.25 s each ahead of every signature, and a refresh waited seconds for its access token (measured:
// refresh p99 4.6 s during 50 concurrent logins). So at most `bcryptConcurrency()` hashes run at
// once: no more than there are cores (more would not hash faster) and always one pool thread
// left free. The limit applies to every hash, the dummy one for unknown users included, so
// both cases still cost the same time.
//
// bcrypt reads only the first 72 bytes of its input. To avoid silently truncating long
// passwords we hash SHA-256(password) (hex, 64 bytes) with bcrypt, exactly as Django's
// BCryptSHA256PasswordHasher does; the stored format is the same ("bcrypt_sha256$<bcrypt>"),
// so hashes can move between authd and Django.
import { createHash, randomBytes } from 'node:crypto'
import { availableParallelism } from 'node:os'
import bcrypt from 'bcrypt'
import pLimit from 'p-limit'

const PREFIX = 'bcrypt_sha256$'

function prehash (password: string): string {
  return createHash('sha256').update(password, 'utf8').digest('hex')
}

/**
 * A password hash no password matches (Django's `make_password(None)`: `!` + random): the stored
 * hash of an account created through an identity provider, which has no password until the user
 * sets one through the reset flow. `verify` treats it as it treats an unknown user (the dummy
 * hash path), so a login to such an account fails exactly like a wrong password, in the same time.
 */
export const unusablePasswordHash = (): string => `!${randomBytes(30).toString('base64url')}`

/** Whether a stored hash can ever match a password (false for `unusablePasswordHash()`'s). */
export const hasUsablePassword = (stored: string): boolean => stored.startsWith(PREFIX)

export interface PasswordCheck {
  ok: boolean
  /** The hash was made with another cost than the configured one: store a fresh hash. */
  needsRehash: boolean
}

export interface PasswordHasher {
  hash (password: string): Promise<string>
  /**
   * Compares a password with a stored hash. With no stored hash (unknown user) it still does
   * the same bcrypt work against a dummy hash, so the two cases cost the same time.
   */
  verify (password: string, stored: string | null): Promise<PasswordCheck>
  /** Makes the dummy hash now, so the first unknown-user login is not slower than the rest. */
  warmUp (): Promise<void>
}

/** Hashes that may run at once: min(cores, thread-pool size − 1), at least 1. */
export function bcryptConcurrency (env: NodeJS.ProcessEnv = process.env, cores: number = availableParallelism()): number {
  const configured = Number.parseInt(env.UV_THREADPOOL_SIZE ?? '', 10)
  // libuv's default is 4 threads; it caps the variable at 1024.
  const poolSize = Number.isInteger(configured) && configured > 0 ? Math.min(configured, 1024) : 4
  return Math.max(1, Math.min(cores, poolSize - 1))
}

export function createPasswordHasher (options: { cost: number, concurrency?: number }): PasswordHasher {
  const { cost } = options
  const limit = pLimit(options.concurrency ?? bcryptConcurrency())
  const hashGated = async (input: string) => await limit(async () => await bcrypt.hash(input, cost))
  const compareGated = async (input: string, hash: string) => await limit(async () => await bcrypt.compare(input, hash))
  let dummy: Promise<string> | undefined
  const dummyHash = async () => (dummy ??= hashGated(prehash(randomBytes(32).toString('hex'))))

  return {
    async warmUp () {
      await dummyHash()
    },
    async hash (password) {
      return PREFIX + await hashGated(prehash(password))
    },
    async verify (password, stored) {
      if (stored === null || !hasUsablePassword(stored)) {
        await compareGated(prehash(password), await dummyHash())
        return { ok: false, needsRehash: false }
      }
      const inner = stored.slice(PREFIX.length)
      const ok = await compareGated(prehash(password), inner)
      return { ok, needsRehash: ok && bcrypt.getRounds(inner) !== cost }
    }
  }
}
