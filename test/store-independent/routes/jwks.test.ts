// Access tokens as another service sees them, per ACCESS_TOKEN_ALG: signed with a key of the
// JWKS, header typ at+jwt and kid, verifiable by jose from the published set alone; the keys
// survive a restart; a rotation publishes before it signs and prunes only after the window;
// a token whose kid is not in the set, or that tries to bring its own key, is refused.
import { createHmac, generateKeyPairSync } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import { SignJWT, createLocalJWKSet, exportJWK, jwtVerify, type JSONWebKeySet } from 'jose'
import { ConfigError } from '../../../src/config.js'
import configPlugin from '../../../src/plugins/config.js'
import tokensPlugin from '../../../src/plugins/tokens.js'
import { assertProblem, build, me, register, TEST_ISSUER, testConfig } from '../../helper.js'
import { decodeHeader, decodePayload } from '../../jwt-helper.js'
import { runKeysCommand } from '../../../src/keys/keys-command.js'

const HS_SECRET = 'an access secret of at least thirty-two bytes'

/** An authd whose keys come from its config and DATA_DIR, not the shared test key. */
async function appWith (t: Test, env: Record<string, string> = {}): Promise<FastifyInstance> {
  return await build(t, { SIGNING_KEYS_RELOAD_INTERVAL: '0', ...env }, { keys: undefined })
}

async function tempDir (t: Test): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'authd-keys-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

async function jwks (app: FastifyInstance): Promise<JSONWebKeySet> {
  const res = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })
  if (res.statusCode !== 200) throw new Error(`jwks: ${res.statusCode}`)
  return res.json()
}

async function verifyWithJwks (app: FastifyInstance, token: string) {
  return await jwtVerify(token, createLocalJWKSet(await jwks(app)), { issuer: TEST_ISSUER, audience: 'authd', typ: 'at+jwt' })
}

async function verifyEndpoint (app: FastifyInstance, token: string) {
  return await app.inject({ method: 'POST', url: '/v1/auth/verify', payload: { token } })
}

async function keysCommand (app: FastifyInstance, args: string[], now = Date.now()): Promise<void> {
  const err: string[] = []
  const code = await runKeysCommand(args, { loadConfig: () => app.config, out: () => {}, err: (s) => err.push(s), now: () => now })
  if (code !== 0) throw new Error(`keys ${args.join(' ')}: ${err.join('\n')}`)
}

for (const alg of ['RS256', 'ES256', 'EdDSA'] as const) {
  t.test(`ACCESS_TOKEN_ALG=${alg}: tokens that jose verifies from the JWKS; foreign keys refused`, async (t) => {
    const app = await appWith(t, { ACCESS_TOKEN_ALG: alg })
    const set = await jwks(app)
    t.equal(set.keys.length, 1, 'one key published')
    const published = set.keys[0] as Record<string, unknown>
    t.match(published, { alg, use: 'sig', kid: String })
    for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) t.notOk(secret in published, `no private member "${secret}"`)

    const s = await register(app)
    t.same(decodeHeader(s.tokens.access), { alg, kid: published.kid, typ: 'at+jwt' }, 'header { alg, kid, typ }')
    const { payload, protectedHeader } = await verifyWithJwks(app, s.tokens.access)
    t.equal(protectedHeader.kid, published.kid)
    t.equal(payload.sub, s.user.id, 'jose verified it with the published key alone')
    t.equal((await me(app, s.tokens.access)).statusCode, 200, 'authd accepts its own token')

    const claims = decodePayload(s.tokens.access)
    const kid = String(published.kid)
    const publicPem = (app.tokens.accessKeys.find(kid)?.publicKeyPem) as string
    const hs256 = (header: Record<string, unknown>, key: string | Buffer) => {
      const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`
      return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`
    }
    const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
    const attackerJwk = await exportJWK(attacker)
    const { d: _d, ...attackerPublic } = attackerJwk
    const signAs = async (header: Record<string, unknown>) => await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', ...header }).sign(attacker)
    const forged: Record<string, string> = {
      'HS256 keyed with the public key PEM, under the real kid (algorithm confusion)': hs256({ alg: 'HS256', typ: 'at+jwt', kid }, publicPem),
      'HS256 keyed with the public JWK JSON, under the real kid': hs256({ alg: 'HS256', typ: 'at+jwt', kid }, JSON.stringify(published)),
      'a foreign key under the real kid': await signAs({ kid }),
      'a foreign key under an unknown kid': await signAs({ kid: 'not-one-of-ours' }),
      'no kid': await signAs({}),
      'an embedded jwk header with the signing key': await signAs({ kid: 'mine', jwk: attackerPublic }),
      'a jku header pointing elsewhere': await signAs({ kid: 'mine', jku: 'http://127.0.0.1:9/jwks.json' }),
      'an x5u header pointing elsewhere': await signAs({ kid: 'mine', x5u: 'http://127.0.0.1:9/cert.pem' })
    }
    for (const [name, token] of Object.entries(forged)) {
      const res = await verifyEndpoint(app, token)
      t.ok(res.statusCode < 500, `${name}: no 5xx`)
      assertProblem(t, res, 401, 'token_invalid')
      t.equal((await me(app, token)).statusCode, 401, `${name}: refused on a protected route too`)
    }
  })
}

