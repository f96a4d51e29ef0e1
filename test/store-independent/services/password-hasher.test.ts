// The password hasher on its own: Django-compatible "bcrypt_sha256$" hashes, a dummy bcrypt
// comparison for unknown users, and rehash detection when the cost changes.
import t from 'tap'
import bcrypt from 'bcrypt'
import { bcryptConcurrency, createPasswordHasher } from '../../../src/services/password-hasher.js'

const FORMAT = /^bcrypt_sha256\$\$2b\$(\d{2})\$[./A-Za-z0-9]{53}$/

type Compare = (data: string, hash: string) => Promise<boolean>

/** Runs `fn` with bcrypt.compare (the same module instance as the hasher's) wrapped by `wrap`, then puts it back. */
async function withCompare<T> (wrap: (original: Compare) => Compare, fn: () => Promise<T>): Promise<T> {
  const original = bcrypt.compare as Compare
  ;(bcrypt as { compare: unknown }).compare = wrap(original)
  try {
    return await fn()
  } finally {
    ;(bcrypt as { compare: unknown }).compare = original
  }
}

/** Records every bcrypt.compare call while `fn` runs. */
async function countCompares<T> (fn: () => Promise<T>): Promise<{ result: T, calls: Array<[string, string]> }> {
  const calls: Array<[string, string]> = []
  const result = await withCompare((original) => async (data, hash) => {
    calls.push([data, hash])
    return await original(data, hash)
  }, fn)
  return { result, calls }
}

t.test('hash format: bcrypt_sha256$ + a $2b$ bcrypt hash at the configured cost', async (t) => {
  const hasher = createPasswordHasher({ cost: 4 })
  const hash = await hasher.hash('correct horse battery staple')
  t.match(hash, FORMAT)
  t.equal(FORMAT.exec(hash)?.[1], '04')
  t.not(await hasher.hash('correct horse battery staple'), hash, 'salted: the same password hashes differently')
  t.notOk(hash.includes('correct horse'), 'the password is not in the hash')
  t.equal(FORMAT.exec(await createPasswordHasher({ cost: 5 }).hash('x'))?.[1], '05')
})

t.test('verify accepts the password and nothing else', async (t) => {
  const hasher = createPasswordHasher({ cost: 4 })
  const password = 'ü-unicode and a long tail '.repeat(5)
  const hash = await hasher.hash(password)
  t.same(await hasher.verify(password, hash), { ok: true, needsRehash: false })
  t.same(await hasher.verify(`${password} `, hash), { ok: false, needsRehash: false })
  t.same(await hasher.verify(password.slice(0, 72), hash), { ok: false, needsRehash: false }, 'no 72-byte truncation')
  t.same(await hasher.verify('', hash), { ok: false, needsRehash: false })
})

t.test('verify(password, null) fails but still does bcrypt work at the configured cost', async (t) => {
  const hasher = createPasswordHasher({ cost: 5 })
  const { result, calls } = await countCompares(async () => await hasher.verify('whatever password', null))
  t.same(result, { ok: false, needsRehash: false })
  t.equal(calls.length, 1, 'one bcrypt comparison, as for a known user')
  t.equal(bcrypt.getRounds(calls[0]![1]), 5, 'against a hash of the same cost as real ones')

  const again = await countCompares(async () => await hasher.verify('another one', null))
  t.same(again.result, { ok: false, needsRehash: false })
  t.equal(again.calls.length, 1, 'every time, not only the first')

  // A known user costs the same: one comparison too.
  const real = await hasher.hash('right')
  const known = await countCompares(async () => await hasher.verify('wrong', real))
  t.equal(known.calls.length, 1)
})

t.test('a stored value that is not ours never matches, and still costs a comparison', async (t) => {
  const hasher = createPasswordHasher({ cost: 4 })
  const plainBcrypt = await bcrypt.hash('secret password', 4)
  for (const stored of [plainBcrypt, 'secret password', '', 'bcrypt_sha256'] as const) {
    const { result, calls } = await countCompares(async () => await hasher.verify('secret password', stored))
    t.same(result, { ok: false, needsRehash: false }, JSON.stringify(stored))
    t.equal(calls.length, 1, `${JSON.stringify(stored)}: bcrypt work done`)
  }
})

t.test('a corrupted stored hash is a failed check, not a crash', async (t) => {
  const hasher = createPasswordHasher({ cost: 4 })
  for (const stored of ['bcrypt_sha256$', 'bcrypt_sha256$garbage', 'bcrypt_sha256$$2b$04$tooshort']) {
    t.same(await hasher.verify('password', stored), { ok: false, needsRehash: false }, JSON.stringify(stored))
  }
})

t.test('needsRehash: only after a successful check of a hash of another cost', async (t) => {
  const cost4 = createPasswordHasher({ cost: 4 })
  const cost5 = createPasswordHasher({ cost: 5 })
  const hash4 = await cost4.hash('the password')
  t.same(await cost5.verify('the password', hash4), { ok: true, needsRehash: true }, 'lower cost → rehash')
  t.same(await cost5.verify('not the password', hash4), { ok: false, needsRehash: false }, 'never for a wrong password')
  t.same(await cost4.verify('the password', hash4), { ok: true, needsRehash: false }, 'same cost → no rehash')

  const hash5 = await cost5.hash('the password')
  t.same(await cost4.verify('the password', hash5), { ok: true, needsRehash: true }, 'a higher cost is rehashed down to the configured one too')

  // The rehash produced by the new hasher verifies and no longer needs rehashing.
  const rehashed = await cost5.hash('the password')
  t.same(await cost5.verify('the password', rehashed), { ok: true, needsRehash: false })
})

t.test('bcryptConcurrency: no more hashes at once than cores, and one thread-pool thread always left free', async (t) => {
  t.equal(bcryptConcurrency({}, 2), 2, 'default pool of 4 on 2 cores: 2')
  t.equal(bcryptConcurrency({}, 8), 3, 'default pool of 4 on 8 cores: 3 (one thread kept for signing)')
  t.equal(bcryptConcurrency({}, 1), 1)
  t.equal(bcryptConcurrency({ UV_THREADPOOL_SIZE: '16' }, 8), 8, 'a larger pool lets every core hash')
  t.equal(bcryptConcurrency({ UV_THREADPOOL_SIZE: '2' }, 8), 1)
  t.equal(bcryptConcurrency({ UV_THREADPOOL_SIZE: '1' }, 8), 1, 'never below 1')
  t.equal(bcryptConcurrency({ UV_THREADPOOL_SIZE: 'lots' }, 8), 3, 'an unreadable value means libuv\'s default, 4')
  t.equal(bcryptConcurrency({ UV_THREADPOOL_SIZE: '0' }, 8), 3)
})

t.test('at most `concurrency` bcrypt operations run at once; the rest wait their turn and all finish', async (t) => {
  const hasher = createPasswordHasher({ cost: 4, concurrency: 2 })
  const hash = await hasher.hash('the password')
  let running = 0
  let most = 0
  const results = await withCompare((original) => async (data, stored) => {
    running++
    most = Math.max(most, running)
    try {
      return await original(data, stored)
    } finally {
      running--
    }
  }, async () => await Promise.all(Array.from({ length: 9 }, async (_, i) => await hasher.verify(i % 3 === 0 ? 'wrong' : 'the password', i % 4 === 0 ? null : hash))))
  t.equal(most, 2, 'never more than 2 in flight')
  t.equal(results.length, 9)
  t.same(results.map((r) => r.ok), [false, true, true, false, false, true, false, true, false])
})
