// The access-key set below the HTTP layer: key formats, the active/pending/retiring rules and
// the prune window, the development directory (permissions, first key, the old PEM), the
// production sources (ConfigError naming the variable), reload on change, and `authd keys`.
import { generateKeyPairSync } from 'node:crypto'
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { ConfigError, parseConfig, type Config } from '../../src/config.js'
import { accessKeyFromJwk, generateAccessKey, toStoredJwk, type AccessKey } from '../../src/keys/access-key.js'
import { activeKey, keyStatuses, prunableKeys } from '../../src/keys/key-set.js'
import { formatKeySet, keySourceOf, readKeys, writeKeys } from '../../src/keys/key-sources.js'
import { openKeyStore } from '../../src/keys/key-store.js'
import { runKeysCommand } from '../../src/keys/keys-command.js'

const silentLog = { info () {}, warn () {}, error () {} } as never
const T0 = Date.parse('2030-01-01T00:00:00Z')
const at = (seconds: number) => new Date(T0 + seconds * 1000)
const TTL = 300

function config (env: Record<string, string>): Config {
  return parseConfig({ LOG_LEVEL: 'silent', ...env })
}

async function runKeys (args: string[], env: Record<string, string>, now = Date.now()) {
  const lines: { out: string[], err: string[] } = { out: [], err: [] }
  const code = await runKeysCommand(args, {
    loadConfig: () => config(env),
    out: (text) => lines.out.push(text),
    err: (text) => lines.err.push(text),
    now: () => now
  })
  return { code, out: lines.out.join('\n'), err: lines.err.join('\n') }
}

// A few keys made once: generating RSA keys is the slow part.
const rsa = await generateAccessKey('RS256', { createdAt: at(0), activatesAt: at(0) })
const es = await generateAccessKey('ES256', { createdAt: at(100), activatesAt: at(400) })
const ed = await generateAccessKey('EdDSA', { createdAt: at(1000), activatesAt: at(1300) })

t.test('each algorithm: kid is the RFC 7638 thumbprint, and the stored JWK reads back as the same key', async (t) => {
  for (const key of [rsa, es, ed]) {
    t.equal(key.kid, key.publicJwk?.kid)
    t.match(key.publicJwk, { kid: key.kid, alg: key.alg, use: 'sig' })
    for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi']) t.notOk(secret in (key.publicJwk ?? {}), `${key.alg} public JWK has no "${secret}"`)
    const back = await accessKeyFromJwk(toStoredJwk(key))
    t.equal(back.kid, key.kid, `${key.alg} kid survives storage`)
    t.equal(back.alg, key.alg)
    t.same([back.createdAt, back.activatesAt], [key.createdAt, key.activatesAt], 'times survive storage')
  }
  t.same([rsa.publicJwk?.kty, es.publicJwk?.kty, ed.publicJwk?.kty], ['RSA', 'EC', 'OKP'])
})

t.test('a JWK that is not a usable private signing key is refused with the reason', async (t) => {
  const stored = toStoredJwk(es)
  const { d: _d, ...publicOnly } = stored
  await t.rejects(accessKeyFromJwk(publicOnly), /not a private key/)
  await t.rejects(accessKeyFromJwk({ ...stored, kid: 'chosen-by-me' }), /kid must be absent or the RFC 7638 thumbprint/)
  await t.rejects(accessKeyFromJwk({ ...stored, alg: 'RS256' }), /alg RS256 does not match/)
  await t.rejects(accessKeyFromJwk({ kty: 'oct', k: 'c2VjcmV0' }), /symmetric/)
  await t.rejects(accessKeyFromJwk({ ...stored, activatesAt: 'soon' }), /activatesAt must be an ISO-8601 time/)
  const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'jwk' })
  await t.rejects(accessKeyFromJwk(small as Record<string, unknown>), /at least 2048 bits/)
  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ format: 'jwk' })
  await t.rejects(accessKeyFromJwk(p384 as Record<string, unknown>), /P-256/)
})

t.test('the newest activated key signs; pending keys wait; the replaced one is retiring', async (t) => {
  const keys = [ed, rsa, es] // any order
  t.equal(activeKey(keys, T0 + 1000)?.kid, rsa.kid, 'before es activates: rsa')
  t.equal(activeKey(keys, T0 + 400_000)?.kid, es.kid, 'from es.activatesAt on: es')
  t.equal(activeKey(keys, T0 + 1_300_000)?.kid, ed.kid, 'then ed')
  t.equal(activeKey(keys, T0 - 1), undefined, 'nothing before the first activation')
  const states = (now: number) => Object.fromEntries(keyStatuses(keys, now).map((s) => [s.key.alg, s.state]))
  t.same(states(T0 + 1000), { RS256: 'active', ES256: 'pending', EdDSA: 'pending' })
  t.same(states(T0 + 500_000), { RS256: 'retiring', ES256: 'active', EdDSA: 'pending' })
  t.same(keyStatuses(keys, T0 + 500_000)[0]?.retiredAt, es.activatesAt, 'retired when its successor activated')
})