t.test('ACCESS_TOKEN_ALG=HS256: single-service mode, a kid on every token and an empty JWKS', async (t) => {
  const app = await appWith(t, { ACCESS_TOKEN_ALG: 'HS256', ACCESS_TOKEN_SECRET: HS_SECRET })
  const res = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { keys: [] }, 'nothing to publish: the key is a secret')
  const s = await register(app)
  const header = decodeHeader(s.tokens.access)
  t.match(header, { alg: 'HS256', typ: 'at+jwt', kid: /^[A-Za-z0-9_-]{43}$/ })
  const { payload } = await jwtVerify(s.tokens.access, Buffer.from(HS_SECRET), { issuer: TEST_ISSUER, audience: 'authd', typ: 'at+jwt', algorithms: ['HS256'] })
  t.equal(payload.sub, s.user.id, 'verifiable by whoever holds ACCESS_TOKEN_SECRET')
  t.equal((await me(app, s.tokens.access)).statusCode, 200)
  t.equal((await verifyEndpoint(app, s.tokens.access)).statusCode, 200)
  t.equal((await me(app, s.tokens.refresh)).statusCode, 401, 'a refresh token (also HS256, other secret) is no access token')
  const otherSecret = await new SignJWT(decodePayload(s.tokens.access)).setProtectedHeader(header as { alg: string }).sign(Buffer.from(`${HS_SECRET}!`))
  assertProblem(t, await verifyEndpoint(app, otherSecret), 401, 'token_invalid')
})

t.test('keys persist across a restart: a token of the first process verifies on the second', async (t) => {
  const dataDir = await tempDir(t)
  const first = await appWith(t, { DATA_DIR: dataDir, ACCESS_TOKEN_ALG: 'ES256' })
  const s = await register(first)
  const before = await jwks(first)
  await first.close()
  const second = await appWith(t, { DATA_DIR: dataDir, ACCESS_TOKEN_ALG: 'ES256' })
  t.same(await jwks(second), before, 'the same JWKS')
  t.equal(second.tokens.verifyAccess(s.tokens.access).sub, s.user.id, 'the second process verifies the first one\'s token')
  t.ok(await verifyWithJwks(second, s.tokens.access), 'and so does jose, from the second process\'s JWKS')
})

t.test('rotation: published at once, signing only from activatesAt, old tokens valid until pruned', async (t) => {
  const app = await appWith(t, { ACCESS_TOKEN_TTL: '300' })
  const [oldKid] = (await jwks(app)).keys.map((k) => k.kid)
  const before = await register(app)

  await keysCommand(app, ['rotate', '--activate-in', '3600'])
  t.equal(await app.tokens.accessKeys.reload(), true, 'the service reloads the changed directory')
  const set = await jwks(app)
  t.equal(set.keys.length, 2, 'JWKS: the current key and the pending one')
  const newKid = set.keys.map((k) => k.kid).find((kid) => kid !== oldKid) as string
  const pending = await register(app)
  t.equal(decodeHeader(pending.tokens.access).kid, oldKid, 'the pending key signs nothing yet')

  // Time passes: the new key's activation moment arrives.
  const file = path.join(app.config.DATA_DIR, 'keys', 'access', `${newKid}.json`)
  const stored = JSON.parse(await readFile(file, 'utf8')) as { activatesAt: string }
  const activatedAt = Date.now()
  await writeFile(file, JSON.stringify({ ...stored, activatesAt: new Date(activatedAt).toISOString() }))
  t.equal(await app.tokens.accessKeys.reload(), true)
  const after = await register(app)
  t.equal(decodeHeader(after.tokens.access).kid, newKid, 'the new key signs once active')
  t.equal((await me(app, before.tokens.access)).statusCode, 200, 'a token of the old key still verifies')
  t.ok(await verifyWithJwks(app, before.tokens.access), 'also for jose, from the JWKS')

  await keysCommand(app, ['prune'], activatedAt + (300 + 60) * 1000 - 1000)
  t.equal(await app.tokens.accessKeys.reload(), false, 'within ACCESS_TOKEN_TTL + 60 s of the switch nothing is pruned')
  await keysCommand(app, ['prune'], activatedAt + (300 + 60) * 1000 + 1000)
  t.equal(await app.tokens.accessKeys.reload(), true, 'after the window the old key goes')
  t.same((await jwks(app)).keys.map((k) => k.kid), [newKid], 'JWKS: the new key only')
  assertProblem(t, await verifyEndpoint(app, before.tokens.access), 401, 'token_invalid')
  t.equal((await me(app, after.tokens.access)).statusCode, 200)
})

t.test('a running service notices a rotation on its own (SIGNING_KEYS_RELOAD_INTERVAL)', async (t) => {
  const app = await appWith(t, { SIGNING_KEYS_RELOAD_INTERVAL: '1' })
  await keysCommand(app, ['rotate'])
  let published = 1
  // Waits for the periodic reload (1 s); the bound only stops a broken reload from hanging the test.
  for (let i = 0; i < 1200 && published < 2; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    published = (await jwks(app)).keys.length
  }
  t.equal(published, 2, 'the new key is published without a restart')
})

t.test('bad key configuration stops start-up with a ConfigError naming the variable', async (t) => {
  const start = async (env: Record<string, string>) => {
    const app = Fastify()
    t.teardown(async () => { await app.close() })
    await app.register(configPlugin, { config: testConfig(t, env) })
    await app.register(tokensPlugin)
    return app
  }
  for (const [env, variable] of [
    [{ SIGNING_KEYS: '{"keys": "none"}' }, 'SIGNING_KEYS'],
    [{ SIGNING_KEY_FILE: '/nonexistent/key.pem' }, 'SIGNING_KEY_FILE'],
    [{ SIGNING_KEYS_FILE: '/nonexistent/keys.json' }, 'SIGNING_KEYS_FILE']
  ] as const) {
    const error = await start(env).then(() => undefined, (e: unknown) => e)
    t.ok(error instanceof ConfigError, `${variable}: a ConfigError`)
    t.match((error as Error).message, new RegExp(`^Invalid signing keys:\\n  ${variable}: `))
  }
})
