// The password policy (Django's default validators): every check has its own field-error code,
// every failure is reported, each check can be turned off, and register / password change
// compare the password with the account's own attributes.
import t from 'tap'
import { checkPassword, COMMON_PASSWORD_COUNT, isCommonPassword, quickRatio, type PasswordPolicy } from '../../../src/services/password-policy.js'
import { assertProblem, build, newAccount, register } from '../../helper.js'

const policy: PasswordPolicy = { minLength: 8, maxLength: 64 }
const codes = (password: string, user = {}, p: PasswordPolicy = policy) => checkPassword(password, p, 'password', user).map((e) => e.code)

// Django's own test user (django/tests/auth_tests/test_validators.py).
const testclient = { username: 'testclient', email: 'testclient@example.com', fullName: 'Test Client' }

t.test('a good password passes every check', async (t) => {
  t.same(checkPassword('correct horse battery 271828', policy, 'password', testclient), [])
  t.same(codes('eight888'), [], 'exactly the minimum length, and not among the 20,000 most common')
})

t.test('length: password_too_short / password_too_long, in code points', async (t) => {
  t.same(codes('Ab3$xyz'), ['password_too_short'])
  t.same(codes('😀😀😀😀😀😀😀'), ['password_too_short'], 'seven emoji are seven characters')
  t.same(codes('😀😀😀😀😀😀😀😀'), [], 'eight emoji are enough')
  t.same(codes('x'.repeat(64) + 'y'), ['password_too_long'])
  t.same(checkPassword('Ab3$xyz', policy, 'newPassword'), [{ field: 'newPassword', code: 'password_too_short', message: 'must be at least 8 characters' }], 'the field is named')
})

t.test('password_too_common: the 20,000 most common passwords, any case, outer spaces ignored', async (t) => {
  t.same(codes('password'), ['password_too_common'], "Django's example")
  t.same(codes('PassWord'), ['password_too_common'], 'case does not matter')
  t.same(codes('  password  '), ['password_too_common'], 'nor surrounding spaces')
  t.same(codes('qwertyuiop'), ['password_too_common'])
  t.ok(isCommonPassword('iloveyou'))
  t.notOk(isCommonPassword('correct horse battery staple'))
  t.equal(COMMON_PASSWORD_COUNT, 20_000)
})

t.test('password_entirely_numeric: only digits, of any script', async (t) => {
  t.same(codes('83920174655'), ['password_entirely_numeric'])
  t.same(codes('٨٣٩٢٠١٧٤٦٥٥'), ['password_entirely_numeric'], 'Arabic-Indic digits are digits too')
  t.same(codes('8392017465a'), [], 'one letter is enough')
})

t.test('password_too_similar: compared with each attribute and its parts, as Django does', async (t) => {
  t.same(codes('testclient', testclient), ['password_too_similar'], "Django's example: the username")
  t.match(checkPassword('testclient', policy, 'password', testclient), [{ message: 'is too similar to the username' }])
  t.same(codes('example.com', { email: 'testclient@example.com' }), ['password_too_similar'], "Django's example: a part of the email address")
  t.match(checkPassword('example.com', policy, 'password', { email: 'testclient@example.com' }), [{ message: 'is too similar to the email address' }])
  t.same(codes('TESTCLIENT@example.com', { email: 'testclient@example.com' }), ['password_too_similar'], 'the whole address, any case')
  t.same(codes('lovelace1815', { fullName: 'Ada Lovelace' }), ['password_too_similar'], 'a part of the full name')
  t.same(codes('testclient'), [], 'no attributes: nothing to compare')
  t.same(codes('correct horse battery staple', testclient), [], 'unrelated')
})

t.test('quickRatio is difflib.SequenceMatcher.quick_ratio', async (t) => {
  // Values as Python computes them: SequenceMatcher(None, a, b).quick_ratio()
  t.equal(quickRatio('abcd', 'bcde'), 0.75)
  t.equal(quickRatio('', ''), 1)
  t.equal(quickRatio('abc', ''), 0)
  t.equal(quickRatio('aab', 'abb'), 2 * 2 / 6, 'characters are counted as a multiset')
})

