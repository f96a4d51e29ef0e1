// Django's password hashes, as Django itself wrote them (test/fixtures/django-hashes.json, made
// by scripts/django/hash-vectors.py with Debian's Django): each verifies with its password,
// nothing else matches, a match asks for a rehash to authd's format, and broken or hostile
// hashes are a failed check, never a crash or a minutes-long login.
import { readFileSync } from 'node:fs'
import t from 'tap'
import { createPasswordHasher, hasUsablePassword } from '../../../src/services/password-hasher.js'

interface Vector { hasher: string, password: string, encoded: string }
const fixture = JSON.parse(readFileSync(new URL('../../fixtures/django-hashes.json', import.meta.url), 'utf8')) as { django: string, vectors: Vector[], unusable: string }
const hasher = createPasswordHasher({ cost: 4 })

t.test(`every hasher Django ${fixture.django} writes verifies its password and asks for a rehash`, async (t) => {
  const kinds = new Set(fixture.vectors.map((v) => v.hasher))
  t.same([...kinds].sort(), ['argon2', 'argon2i', 'bcrypt', 'bcrypt_sha256', 'pbkdf2_sha1', 'pbkdf2_sha256', 'scrypt'], 'each kind is covered')
  for (const v of fixture.vectors) {
    t.ok(hasUsablePassword(v.encoded), `${v.hasher}: usable`)
    // bcrypt_sha256 at Django's cost 12 is authd's own format: a rehash only for the cost (4 here).
    t.same(await hasher.verify(v.password, v.encoded), { ok: true, needsRehash: true }, `${v.hasher}: ${JSON.stringify(v.password.slice(0, 12))}… matches`)
  }
})

t.test('a wrong password never matches, nor a near miss', async (t) => {
  for (const v of fixture.vectors) {
    for (const wrong of [`${v.password}!`, v.password.slice(0, -1), v.password.toUpperCase(), '']) {
      // Plain bcrypt past 72 bytes: the next test.
      if (wrong === v.password || (v.hasher === 'bcrypt' && wrong.length > 72)) continue
      t.same(await hasher.verify(wrong, v.encoded), { ok: false, needsRehash: false }, `${v.hasher}: ${JSON.stringify(wrong.slice(0, 12))}`)
    }
  }
})

t.test('plain bcrypt reads 72 bytes, as Django\'s BCryptPasswordHasher does; bcrypt_sha256 does not', async (t) => {
  const long = fixture.vectors.filter((v) => v.password.length > 72 && v.hasher.startsWith('bcrypt'))
  t.equal(long.length, 2)
  for (const v of long) {
    t.equal((await hasher.verify(`${v.password}tail`, v.encoded)).ok, v.hasher === 'bcrypt', v.hasher)
  }
})

t.test('after the rehash the password verifies in authd\'s format', async (t) => {
  const v = fixture.vectors.find((v) => v.hasher === 'pbkdf2_sha256')!
  const fresh = await hasher.hash(v.password)
  t.match(fresh, /^bcrypt_sha256\$\$2b\$04\$/)
  t.same(await hasher.verify(v.password, fresh), { ok: true, needsRehash: false })
})

t.test('unusable passwords (Django\'s "!…", empty) never match and cost the dummy bcrypt work', async (t) => {
  for (const stored of [fixture.unusable, '!', '', 'pbkdf2_sha256', 'md5$salt$abc', 'unknown$1$2$3']) {
    t.notOk(hasUsablePassword(stored), JSON.stringify(stored))
    t.same(await hasher.verify('anything', stored), { ok: false, needsRehash: false })
  }
})

t.test('malformed and hostile Django hashes fail without throwing and without unbounded work', async (t) => {
  const salt = 'abcdefgh'
  const key = (bytes: number) => Buffer.alloc(bytes, 1).toString('base64')
  const cases = [
    'pbkdf2_sha256$$salt$hash',
    'pbkdf2_sha256$0$salt$' + key(32),
    'pbkdf2_sha256$-5$salt$' + key(32),
    'pbkdf2_sha256$1e3$salt$' + key(32),
    'pbkdf2_sha256$99999999999$salt$' + key(32), // over the bound: refused, not computed
    'pbkdf2_sha256$1000$$' + key(32),
    'pbkdf2_sha256$1000$salt$' + key(31),
    'pbkdf2_sha256$1000$salt$not base64!',
    'pbkdf2_sha256$1000$salt$' + key(32) + '$extra',
    'pbkdf2_sha1$1000$salt$' + key(32),
    'bcrypt$not-a-bcrypt-hash',
    'bcrypt$$2b$04$short',
    'argon2$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g', // 4 TiB of memory: refused
    'argon2$argon2d$v=19$m=512,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g',
    'argon2$argon2id$v=19$m=512,t=1,p=1$$',
    'argon2$argon2id$m=512,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g',
    'argon2$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g', // too little memory for argon2: the library refuses
    `scrypt$16384$${salt}$8$1$${key(63)}`,
    `scrypt$16383$${salt}$8$1$${key(64)}`, // N not a power of two
    `scrypt$${2 ** 24}$${salt}$64$1$${key(64)}`, // 128 GiB: refused
    `scrypt$16384$$8$1$${key(64)}`,
    `scrypt$16384$${salt}$8$1$${key(64)}$extra`
  ]
  for (const stored of cases) {
    t.same(await hasher.verify('password', stored), { ok: false, needsRehash: false }, stored)
  }
})
