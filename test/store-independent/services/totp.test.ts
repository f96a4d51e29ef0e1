// TOTP below the HTTP layer: RFC 6238's own test vectors, the ±1-step window and the step it
// returns (what replay protection stores), input refused before any HMAC, and the otpauth URI.
import t from 'tap'
import { generateSync, ScureBase32Plugin } from 'otplib'
import { newTotpSecret, totpCodeAt, totpStepAt, totpUri, verifyTotp } from '../../../src/services/totp.js'

const base32 = new ScureBase32Plugin()
// RFC 6238 Appendix B: the SHA-1 seed is the ASCII string "12345678901234567890".
const RFC_SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'
const ms = (unixSeconds: number) => unixSeconds * 1000

t.test('the RFC 6238 secret, as base32', async (t) => {
  t.equal(base32.encode(Buffer.from('12345678901234567890', 'ascii')), RFC_SECRET)
  // The RFC's 8-digit value, through otplib directly: the vector and its encoding are right.
  t.equal(generateSync({ secret: RFC_SECRET, epoch: 59, digits: 8 }), '94287082')
})

t.test('RFC 6238 Appendix B (SHA-1), last six digits', async (t) => {
  const vectors: Array<[number, string, number]> = [
    // [unix seconds, 6-digit code, time step]
    [59, '287082', 1],
    [1111111109, '081804', 37037036],
    [1111111111, '050471', 37037037],
    [1234567890, '005924', 41152263],
    [2000000000, '279037', 66666666],
    [20000000000, '353130', 666666666]
  ]
  for (const [seconds, code, step] of vectors) {
    t.equal(totpCodeAt(RFC_SECRET, ms(seconds)), code, `code at T=${seconds}`)
    t.equal(totpStepAt(ms(seconds)), step, `step at T=${seconds}`)
    t.equal(verifyTotp(RFC_SECRET, code, ms(seconds)), step, `verified at T=${seconds}, returning its step`)
  }
})

t.test('one step either side is accepted and returns that step; two is not', async (t) => {
  const now = ms(1111111109) // step 37037036, code 081804
  const codeAtStep = (step: number) => totpCodeAt(RFC_SECRET, ms(step * 30))
  t.equal(codeAtStep(37037035), '731029')
  t.equal(codeAtStep(37037037), '050471')
  t.equal(codeAtStep(37037034), '150727')
  t.equal(codeAtStep(37037038), '266759')
  t.equal(verifyTotp(RFC_SECRET, codeAtStep(37037035), now), 37037035, 'previous step')
  t.equal(verifyTotp(RFC_SECRET, '081804', now), 37037036, 'current step')
  t.equal(verifyTotp(RFC_SECRET, codeAtStep(37037037), now), 37037037, 'next step')
  t.equal(verifyTotp(RFC_SECRET, codeAtStep(37037034), now), null, 'two steps old')
  t.equal(verifyTotp(RFC_SECRET, codeAtStep(37037038), now), null, 'two steps ahead')
  t.equal(verifyTotp(RFC_SECRET, '081805', now), null, 'a wrong code')
  // Step 37037036 runs from 1111111080 to 1111111109.999; its code is accepted from the first
  // moment of the step before (1111111050) to the last moment of the step after (1111111139.999).
  t.equal(verifyTotp(RFC_SECRET, '081804', ms(1111111080)), 37037036, 'first moment of the step')
  t.equal(verifyTotp(RFC_SECRET, '081804', ms(1111111109) + 999), 37037036, 'last moment of the step')
  t.equal(verifyTotp(RFC_SECRET, '081804', ms(1111111050)), 37037036, 'the first moment of the window')
  t.equal(verifyTotp(RFC_SECRET, '081804', ms(1111111050) - 1), null, 'a millisecond too early')
  t.equal(verifyTotp(RFC_SECRET, '081804', ms(1111111139) + 999), 37037036, 'the last moment of the window')
  t.equal(verifyTotp(RFC_SECRET, '081804', ms(1111111140)), null, 'a millisecond too late')
})

t.test('when two steps in the window share a code, the latest is returned', async (t) => {
  // Found by search: steps 37079356 and 37079357 both give 186519, and steps 37353814 and
  // 37353816 both give 137227. Returning the latest moves the replay mark furthest forward.
  t.equal(totpCodeAt(RFC_SECRET, ms(37079356 * 30)), '186519')
  t.equal(totpCodeAt(RFC_SECRET, ms(37079357 * 30)), '186519')
  t.equal(verifyTotp(RFC_SECRET, '186519', ms(37079356 * 30)), 37079357, 'now and next both match')
  t.equal(verifyTotp(RFC_SECRET, '186519', ms(37079358 * 30)), 37079357, 'previous matches, and the one before is out of the window')
  t.equal(totpCodeAt(RFC_SECRET, ms(37353814 * 30)), '137227')
  t.equal(totpCodeAt(RFC_SECRET, ms(37353816 * 30)), '137227')
  t.equal(verifyTotp(RFC_SECRET, '137227', ms(37353815 * 30)), 37353816, 'previous and next both match')
})