t.test('prune drops a retiring key only once its successor has signed for longer than ACCESS_TOKEN_TTL + 60 s', async (t) => {
  const keys = [rsa, es]
  const window = (TTL + 60) * 1000
  const activation = es.activatesAt.getTime()
  t.same(prunableKeys(keys, activation - 1, TTL), [], 'rsa still active')
  t.same(prunableKeys(keys, activation + window, TTL), [], 'at the edge of the window: kept')
  t.same(prunableKeys(keys, activation + window + 1, TTL).map((k) => k.kid), [rsa.kid], 'after it: rsa goes')
  t.same(prunableKeys([rsa, es, ed], T0 + 10_000_000, TTL).map((k) => k.kid), [rsa.kid, es.kid], 'never the active key')
  t.same(prunableKeys([rsa], T0 + 10_000_000, TTL), [], 'a lone key is never pruned')
})

t.test('development: first start creates one key in DATA_DIR/keys/access (dir 0700, file 0600) and keeps it', async (t) => {
  const dir = t.testdir()
  const source = keySourceOf(config({ DATA_DIR: dir, ACCESS_TOKEN_ALG: 'ES256' }))
  const first = await openKeyStore({ source, alg: 'ES256', reloadInterval: 0, log: silentLog })
  const key = first.signingKey()
  t.equal(key.alg, 'ES256', 'ACCESS_TOKEN_ALG decides the first key')
  const keyDir = path.join(dir, 'keys', 'access')
  t.same(await readdir(keyDir), [`${key.kid}.json`])
  t.equal((await stat(keyDir)).mode & 0o777, 0o700, 'directory 0700')
  t.equal((await stat(path.join(keyDir, `${key.kid}.json`))).mode & 0o777, 0o600, 'key file 0600')
  const second = await openKeyStore({ source, alg: 'ES256', reloadInterval: 0, log: silentLog })
  t.equal(second.signingKey().kid, key.kid, 'the same key after a restart')
  t.same(second.keys().length, 1)
})

t.test('development: an access-rs256.pem of an older authd moves into the new layout and keeps signing', async (t) => {
  const dir = t.testdir()
  const pem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  await mkdir(path.join(dir, 'keys'), { recursive: true })
  await writeFile(path.join(dir, 'keys', 'access-rs256.pem'), pem, { mode: 0o600 })
  const source = keySourceOf(config({ DATA_DIR: dir }))
  const store = await openKeyStore({ source, alg: 'RS256', reloadInterval: 0, log: silentLog })
  const migrated = store.signingKey()
  t.equal(store.keys().length, 1, 'no second key was generated')
  t.same(await readdir(path.join(dir, 'keys', 'access')), [`${migrated.kid}.json`])
  t.same((await readdir(path.join(dir, 'keys'))).sort(), ['access'], 'the PEM is gone once the key is in the directory')
  const again = await openKeyStore({ source, alg: 'RS256', reloadInterval: 0, log: silentLog })
  t.equal(again.signingKey().kid, migrated.kid, 'and the same key signs after another restart')
})

t.test('production sources: SIGNING_KEYS_FILE, SIGNING_KEYS (JSON or PEM), SIGNING_KEY_FILE', async (t) => {
  const dir = t.testdir({ 'keys.json': formatKeySet([rsa, es]), 'key.pem': rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() })
  const fromFile = await readKeys(keySourceOf(config({ SIGNING_KEYS_FILE: path.join(dir, 'keys.json') })))
  t.same(fromFile.map((k) => k.kid), [rsa.kid, es.kid])
  const fromVariable = await readKeys(keySourceOf(config({ SIGNING_KEYS: formatKeySet([ed]) })))
  t.same(fromVariable.map((k) => [k.kid, k.alg]), [[ed.kid, 'EdDSA']])
  const escapedPem = (rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string).replaceAll('\n', '\\n')
  t.same((await readKeys(keySourceOf(config({ SIGNING_KEYS: escapedPem }))))[0]?.kid, rsa.kid, 'a PEM with escaped newlines in a variable')
  t.same((await readKeys(keySourceOf(config({ SIGNING_KEY_FILE: path.join(dir, 'key.pem') }))))[0]?.kid, rsa.kid)
})

