// Recovery codes below the HTTP layer: the set (count, format, uniqueness, the whole alphabet
// in use), what normalisation accepts and refuses, and the keyed hash that is stored.
import { createHmac, hkdfSync } from 'node:crypto'
import t from 'tap'
import { hashRecoveryCode, newRecoveryCodes, normalizeRecoveryCode, RECOVERY_CODE_COUNT } from '../../../src/services/recovery-codes.js'

const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz'
const FORMAT = /^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$/
const KEY = Buffer.alloc(32, 9)

t.test('a set is ten distinct codes, xxxxx-xxxxx, in Crockford base32', async (t) => {
  t.equal(RECOVERY_CODE_COUNT, 10)
  const codes = newRecoveryCodes()
  t.equal(codes.length, 10)
  t.equal(new Set(codes).size, 10, 'no repeats')
  for (const code of codes) t.match(code, FORMAT)
  t.equal(newRecoveryCodes(3).length, 3)
  t.equal(newRecoveryCodes(1).length, 1)
  t.notSame(newRecoveryCodes(), codes, 'a new set each time')
})

t.test('the count must be a sensible integer', async (t) => {
  for (const count of [0, -1, 1.5, 101, Number.NaN]) {
    t.throws(() => newRecoveryCodes(count), /from 1 to 100/, String(count))
  }
})

t.test('every one of the 32 symbols is used, in every position: 5 bits a character, 50 a code', async (t) => {
  // 1,000 codes: the chance that some symbol never shows in some position is under
  // 320 × (31/32)^1000 ≈ 6e-12, so this fails only if the alphabet or the mapping is wrong.
  const codes = Array.from({ length: 10 }, () => newRecoveryCodes(100)).flat().map((c) => c.replace('-', ''))
  for (let position = 0; position < 10; position++) {
    const seen = new Set(codes.map((c) => c[position]))
    t.equal([...seen].sort().join(''), CROCKFORD, `position ${position}`)
  }
})

t.test('normalisation: case, spaces and dashes do not matter', async (t) => {
  const cases: Array<[string, string]> = [
    ['abcde-fghjk', 'abcdefghjk'],
    ['ABCDE-FGHJK', 'abcdefghjk'],
    ['abcdefghjk', 'abcdefghjk'],
    ['abcde fghjk', 'abcdefghjk'],
    ['  AbCdE - fGhJk \n', 'abcdefghjk'],
    ['ab-cd-ef-gh-jk', 'abcdefghjk'],
    ['a b c d e f g h j k', 'abcdefghjk'],
    ['abcde-fghjk-', 'abcdefghjk'],
    ['01234-56789', '0123456789'],
    ['mnpqr-stvwx', 'mnpqrstvwx']
  ]
  for (const [input, expected] of cases) t.equal(normalizeRecoveryCode(input), expected, JSON.stringify(input))
  for (const code of newRecoveryCodes()) t.equal(normalizeRecoveryCode(code), code.replace('-', ''), 'a generated code round-trips')
})

t.test('normalisation: letters left out of the alphabet read as the digits they resemble', async (t) => {
  t.equal(normalizeRecoveryCode('oOiIl-LabcD'), '001111abcd')
  t.equal(normalizeRecoveryCode('o1234-5678i'), '0123456781')
  t.equal(normalizeRecoveryCode('L0000-00000'), '1000000000')
})

t.test('normalisation: anything that cannot be a code is null', async (t) => {
  for (const bad of ['', '     ', '-----', 'abcde-fghj', 'abcde-fghjkm', 'abcde-fghju', 'abcde_fghjk', 'abcde.fghjk',
    'abcde-fghj!', 'àbcde-fghjk', 'ａｂｃｄｅ-ｆｇｈｊｋ', `${' '.repeat(60)}abcde-fghjk`,
    '123456', 'abcde-fghjk abcde-fghjk']) {
    t.equal(normalizeRecoveryCode(bad), null, JSON.stringify(bad))
  }
  t.equal(normalizeRecoveryCode(undefined as never), null, 'not a string')
  t.equal(normalizeRecoveryCode(1234567890 as never), null)
})

t.test('the hash: HMAC-SHA-256 under an HKDF-derived key, stable, base64url', async (t) => {
  t.equal(hashRecoveryCode(KEY, '0123456789'), 'NaJDQxxXi_57dHptu6rLNLd21icHpyKRX9aOZeG0STU')
  t.equal(hashRecoveryCode(KEY, 'abcdefghjk'), 'NpgpBHF2SdwpehBolonTsArqb9I3rmXlah2JyMWlCcs')
  t.equal(hashRecoveryCode(Buffer.from(KEY), '0123456789'), hashRecoveryCode(KEY, '0123456789'), 'stable')
  const derived = Buffer.from(hkdfSync('sha256', KEY, Buffer.alloc(0), 'authd recovery code v1', 32))
  t.equal(hashRecoveryCode(KEY, 'abcdefghjk'), createHmac('sha256', derived).update('abcdefghjk').digest('base64url'), 'the label is "authd recovery code v1"')
  t.not(hashRecoveryCode(KEY, 'abcdefghjk'), createHmac('sha256', KEY).update('abcdefghjk').digest('base64url'), 'the key passed in is not used directly')
})

t.test('the hash depends on the key and on every character of the code', async (t) => {
  const hash = hashRecoveryCode(KEY, 'abcdefghjk')
  t.match(hash, /^[A-Za-z0-9_-]{43}$/)
  t.not(hashRecoveryCode(Buffer.alloc(32, 10), 'abcdefghjk'), hash, 'another key')
  t.not(hashRecoveryCode(KEY, 'abcdefghjm'), hash, 'another code')
  // Whatever the user typed, the same code gives the same hash once normalised: the lookup works.
  t.equal(hashRecoveryCode(KEY, normalizeRecoveryCode(' ABCDE FGHJK ') as string), hash)
})

t.test('the hash refuses a code that was not normalised (it would never match)', async (t) => {
  for (const raw of ['abcde-fghjk', 'ABCDEFGHJK', 'abcdefghj', 'abcdefghju', '']) {
    t.throws(() => hashRecoveryCode(KEY, raw), /normalizeRecoveryCode/, JSON.stringify(raw))
  }
})