t.test('input: spaces are dropped, anything but six ASCII digits is refused', async (t) => {
  const now = ms(59)
  t.equal(verifyTotp(RFC_SECRET, ' 287082 ', now), 1)
  t.equal(verifyTotp(RFC_SECRET, '287 082', now), 1, 'as apps display it')
  t.equal(verifyTotp(RFC_SECRET, '\t287082\n', now), 1)
  for (const bad of ['', '      ', '28708', '2870820', '94287082', '28708a', '+287082', '-28708', '287.082',
    '287-082', '２８７０８２', '٢٨٧٠٨٢', `${' '.repeat(30)}287082`]) {
    t.equal(verifyTotp(RFC_SECRET, bad, now), null, JSON.stringify(bad))
  }
  t.equal(verifyTotp(RFC_SECRET, 287082 as never, now), null, 'a number is not a code')
  t.equal(verifyTotp(RFC_SECRET, undefined as never, now), null)
  t.equal(verifyTotp(RFC_SECRET, '287082', Number.NaN), null, 'no clock, no match')
})

t.test('a stored secret that is not usable throws instead of failing quietly', async (t) => {
  t.throws(() => verifyTotp('JBSWY3DPEHPK3PXP', '123456', ms(59)), 'otplib refuses a secret under 16 bytes')
  t.throws(() => verifyTotp('not base32!', '123456', ms(59)))
})

t.test('newTotpSecret: 160 random bits in base32, usable at once', async (t) => {
  const secret = newTotpSecret()
  t.match(secret, /^[A-Z2-7]{32}$/)
  t.equal(base32.decode(secret).length, 20)
  t.not(newTotpSecret(), secret)
  const now = Date.now()
  t.equal(verifyTotp(secret, totpCodeAt(secret, now), now), totpStepAt(now))
  const before = totpStepAt(Date.now())
  const code = totpCodeAt(secret, Date.now())
  // Without nowMs the clock is read; a step boundary crossed meanwhile is still in the window.
  t.ok([before, before + 1].includes(verifyTotp(secret, code) as number), 'nowMs defaults to the clock')
})

t.test('totpUri: the Key URI format, escaped, parseable, carrying the secret', async (t) => {
  t.equal(totpUri({ secret: RFC_SECRET, accountName: 'ada@example.com', issuer: 'authd' }),
    `otpauth://totp/authd:ada%40example.com?secret=${RFC_SECRET}&issuer=authd&algorithm=SHA1&digits=6&period=30`)

  const secret = newTotpSecret()
  const uri = totpUri({ secret, accountName: 'a+b c@example.com', issuer: 'ACME & Sons/Auth?#' })
  const url = new URL(uri)
  t.equal(url.protocol, 'otpauth:')
  t.equal(url.host, 'totp')
  t.equal(decodeURIComponent(url.pathname), '/ACME & Sons/Auth?#:a+b c@example.com')
  t.equal(url.pathname.split(':').length, 2, 'exactly one literal colon: the separator')
  t.equal(url.hash, '', 'a # in the issuer did not end the query')
  t.same(Object.fromEntries(url.searchParams), {
    secret,
    issuer: 'ACME & Sons/Auth?#',
    algorithm: 'SHA1',
    digits: '6',
    period: '30'
  })
  const fromUri = url.searchParams.get('secret') as string
  const now = Date.now()
  t.equal(verifyTotp(secret, totpCodeAt(fromUri, now), now), totpStepAt(now), 'an app reading the URI gets codes the server accepts')
})

t.test('totpUri refuses a colon or an empty part, which would misfile the account', async (t) => {
  t.throws(() => totpUri({ secret: RFC_SECRET, accountName: 'ada', issuer: 'a:b' }), /issuer/)
  t.throws(() => totpUri({ secret: RFC_SECRET, accountName: 'a:da', issuer: 'authd' }), /account name/)
  t.throws(() => totpUri({ secret: RFC_SECRET, accountName: 'ada', issuer: '' }), /issuer/)
  t.throws(() => totpUri({ secret: RFC_SECRET, accountName: '', issuer: 'authd' }), /account name/)
})