t.test('bad key configuration stops start-up with a ConfigError naming the variable', async (t) => {
  const dir = t.testdir({ 'bad.json': '{"keys": []}', 'garbage.pem': 'not a key' })
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ SIGNING_KEYS: '{not json' }, /SIGNING_KEYS: not valid JSON/],
    [{ SIGNING_KEYS: '{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}' }, /SIGNING_KEYS: key 0: not a private key/],
    [{ SIGNING_KEYS_FILE: path.join(dir, 'bad.json') }, /SIGNING_KEYS_FILE: expected a private JWK set/],
    [{ SIGNING_KEYS_FILE: path.join(dir, 'missing.json') }, /SIGNING_KEYS_FILE: file not found/],
    [{ SIGNING_KEY_FILE: path.join(dir, 'garbage.pem') }, /SIGNING_KEY_FILE: /],
    [{ SIGNING_KEYS: formatKeySet([{ ...es, activatesAt: new Date(Date.now() + 3_600_000) }]) }, /SIGNING_KEYS: no key is active yet/]
  ]
  for (const [env, message] of cases) {
    const error = await openKeyStore({ source: keySourceOf(config(env)), alg: 'RS256', reloadInterval: 0, log: silentLog }).then(() => undefined, (e: unknown) => e)
    t.ok(error instanceof ConfigError, `a ConfigError for ${JSON.stringify(env).slice(0, 60)}`)
    t.match((error as Error).message, message)
  }
  const parseCases: Array<[Record<string, string>, RegExp]> = [
    [{ ACCESS_TOKEN_ALG: 'HS256' }, /ACCESS_TOKEN_SECRET: required when ACCESS_TOKEN_ALG=HS256/],
    [{ ACCESS_TOKEN_ALG: 'HS256', ACCESS_TOKEN_SECRET: 'short' }, /ACCESS_TOKEN_SECRET: must be at least 32 bytes/],
    [{ ACCESS_TOKEN_ALG: 'HS256', ACCESS_TOKEN_SECRET: 'x'.repeat(32), REFRESH_TOKEN_SECRET: 'x'.repeat(32) }, /ACCESS_TOKEN_SECRET: must differ from REFRESH_TOKEN_SECRET/],
    [{ ACCESS_TOKEN_ALG: 'HS256', ACCESS_TOKEN_SECRET: 'x'.repeat(32), SIGNING_KEYS: '{}' }, /SIGNING_KEYS: not used with ACCESS_TOKEN_ALG=HS256/],
    [{ ACCESS_TOKEN_SECRET: 'x'.repeat(32) }, /ACCESS_TOKEN_SECRET: only used with ACCESS_TOKEN_ALG=HS256/],
    [{ SIGNING_KEYS: '{}', SIGNING_KEY_FILE: 'a.pem' }, /SIGNING_KEYS, SIGNING_KEY_FILE: set only one of them/],
    [{ ACCESS_TOKEN_ALG: 'PS256' }, /ACCESS_TOKEN_ALG="PS256": must be one of RS256, ES256, EdDSA, HS256/]
  ]
  for (const [env, message] of parseCases) t.throws(() => config(env), message, JSON.stringify(env))
})

t.test('a running store picks up a changed directory on reload, and ignores a broken one', async (t) => {
  const dir = t.testdir()
  const env = { DATA_DIR: dir, ACCESS_TOKEN_TTL: String(TTL) }
  const source = keySourceOf(config(env))
  const store = await openKeyStore({ source, alg: 'RS256', reloadInterval: 0, log: silentLog })
  const first = store.signingKey()
  t.equal(await store.reload(), false, 'nothing changed: nothing re-read')

  t.equal((await runKeys(['rotate', '--activate-in', '3600'], env)).code, 0)
  t.equal(await store.reload(), true, 'the new key is seen')
  t.equal(store.keys().length, 2)
  t.equal(store.signingKey().kid, first.kid, 'the old key signs until the new one activates')
  t.equal(store.find(first.kid), first, 'an unchanged key keeps its object (and its verifier cache)')

  await writeFile(path.join(dir, 'keys', 'access', 'broken.json'), '{')
  t.equal(await store.reload(), false, 'a broken file is ignored…')
  t.equal(store.keys().length, 2, '…and the last good set kept')
})

