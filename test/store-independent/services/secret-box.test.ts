// The secret box (AES-256-GCM at rest): round trip, the sealed format and kid, the context bound
// as AAD, every part tampered with, another key, and the MFA_ENCRYPTION_KEY setting.
import { hkdfSync, randomBytes } from 'node:crypto'
import t from 'tap'
import { ConfigError } from '../../../src/config.js'
import { createSecretBox, keyId, mfaKey } from '../../../src/services/secret-box.js'

const KEY = Buffer.alloc(32, 1)
const OTHER_KEY = Buffer.alloc(32, 2)
const USER = '0b8f6c1e-5d43-4a8e-9a57-2f6f3c2b9d10'
const OTHER_USER = '7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f'
const SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'
const CANNOT_OPEN = /^sealed value cannot be opened$/
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

type Parts = [string, string, string, string, string]
function partsOf (sealed: string): Parts {
  const parts = sealed.split('.')
  if (parts.length !== 5) throw new Error(`not a sealed value: ${sealed}`)
  return parts as Parts
}

/** Flip one bit of one base64url part, re-encoded canonically so only the bytes differ. */
function flipBit (sealed: string, index: 2 | 3 | 4): string {
  const parts = partsOf(sealed)
  const bytes = Buffer.from(parts[index], 'base64url')
  bytes.writeUInt8(bytes.readUInt8(0) ^ 1, 0)
  parts[index] = bytes.toString('base64url')
  return parts.join('.')
}

t.test('seal then open gives the plaintext back', async (t) => {
  const box = createSecretBox(KEY)
  t.equal(box.open(box.seal(SECRET, USER), USER), SECRET)
  t.equal(box.open(box.seal('', USER), USER), '', 'an empty plaintext')
  t.equal(box.open(box.seal('clé 🔑 ключ', USER), USER), 'clé 🔑 ключ', 'UTF-8 survives')
  t.equal(createSecretBox(Buffer.from(KEY)).open(box.seal(SECRET, USER), USER), SECRET, 'another box with the same key (another instance, a restart)')
})

t.test('format: v1.<kid>.<iv>.<ciphertext>.<tag>, with a fresh IV every time', async (t) => {
  const box = createSecretBox(KEY)
  t.equal(box.kid, '72cd6e84', 'first 8 hex digits of SHA-256 of the key')
  t.equal(keyId(KEY), '72cd6e84')
  t.not(keyId(OTHER_KEY), keyId(KEY))
  const sealed = box.seal(SECRET, USER)
  t.match(sealed, /^v1\.72cd6e84\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{22}$/, '12-byte IV, 32-byte ciphertext, 16-byte tag')
  t.notMatch(sealed, SECRET, 'the plaintext does not show')
  const again = box.seal(SECRET, USER)
  t.not(again, sealed)
  t.not(partsOf(again)[2], partsOf(sealed)[2], 'a new IV')
})

t.test('the context is bound: a value moved to another row does not open', async (t) => {
  const box = createSecretBox(KEY)
  const sealed = box.seal(SECRET, USER)
  t.throws(() => box.open(sealed, OTHER_USER), CANNOT_OPEN)
  t.throws(() => box.open(sealed, `${USER} `), CANNOT_OPEN, 'one character more')
  t.throws(() => box.open(sealed, ''), /non-empty context/, 'an empty context is a caller bug')
  t.throws(() => box.seal(SECRET, ''), /non-empty context/)
})

t.test('any change to any part is detected, with the same message', async (t) => {
  const box = createSecretBox(KEY)
  const sealed = box.seal(SECRET, USER)
  const parts = partsOf(sealed)
  const withPart = (index: number, value: string) => parts.map((p, i) => (i === index ? value : p)).join('.')
  const forged: Record<string, string> = {
    'version v2': withPart(0, 'v2'),
    'version missing': parts.slice(1).join('.'),
    'another kid': withPart(1, keyId(OTHER_KEY)),
    'kid in upper case': withPart(1, parts[1].toUpperCase()),
    'iv bit flipped': flipBit(sealed, 2),
    'ciphertext bit flipped': flipBit(sealed, 3),
    'tag bit flipped': flipBit(sealed, 4),
    'iv shortened': withPart(2, parts[2].slice(0, 12)),
    'ciphertext truncated': withPart(3, parts[3].slice(0, 40)),
    'ciphertext emptied': withPart(3, ''),
    'tag truncated (GCM allows short tags; we do not)': withPart(4, Buffer.from(parts[4], 'base64url').subarray(0, 12).toString('base64url')),
    // Same bytes once decoded (Buffer.from ignores the spare low bits of the last character), so
    // only the canonical-encoding check refuses it.
    'tag not canonical base64url': withPart(4, parts[4].slice(0, -1) + B64URL[B64URL.indexOf(parts[4].slice(-1)) + 1]),
    'standard base64 characters': withPart(3, parts[3].replace(/[-_]/g, '+') + '+'),
    'padding added': withPart(4, parts[4] + '=='),
    'a sixth part': `${sealed}.AAAA`,
    'four parts': parts.slice(0, 4).join('.'),
    'empty string': '',
    'spaces around': ` ${sealed} `
  }
  for (const [what, value] of Object.entries(forged)) {
    t.not(value, sealed, `${what}: really changed`)
    if (what.startsWith('tag not canonical')) t.same(Buffer.from(partsOf(value)[4], 'base64url'), Buffer.from(parts[4], 'base64url'), 'same tag bytes')
    t.throws(() => box.open(value, USER), CANNOT_OPEN, what)
  }
  t.throws(() => box.open(undefined as never, USER), CANNOT_OPEN, 'not a string')
  t.equal(box.open(sealed, USER), SECRET, 'the original still opens')
})

