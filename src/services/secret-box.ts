// Encryption at rest for values the service must read back, such as a user's TOTP secret: unlike
// a password, it cannot be hashed, and a database dump (a backup, a replica, an SQL injection)
// must not hand out everyone's second factor. AES-256-GCM with a random 12-byte IV per value;
// the caller's context (the user id) is authenticated as additional data, so a sealed value
// copied into another user's row does not open there, and any change to it is detected.
//
// Sealed format: v1.<kid>.<iv>.<ciphertext>.<tag>, base64url parts. The kid (first 8 hex digits
// of the key's SHA-256) lets a later key rotation tell which key sealed a value without trying
// each one; 32 bits of a hash say nothing useful about a 256-bit random key.
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto'
import { ConfigError } from '../config.js'

export interface SecretBox {
  /** The id of this box's key, as written in every value it seals. */
  readonly kid: string
  /** Encrypt `plaintext`, bound to `context` (e.g. the user id). */
  seal (plaintext: string, context: string): string
  /** Decrypt a sealed value; throws the same plain error for any failure whatsoever. */
  open (sealed: string, context: string): string
}

const VERSION = 'v1'
const KEY_BYTES = 32
const IV_BYTES = 12
const TAG_BYTES = 16
const BASE64URL = /^[A-Za-z0-9_-]*$/

/** The id written into sealed values: enough to pick a key, never enough to guess one. */
export function keyId (key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8)
}

// One message for every way opening can fail: which check failed is of use only to someone
// probing with forged values, and the message must never carry the plaintext or the key.
const cannotOpen = (): Error => new Error('sealed value cannot be opened')

/** Strict base64url: Buffer.from would silently skip stray characters and accept non-canonical
 * trailing bits, so a value that does not re-encode to itself is refused. */
function decodePart (part: string | undefined): Buffer | null {
  if (part === undefined || !BASE64URL.test(part)) return null
  const bytes = Buffer.from(part, 'base64url')
  return bytes.toString('base64url') === part ? bytes : null
}

export function createSecretBox (key: Buffer): SecretBox {
  if (!Buffer.isBuffer(key) || key.length !== KEY_BYTES) throw new Error(`a secret box needs a ${KEY_BYTES}-byte key`)
  // Our own copy: a caller that later zeroes or reuses its buffer must not change the box's key.
  const ownKey = Buffer.from(key)
  const kid = keyId(ownKey)
  // An empty context would bind nothing and let a value move between rows: a caller bug.
  const aad = (context: string): Buffer => {
    if (typeof context !== 'string' || context === '') throw new Error('a secret box needs a non-empty context')
    return Buffer.from(context, 'utf8')
  }

  return {
    kid,
    seal (plaintext, context) {
      const iv = randomBytes(IV_BYTES)
      const cipher = createCipheriv('aes-256-gcm', ownKey, iv, { authTagLength: TAG_BYTES })
      cipher.setAAD(aad(context))
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
      const tag = cipher.getAuthTag()
      return [VERSION, kid, iv.toString('base64url'), ciphertext.toString('base64url'), tag.toString('base64url')].join('.')
    },
    open (sealed, context) {
      const additional = aad(context)
      if (typeof sealed !== 'string') throw cannotOpen()
      const parts = sealed.split('.')
      if (parts.length !== 5 || parts[0] !== VERSION || parts[1] !== kid) throw cannotOpen()
      const iv = decodePart(parts[2])
      const ciphertext = decodePart(parts[3])
      const tag = decodePart(parts[4])
      if (iv === null || iv.length !== IV_BYTES || ciphertext === null || tag === null || tag.length !== TAG_BYTES) throw cannotOpen()
      try {
        const decipher = createDecipheriv('aes-256-gcm', ownKey, iv, { authTagLength: TAG_BYTES })
        decipher.setAAD(additional)
        decipher.setAuthTag(tag)
        return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8')
      } catch {
        // OpenSSL's "Unsupported state or unable to authenticate data" says nothing more useful.
        throw cannotOpen()
      }
    }
  }
}

/**
 * The key that seals MFA secrets. MFA_ENCRYPTION_KEY, when set, is 32 random bytes in base64 or
 * base64url (`openssl rand -base64 32`). When it is empty the key is derived from the refresh
 * secret with HKDF under its own label (as the CSRF and device-token keys are), so a development
 * set-up works with no extra setting and the key never doubles as another purpose's key.
 * Production should set its own: with a derived key, rotating the refresh secret would make
 * every stored TOTP secret unreadable, and one leaked secret would expose both.
 */
export function mfaKey (options: { configured: string | undefined, refreshSecret: Buffer }): Buffer {
  const configured = (options.configured ?? '').trim()
  if (configured === '') {
    return Buffer.from(hkdfSync('sha256', options.refreshSecret, Buffer.alloc(0), 'authd mfa secret v1', KEY_BYTES))
  }
  // Buffer.from(…, 'base64') reads both alphabets and skips anything else, so the value must
  // also re-encode to itself (padded or not): a typo is an error, not a different key.
  const bytes = Buffer.from(configured, 'base64')
  const canonical = [bytes.toString('base64'), bytes.toString('base64').replace(/=+$/, ''), bytes.toString('base64url')]
  if (bytes.length !== KEY_BYTES || !canonical.includes(configured)) {
    // Names the setting, never echoes its value: it may be a real key with one character lost.
    throw new ConfigError(`MFA_ENCRYPTION_KEY must be ${KEY_BYTES} bytes in base64 or base64url (e.g. the output of: openssl rand -base64 32)`)
  }
  return bytes
}
