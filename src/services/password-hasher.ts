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
//
// Accounts imported from Django (`authd import django`) keep the hash Django wrote, in any of
// the formats Django ships (djangoVerifiers below). Such a hash is checked here, with the same
// concurrency limit (node:crypto's pbkdf2/scrypt, bcrypt and @node-rs/argon2 all run on the
// libuv thread pool, never on the event loop), compared in constant time, and reported as
// needing a rehash: the login that proves the password stores authd's format in its
// conditional UPDATE (users.recordLogin), so each imported user is converted at their first login.
import { createHash, pbkdf2, randomBytes, scrypt, timingSafeEqual, type BinaryLike, type ScryptOptions } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { promisify } from 'node:util'
import bcrypt from 'bcrypt'
import pLimit from 'p-limit'

const PREFIX = 'bcrypt_sha256$'

const pbkdf2Async = promisify(pbkdf2)
const scryptAsync = promisify(scrypt) as (password: BinaryLike, salt: BinaryLike, keylen: number, options: ScryptOptions) => Promise<Buffer>

/**
 * Bounds on the work factors read from an imported hash: a hash is data from another system,
 * and a typo (or a hostile row) must not make one login take minutes or gigabytes. Django
 * 5.2 writes 1,000,000 PBKDF2 iterations, argon2 with 100 MiB, scrypt with 16 MiB.
 */
const MAX_PBKDF2_ITERATIONS = 10_000_000
const MAX_MEMORY_BYTES = 1024 * 1024 * 1024

/** base64 → bytes, or null when it is not base64 (Node's decoder skips bad characters silently). */
function base64Bytes (text: string): Buffer | null {
  return /^[A-Za-z0-9+/]+={0,2}$/.test(text) ? Buffer.from(text, 'base64') : null
}

const sameBytes = (a: Buffer, b: Buffer): boolean => a.length === b.length && timingSafeEqual(a, b)

const positiveInt = (text: string | undefined, max: number): number | null => {
  if (text === undefined || !/^[1-9][0-9]{0,9}$/.test(text)) return null
  const n = Number(text)
  return n <= max ? n : null
}

/** `pbkdf2_<digest>$<iterations>$<salt>$<base64 key>`, the key as long as the digest (Django's dklen=None). */
const pbkdf2Verifier = (digest: 'sha256' | 'sha1', keyLength: number) => async (password: string, encoded: string): Promise<boolean> => {
  const [, iterationsText, salt, hash, ...rest] = encoded.split('$')
  const iterations = positiveInt(iterationsText, MAX_PBKDF2_ITERATIONS)
  const expected = base64Bytes(hash ?? '')
  if (iterations === null || salt === undefined || salt === '' || expected === null || expected.length !== keyLength || rest.length > 0) return false
  return sameBytes(await pbkdf2Async(password, salt, iterations, keyLength, digest), expected)
}

/**
 * What Django's hashers write, by the algorithm name before the first `$`; each resolves to
 * whether the password matches (false for a malformed hash). bcrypt_sha256 is authd's own
 * format, checked by the hasher itself (it also reports a cost change).
 */
const djangoVerifiers: Record<string, (password: string, encoded: string) => Promise<boolean>> = {
  pbkdf2_sha256: pbkdf2Verifier('sha256', 32),
  pbkdf2_sha1: pbkdf2Verifier('sha1', 20),
  // `bcrypt$<bcrypt hash>`: the password itself, so only its first 72 bytes count (as in Django).
  bcrypt: async (password, encoded) => {
    const inner = encoded.slice('bcrypt$'.length)
    return /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/.test(inner) && await bcrypt.compare(password, inner)
  },
  // `argon2$argon2id$v=19$m=…,t=…,p=…$salt$hash` (argon2i before Django 3.2): argon2-cffi's
  // encoding behind the name; @node-rs/argon2 compares in constant time.
  argon2: async (password, encoded) => {
    const phc = encoded.slice('argon2'.length)
    const memoryKiB = positiveInt(/\$m=(\d+),/.exec(phc)?.[1], MAX_MEMORY_BYTES / 1024)
    if (!/^\$argon2(id|i)\$v=19\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/.test(phc) || memoryKiB === null) return false
    // Loaded at the first imported argon2 hash: a native addon only Django imports need (issue 18).
    const { verify: argon2Verify } = await import('@node-rs/argon2')
    try {
      return await argon2Verify(phc, password)
    } catch {
      return false
    }
  },
  // `scrypt$<N>$<salt>$<r>$<p>$<base64 64-byte key>` (Django 4.0+).
  scrypt: async (password, encoded) => {
    const [, nText, salt, rText, pText, hash, ...rest] = encoded.split('$')
    const [N, r, p] = [positiveInt(nText, 2 ** 24), positiveInt(rText, 64), positiveInt(pText, 64)]
    const expected = base64Bytes(hash ?? '')
    if (N === null || r === null || p === null || (N & (N - 1)) !== 0 || salt === undefined || salt === '' || expected === null || expected.length !== 64 || rest.length > 0) return false
    const memory = 128 * N * r * p
    if (memory > MAX_MEMORY_BYTES) return false
    return sameBytes(await scryptAsync(password, salt, 64, { N, r, p, maxmem: memory + 1024 * 1024 }), expected)
  }
}

/** The hasher of a stored hash: the name before its first `$` (bcrypt_sha256, pbkdf2_sha256, …). */
const algorithmOf = (stored: string): string => stored.slice(0, Math.max(0, stored.indexOf('$')))

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

/** Whether a stored hash is in the format authd writes (anything else is imported, or no password). */
export const hasAuthdFormat = (stored: string): boolean => stored.startsWith(PREFIX)

/**
 * Whether a stored hash can ever match a password: authd's format or one of Django's
 * (false for `unusablePasswordHash()`'s, Django's `!…` and anything unknown).
 */
export const hasUsablePassword = (stored: string): boolean => hasAuthdFormat(stored) || Object.hasOwn(djangoVerifiers, algorithmOf(stored))

export interface PasswordCheck {
  ok: boolean
  /** The hash is in another format (an imported one) or of another cost than the configured one: store a fresh hash. */
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
  const djangoGated = async (password: string, stored: string, verifier: (password: string, encoded: string) => Promise<boolean>) => await limit(async () => await verifier(password, stored))
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
      if (stored !== null && !hasAuthdFormat(stored) && hasUsablePassword(stored)) {
        const ok = await djangoGated(password, stored, djangoVerifiers[algorithmOf(stored)]!)
        return { ok, needsRehash: ok }
      }
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
