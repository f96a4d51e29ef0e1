// Lockout as a weapon (issue 12, finding 7): anyone can keep an account locked by sending wrong
// passwords for its email, but a device that holds the token of an earlier successful login
// to that account (OWASP's device cookie) is not kept out; it answers to its own limit instead.
// App clients here (X-Device-Token); the browser's cookie is covered in browser.test.ts.
import { hkdfSync } from 'node:crypto'
import t from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { createSigner } from 'fast-jwt'
import { assertProblem, buildWithDatabase, register, TEST_ISSUER, testKeys, type Session } from '../../helper.js'

const THRESHOLD = 3
const { app, database } = await buildWithDatabase(t, { LOCKOUT_THRESHOLD: String(THRESHOLD) })
const prisma = database.prisma
const noDevices = await buildWithDatabase(t, { LOCKOUT_THRESHOLD: String(THRESHOLD), DEVICE_TOKEN_TTL: '0' })

async function login (target: FastifyInstance, loginName: string, password: string, deviceToken?: string): Promise<LightMyRequestResponse> {
  return await target.inject({
    method: 'POST',
    url: '/v1/app/auth/login',
    headers: deviceToken === undefined ? {} : { 'x-device-token': deviceToken },
    payload: { login: loginName, password }
  })
}

/** A device that logged in to the account once: its known-device token. */
async function knownDevice (s: Session): Promise<string> {
  const res = await login(app, s.email, s.password)
  t.equal(res.statusCode, 200)
  const token = res.json().deviceToken as string
  t.type(token, 'string')
  return token
}

/** The key authd signs device tokens with (HKDF of the test refresh secret, device-tokens.ts). */
const deviceKey = Buffer.from(hkdfSync('sha256', (await testKeys()).refreshSecret, Buffer.alloc(0), 'authd device token v1', 32))
const signWith = (key: Buffer, payload: Record<string, unknown>) => createSigner({ algorithm: 'HS256', key, header: { alg: 'HS256', typ: 'device+jwt' } })(payload)

/** What an attacker does: THRESHOLD wrong passwords for the email, from anywhere. */
async function lockOut (s: Session): Promise<void> {
  for (let i = 0; i < THRESHOLD; i++) await login(app, s.email, `attacker guess ${i}`)
  assertProblem(t, await login(app, s.email, s.password), 429, 'account_locked')
}

t.test('the owner\'s known device logs in while an attacker keeps the account locked', async (t) => {
  const s = await register(app)
  const device = await knownDevice(s)
  await lockOut(s)

  const res = await login(app, s.email, s.password, device)
  t.equal(res.statusCode, 200, `the owner gets in: ${res.body.slice(0, 200)}`)
  t.type(res.json().deviceToken, 'string', 'with a new device token')
  t.equal((await login(app, s.email, s.password, res.json().deviceToken)).statusCode, 200, 'which works too')

  // The lock on the name stays for everyone else.
  assertProblem(t, await login(app, s.email, s.password), 429, 'account_locked')
  const succeeded = await prisma.auditEvent.findMany({ where: { userId: s.user.id, type: 'login_succeeded' }, orderBy: { id: 'asc' } })
  t.same(succeeded.map((e) => (e.detail as { knownDevice?: boolean }).knownDevice), [false, true, true], 'the trail says which logins came from a known device')
})

t.test('a known device still has its own limit', async (t) => {
  const s = await register(app)
  const device = await knownDevice(s)
  const other = await knownDevice(s)
  for (let i = 1; i < THRESHOLD; i++) assertProblem(t, await login(app, s.email, `wrong ${i}`, device), 401, 'invalid_credentials')
  assertProblem(t, await login(app, s.email, 'wrong last', device), 429, 'account_locked')
  assertProblem(t, await login(app, s.email, s.password, device), 429, 'account_locked')
  t.equal((await login(app, s.email, s.password, other)).statusCode, 200, 'another known device of the owner is not locked by it')
  t.equal((await login(app, s.email, s.password)).statusCode, 200, 'nor is the account: the device\'s failures are its own')
})

t.test('only a valid token of this very account is a known device', async (t) => {
  const victim = await register(app)
  const attacker = await register(app)
  const attackersDevice = await knownDevice(attacker)
  const victimsDevice = await knownDevice(victim)
  await lockOut(victim)

  const keys = await testKeys()
  const now = Math.floor(Date.now() / 1000)
  const claims = JSON.parse(Buffer.from(victimsDevice.split('.')[1] as string, 'base64url').toString('utf8')) as Record<string, unknown>
  // Signed with the right key and otherwise fine, but expired.
  const expired = signWith(deviceKey, { ...claims, iat: now - 7200, exp: now - 3600 })
  const notExpired = signWith(deviceKey, { ...claims, iat: now - 10, exp: now + 3600 })
  const [head, body, sig] = victimsDevice.split('.') as [string, string, string]
  const cases: Record<string, string> = {
    'another account\'s device token': attackersDevice,
    'an expired device token': expired,
    'a tampered signature': `${head}.${body}.${sig.slice(0, 10)}${sig[10] === 'A' ? 'B' : 'A'}${sig.slice(11)}`,
    'the refresh secret itself as key': signWith(keys.refreshSecret, { ...claims }),
    'a refresh token': (await login(app, attacker.email, attacker.password)).json().tokens.refresh,
    garbage: 'not a token',
    'a huge value': 'x'.repeat(5000)
  }
  for (const [name, token] of Object.entries(cases)) {
    assertProblem(t, await login(app, victim.email, victim.password, token), 429, 'account_locked')
    t.pass(`${name}: the lock applies`)
  }
  t.equal((await login(app, victim.email, victim.password, notExpired)).statusCode, 200, 'the same claims, unexpired and well signed, are a known device (so the cases above failed for their reason)')
})

t.test('a device token tells nothing about unknown logins', async (t) => {
  const s = await register(app)
  const device = await knownDevice(s)
  assertProblem(t, await login(app, 'nobody-here@example.com', s.password, device), 401, 'invalid_credentials')
})

t.test('DEVICE_TOKEN_TTL=0: no device tokens are issued or honoured', async (t) => {
  const s = await register(noDevices.app)
  const res = await login(noDevices.app, s.email, s.password)
  t.equal(res.statusCode, 200)
  t.notOk('deviceToken' in res.json(), 'no deviceToken in the reply')
  // A token that an authd issuing them would accept for this account.
  const now = Math.floor(Date.now() / 1000)
  const valid = signWith(deviceKey, { sub: s.user.id, jti: '4d2c7a1e-8f3b-4c6d-9e0a-1b2c3d4e5f60', iat: now, exp: now + 3600, iss: TEST_ISSUER, aud: 'authd:device' })
  for (let i = 0; i < THRESHOLD; i++) await login(noDevices.app, s.email, `guess ${i}`)
  assertProblem(t, await login(noDevices.app, s.email, s.password, valid), 429, 'account_locked')
})