t.test('another key cannot open, whether or not the kid gives it away', async (t) => {
  const box = createSecretBox(KEY)
  const other = createSecretBox(OTHER_KEY)
  const sealed = box.seal(SECRET, USER)
  t.throws(() => other.open(sealed, USER), CANNOT_OPEN, 'kid mismatch')
  // Relabelled with the other key's kid, the value reaches AES-GCM, whose tag check fails.
  const relabelled = sealed.replace(`.${box.kid}.`, `.${other.kid}.`)
  t.throws(() => other.open(relabelled, USER), CANNOT_OPEN, 'tag check under the wrong key')
  try {
    other.open(relabelled, USER)
  } catch (error) {
    const text = `${(error as Error).message} ${(error as Error).stack}`
    t.notMatch(text, SECRET, 'no plaintext in the error')
    t.notMatch(text, 'authenticate', "OpenSSL's message is not passed on")
  }
})

t.test('the key must be exactly 32 bytes', async (t) => {
  t.throws(() => createSecretBox(Buffer.alloc(31)), /32-byte key/)
  t.throws(() => createSecretBox(Buffer.alloc(33)), /32-byte key/)
  t.throws(() => createSecretBox('x'.repeat(32) as never), /32-byte key/, 'a string is not a key')
  const key = Buffer.from(KEY)
  const box = createSecretBox(key)
  const sealed = box.seal(SECRET, USER)
  key.fill(0)
  t.equal(box.open(sealed, USER), SECRET, "the box keeps its own copy of the caller's buffer")
})

t.test('mfaKey: MFA_ENCRYPTION_KEY as base64 or base64url of 32 bytes', async (t) => {
  const refreshSecret = randomBytes(32)
  const key = randomBytes(32)
  // A key whose base64 holds both + and /, so base64 and base64url differ.
  const mixed = Buffer.from('fbff' + '00'.repeat(28) + 'fbff', 'hex')
  t.match(mixed.toString('base64'), /[+/]/)
  for (const [what, value] of [
    ['base64', key.toString('base64')],
    ['base64url', key.toString('base64url')],
    ['base64 without padding', key.toString('base64').replace(/=+$/, '')],
    ['with a trailing newline (read from a file)', `${key.toString('base64')}\n`]
  ] as const) {
    t.same(mfaKey({ configured: value, refreshSecret }), key, what)
  }
  t.same(mfaKey({ configured: mixed.toString('base64'), refreshSecret }), mixed)
  t.same(mfaKey({ configured: mixed.toString('base64url'), refreshSecret }), mixed)
})

t.test('mfaKey: a bad MFA_ENCRYPTION_KEY is a ConfigError that names the setting, not the value', async (t) => {
  const refreshSecret = randomBytes(32)
  const bad = [
    randomBytes(31).toString('base64'),
    randomBytes(33).toString('base64'),
    randomBytes(16).toString('hex'), // 32 hex characters: 24 bytes as base64
    randomBytes(32).toString('hex'), // 64 hex characters: 48 bytes as base64
    `${randomBytes(32).toString('base64').slice(0, 20)}!${randomBytes(32).toString('base64').slice(21)}`,
    `${randomBytes(32).toString('base64').slice(0, 42)}B=`, // non-canonical final character
    `${randomBytes(32).toString('base64')}=`,
    'correct horse battery staple, plus a few more words'
  ]
  for (const value of bad) {
    t.throws(() => mfaKey({ configured: value, refreshSecret }), /MFA_ENCRYPTION_KEY/, `${value.length} characters`)
    try {
      mfaKey({ configured: value, refreshSecret })
    } catch (error) {
      t.ok(error instanceof ConfigError, 'reported at start-up like any setting')
      t.match((error as Error).message, /^MFA_ENCRYPTION_KEY must be 32 bytes in base64 or base64url/)
      t.notMatch((error as Error).message, value, 'the value is not echoed')
    }
  }
})

t.test('mfaKey: empty, it is derived from the refresh secret with its own HKDF label', async (t) => {
  const refreshSecret = Buffer.alloc(32, 7)
  const derived = mfaKey({ configured: '', refreshSecret })
  t.equal(derived.toString('hex'), 'd596ff9b246a8bfb8057afe4024562ef648fcc470c175b29916a946e12b356c9')
  t.same(derived, Buffer.from(hkdfSync('sha256', refreshSecret, Buffer.alloc(0), 'authd mfa secret v1', 32)))
  t.notSame(derived, Buffer.from(hkdfSync('sha256', refreshSecret, Buffer.alloc(0), 'authd csrf token v1', 32)), 'not the CSRF key')
  t.same(mfaKey({ configured: undefined, refreshSecret }), derived, 'unset')
  t.same(mfaKey({ configured: '  ', refreshSecret }), derived, 'blank')
  t.notSame(mfaKey({ configured: '', refreshSecret: Buffer.alloc(32, 8) }), derived, 'another refresh secret, another key')
  const box = createSecretBox(derived)
  t.equal(box.open(box.seal(SECRET, USER), USER), SECRET, 'usable as a box key')
})
