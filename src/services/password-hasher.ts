// Password hashing with the native `bcrypt` package. Its async functions run on libuv's
// thread pool, so hashing never blocks the event loop.
//
// bcrypt reads only the first 72 bytes of its input. To avoid silently truncating long
// passwords we hash SHA-256(password) (hex, 64 bytes) with bcrypt, exactly as Django's
// BCryptSHA256PasswordHasher does; the stored format is the same ("bcrypt_sha256$<bcrypt>"),
// so hashes can move between authd and Django.
import { createHash, randomBytes } from 'node:crypto'
import bcrypt from 'bcrypt'

const PREFIX = 'bcrypt_sha256$'

function prehash (password: string): string {
  return createHash('sha256').update(password, 'utf8').digest('hex')
}

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

export function createPasswordHasher (options: { cost: number }): PasswordHasher {
  const { cost } = options
  let dummy: Promise<string> | undefined
  const dummyHash = async () => (dummy ??= bcrypt.hash(prehash(randomBytes(32).toString('hex')), cost))

  return {
    async warmUp () {
      await dummyHash()
    },
    async hash (password) {
      return PREFIX + await bcrypt.hash(prehash(password), cost)
    },
    async verify (password, stored) {
      if (stored === null || !stored.startsWith(PREFIX)) {
        await bcrypt.compare(prehash(password), await dummyHash())
        return { ok: false, needsRehash: false }
      }
      const inner = stored.slice(PREFIX.length)
      const ok = await bcrypt.compare(prehash(password), inner)
      return { ok, needsRehash: ok && bcrypt.getRounds(inner) !== cost }
    }
  }
}