t.test('authd keys: list, rotate, prune, --help', async (t) => {
  const dir = t.testdir()
  const env = { DATA_DIR: dir, ACCESS_TOKEN_TTL: String(TTL), ACCESS_TOKEN_ALG: 'EdDSA' }
  const source = keySourceOf(config(env))

  t.match((await runKeys(['list'], env)).out, /no keys yet/)
  const created = await runKeys(['rotate'], env, T0)
  t.equal(created.code, 0, created.err)
  const [firstKey] = await readKeys(source)
  t.equal(firstKey?.activatesAt.getTime(), T0, 'the very first key signs at once')

  const rotated = await runKeys(['rotate'], env, T0 + 1000)
  t.equal(rotated.code, 0)
  const keys = await readKeys(source)
  const second = keys.find((k) => k.kid !== firstKey?.kid) as AccessKey
  t.equal(second.activatesAt.getTime(), T0 + 1000 + 330_000, 'by default it signs after the JWKS max-age + the reload interval')
  t.match((await runKeys(['list'], env, T0 + 2000)).out, new RegExp(`${firstKey?.kid}\\s+EdDSA\\s+active[\\s\\S]*${second.kid}\\s+EdDSA\\s+pending`))
  t.match((await runKeys(['list'], env, second.activatesAt.getTime())).out, /retiring[\s\S]*active/)

  const early = second.activatesAt.getTime() + (TTL + 60) * 1000
  t.match((await runKeys(['prune'], env, early)).out, /nothing to prune/)
  t.equal((await readKeys(source)).length, 2, 'not within ACCESS_TOKEN_TTL + 60 s of the switch')
  const pruned = await runKeys(['prune'], env, early + 1000)
  t.match(pruned.out, new RegExp(`pruned ${firstKey?.kid}`))
  t.same((await readKeys(source)).map((k) => k.kid), [second.kid], 'after it, the old key is gone')

  const third = await runKeys(['rotate', '--activate-in', '60'], env, early + 2000)
  t.match(third.err, /warning: the new key signs in 60 s/, 'a delay shorter than the caches is allowed, with a warning')

  for (const command of ['list', 'rotate', 'prune']) {
    const help = await runKeys([command, '--help'], { ACCESS_TOKEN_SECRET: 'never read' })
    t.equal(help.code, 0)
    t.match(help.out, new RegExp(`^Usage: authd keys ${command}`), `${command} --help needs no config`)
  }
  t.equal((await runKeys(['--help'], env)).code, 0)
  t.equal((await runKeys(['shuffle'], env)).code, 2)
  t.equal((await runKeys(['list', '--activate-in', '3'], env)).code, 2, 'options belong to their command')
  t.equal((await runKeys(['rotate', '--activate-in', '-5'], env)).code, 2)
})

t.test('authd keys on sources authd cannot change: refuse, or print with --print', async (t) => {
  const env = { SIGNING_KEYS: formatKeySet([rsa]) }
  const refused = await runKeys(['rotate'], env)
  t.equal(refused.code, 1)
  t.match(refused.err, /SIGNING_KEYS cannot be changed by authd.*--print/)
  const printed = await runKeys(['rotate', '--print'], env, T0)
  t.equal(printed.code, 0, printed.err)
  const set = JSON.parse(printed.out) as { keys: Array<Record<string, unknown>> }
  t.equal(set.keys.length, 2, 'the old key and the new one')
  const newKey = await accessKeyFromJwk(set.keys[1] as Record<string, unknown>)
  t.equal(newKey.alg, 'ES256', 'the new key has the default ACCESS_TOKEN_ALG, whatever the old one was')
  t.equal(newKey.activatesAt.getTime(), T0 + 330_000)

  const hs = { ACCESS_TOKEN_ALG: 'HS256', ACCESS_TOKEN_SECRET: 'y'.repeat(40) }
  const hsRotate = await runKeys(['rotate', '--print'], hs)
  t.equal(hsRotate.code, 1)
  t.match(hsRotate.err, /HS256/)
  t.match((await runKeys(['list'], hs)).out, /HS256\s+active/)
})

t.test('rotate creates a missing SIGNING_KEYS_FILE with one key that signs at once', async (t) => {
  const file = path.join(t.testdir(), 'new-keys.json')
  const created = await runKeys(['rotate'], { SIGNING_KEYS_FILE: file }, T0)
  t.equal(created.code, 0, created.err)
  const keys = await readKeys(keySourceOf(config({ SIGNING_KEYS_FILE: file })))
  t.same(keys.map((k) => [k.alg, k.activatesAt.getTime()]), [['ES256', T0]])
  t.equal((await stat(file)).mode & 0o777, 0o600)
  t.equal((await runKeys(['prune'], { SIGNING_KEYS_FILE: `${file}.missing` })).code, 1, 'prune does not invent a file')
})

t.test('SIGNING_KEYS_FILE is rewritten in place by rotate (atomically, mode 0600)', async (t) => {
  const dir = t.testdir({ 'keys.json': formatKeySet([rsa]) })
  const file = path.join(dir, 'keys.json')
  const env = { SIGNING_KEYS_FILE: file }
  t.equal((await runKeys(['rotate'], env)).code, 0)
  t.equal((await readKeys(keySourceOf(config(env)))).length, 2)
  t.equal((await stat(file)).mode & 0o777, 0o600)
  t.same(await readdir(dir), ['keys.json'], 'no temporary file left behind')
  await writeKeys(keySourceOf(config(env)), [es])
  t.same((await readKeys(keySourceOf(config(env)))).map((k) => k.kid), [es.kid])
})