t.test('every failure is reported, in one list', async (t) => {
  t.same(codes('1234567'), ['password_too_short', 'password_too_common', 'password_entirely_numeric'])
  t.same(codes('12345678901'), ['password_too_common', 'password_entirely_numeric'], "Django's example: common and numeric")
  t.same(codes('testclient1', { username: 'testclient1' }), ['password_too_similar'])
})

t.test('each check can be turned off', async (t) => {
  t.same(codes('password', {}, { ...policy, checkCommon: false }), [])
  t.same(codes('83920174655', {}, { ...policy, checkNumeric: false }), [])
  t.same(codes('testclient', testclient, { ...policy, checkSimilarity: false }), [])
  t.same(codes('1234567', {}, { ...policy, checkCommon: false, checkNumeric: false }), ['password_too_short'], 'length is always checked')
})

t.test('register refuses each kind of password with a field error, and lists all of them', async (t) => {
  const app = await build(t)
  const post = async (body: Record<string, unknown>) => await app.inject({ method: 'POST', url: '/v1/app/auth/register', payload: body })

  const common = await post(newAccount({ password: 'password123' }))
  assertProblem(t, common, 400, 'validation_failed')
  t.same(common.json().errors, [{ field: 'password', code: 'password_too_common', message: 'is too common' }])

  const account = newAccount({ username: 'ada_lovelace', email: 'ada.lovelace@example.com', fullName: 'Ada Lovelace' })
  const similar = await post({ ...account, password: 'ada.lovelace' })
  assertProblem(t, similar, 400, 'validation_failed')
  t.same(similar.json().errors.map((e: { code: string }) => e.code), ['password_too_similar'], 'compared with the attributes being registered')

  const all = await post(newAccount({ password: '1234567' }))
  t.same(all.json().errors.map((e: { field: string, code: string }) => `${e.field}:${e.code}`),
    ['password:password_too_short', 'password:password_too_common', 'password:password_entirely_numeric'])

  t.equal((await post(account)).statusCode, 201, 'the same account with its own password registers')
})

t.test('password change compares the new password with the account it belongs to', async (t) => {
  const app = await build(t)
  const s = await register(app, { fullName: 'Grace Hopper', username: 'amazing_admiral' })
  const change = async (newPassword: string) => await app.inject({
    method: 'POST',
    url: '/v1/users/me/password',
    headers: { authorization: `Bearer ${s.tokens.access}` },
    payload: { currentPassword: s.password, newPassword }
  })
  const similar = await change(s.email)
  assertProblem(t, similar, 400, 'validation_failed')
  t.same(similar.json().errors, [{ field: 'newPassword', code: 'password_too_similar', message: 'is too similar to the email address' }])
  t.same((await change('gracehopper')).json().errors.map((e: { code: string }) => e.code), ['password_too_similar'], 'the full name')
  t.same((await change('1234567890')).json().errors.map((e: { code: string }) => e.code), ['password_too_common', 'password_entirely_numeric'])
  t.equal((await change('a brand new passphrase 42')).statusCode, 204, 'a good one is taken')
})

t.test('PASSWORD_CHECK_* turn the checks off in the service', async (t) => {
  const app = await build(t, { PASSWORD_CHECK_COMMON: 'false', PASSWORD_CHECK_NUMERIC: 'false', PASSWORD_CHECK_SIMILARITY: 'false' })
  for (const password of ['password123', '83920174655']) {
    const res = await app.inject({ method: 'POST', url: '/v1/app/auth/register', payload: newAccount({ password }) })
    t.equal(res.statusCode, 201, `${password} accepted`)
  }
  const account = newAccount()
  const res = await app.inject({ method: 'POST', url: '/v1/app/auth/register', payload: { ...account, password: account.email } })
  t.equal(res.statusCode, 201, 'the email as password accepted')
})
