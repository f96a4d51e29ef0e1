// The access-key set below the HTTP layer: key formats, the active/pending/retiring rules and
// the prune window, the development directory (permissions, first key, the old PEM), the
// production sources (ConfigError naming the variable), reload on change, and `authd keys`.
import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { chmod, mkdir, readdir, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { calculateJwkThumbprint } from 'jose'
import t, { type Test } from 'tap'
import { ConfigError, parseConfig, type Config } from '../../../src/config.js'
import { accessKeyFromJwk, generateAccessKey, hs256AccessKey, toStoredJwk, type AccessKey } from '../../../src/keys/access-key.js'
import { keyFileModeProblem } from '../../../src/keys/file-mode.js'
import { signJws } from '../../../src/keys/jws-sign.js'
import { activeKey, keyStatuses, prunableKeys } from '../../../src/keys/key-set.js'
import { formatKeySet, keySourceOf, readKeys, writeKeys } from '../../../src/keys/key-sources.js'
import { openKeyStore, type AccessKeyStore } from '../../../src/keys/key-store.js'
import { runKeysCommand } from '../../../src/keys/keys-command.js'
import { Writable } from 'node:stream'
import { buildApp } from '../../../src/app.js'
import { openDatabase } from '../../../src/db/database.js'
import { loadRefreshSecret } from '../../../src/services/keys.js'
import { ACCESS_TYP, createTokenService } from '../../../src/services/token-service.js'
import { pgliteTemplate } from '../../pglite-template.js'

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

/** A logger that keeps what it was told (the key store reports through it). */
function recordingLog () {
  const lines: { warn: string[], error: string[] } = { warn: [], error: [] }
  const text = (args: unknown[]) => args.map((a) => a instanceof Object && 'err' in a ? String((a as { err: Error }).err.message) : String(a)).join(' ')
  return { lines, log: { info () {}, warn: (...args: unknown[]) => { lines.warn.push(text(args)) }, error: (...args: unknown[]) => { lines.error.push(text(args)) } } as never }
}

// Keys that sign now (the ones above activate in 2030).
const current = await generateAccessKey('ES256', { createdAt: new Date(0), activatesAt: new Date(0) })
const next = await generateAccessKey('ES256', { createdAt: new Date(1000), activatesAt: new Date(1000) })
const currentPem = current.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()

t.test('key file modes: nothing for other users; the group only of a root-owned file, and only to read', async (t) => {
  const problem = (mode: number, uid = 1000) => keyFileModeProblem({ mode: 0o100000 | mode, uid })
  for (const mode of [0o600, 0o400, 0o700]) t.equal(problem(mode), undefined, `${mode.toString(8)} is private`)
  for (const mode of [0o644, 0o604, 0o602, 0o601, 0o666]) t.match(problem(mode), /open to every user of the machine/, `${mode.toString(8)} is refused`)
  for (const mode of [0o640, 0o620, 0o610, 0o660]) t.match(problem(mode), /open to its group/, `${mode.toString(8)}, not root's: refused`)
  // A Kubernetes secret volume with fsGroup: root-owned, group-readable.
  t.equal(problem(0o440, 0), undefined, '0440 owned by root')
  t.equal(problem(0o640, 0), undefined, '0640 owned by root')
  t.match(problem(0o660, 0), /open to its group/, 'root\'s file, group may write: refused')
  t.match(problem(0o644, 0), /open to every user/, 'root\'s file, others may read: refused')
  t.match(problem(0o644), /mode 0644/, 'the message shows the mode')
})

t.test('production refuses key files others may read; elsewhere they are warned about', async (t) => {
  const dir = t.testdir({ 'keys.json': formatKeySet([current]), 'key.pem': currentPem })
  for (const [variable, file] of [['SIGNING_KEYS_FILE', 'keys.json'], ['SIGNING_KEY_FILE', 'key.pem']] as const) {
    const where = path.join(dir, file)
    const source = keySourceOf(config({ [variable]: where }))
    await chmod(where, 0o644)
    const error = await openKeyStore({ source, alg: 'ES256', reloadInterval: 0, log: silentLog, fileModes: 'refuse' }).then(() => undefined, (e: unknown) => e)
    t.ok(error instanceof ConfigError, `${variable}: a ConfigError stops the start`)
    t.match((error as Error).message, new RegExp(`${variable}: ${where} is open to every user of the machine \\(mode 0644\\).*chmod 600 ${where}`))

    const { lines, log } = recordingLog()
    const store = await openKeyStore({ source, alg: 'ES256', reloadInterval: 0, log, fileModes: 'warn' })
    t.equal(store.signingKey().kid, current.kid, `${variable}: development starts with it…`)
    t.match(lines.warn, [new RegExp(`${variable}: ${where} is open to every user.*production would refuse it`)], '…and warns')

    await chmod(where, 0o600)
    const quiet = recordingLog()
    t.equal((await openKeyStore({ source, alg: 'ES256', reloadInterval: 0, log: quiet.log, fileModes: 'refuse' })).signingKey().kid, current.kid, `${variable}: 0600 is accepted`)
    t.same(quiet.lines.warn, [])
  }
})

t.test('production with ALLOW_GENERATED_KEYS: the files in DATA_DIR/keys are checked too', async (t) => {
  const dir = t.testdir()
  const source = keySourceOf(config({ DATA_DIR: dir }))
  const first = await openKeyStore({ source, alg: 'ES256', reloadInterval: 0, log: silentLog, fileModes: 'refuse' })
  const file = path.join(dir, 'keys', 'access', `${first.signingKey().kid}.json`)
  await chmod(file, 0o604)
  await t.rejects(openKeyStore({ source, alg: 'ES256', reloadInterval: 0, log: silentLog, fileModes: 'refuse' }), new RegExp(`DATA_DIR: ${file} is open to every user`))

  const secretFile = path.join(dir, 'keys', 'refresh-secret')
  const secret = await loadRefreshSecret({ dataDir: dir, refreshSecret: '', fileModes: 'refuse' })
  t.equal((await stat(secretFile)).mode & 0o777, 0o600, 'a generated refresh secret is 0600')
  t.same(await loadRefreshSecret({ dataDir: dir, refreshSecret: '', fileModes: 'refuse' }), secret, 'and read back')
  await chmod(secretFile, 0o644)
  await t.rejects(loadRefreshSecret({ dataDir: dir, refreshSecret: '', fileModes: 'refuse' }), new RegExp(`DATA_DIR: ${secretFile} is open to every user.*chmod 600`))
  const { lines, log } = recordingLog()
  t.same(await loadRefreshSecret({ dataDir: dir, refreshSecret: '', fileModes: 'warn', log }), secret, 'development reads it…')
  t.match(lines.warn, [/refresh-secret is open to every user/], '…with a warning')
  t.same(await loadRefreshSecret({ dataDir: dir, refreshSecret: 'c'.repeat(32), fileModes: 'refuse' }), Buffer.from('c'.repeat(32)), 'REFRESH_TOKEN_SECRET: no file to check')
})

t.test('a reload that finds an exposed key file keeps the current keys and logs an error', async (t) => {
  const dir = t.testdir({ 'keys.json': formatKeySet([current]) })
  const file = path.join(dir, 'keys.json')
  await chmod(file, 0o600)
  const { lines, log } = recordingLog()
  const store = await openKeyStore({ source: keySourceOf(config({ SIGNING_KEYS_FILE: file })), alg: 'ES256', reloadInterval: 0, log, fileModes: 'refuse' })

  await writeFile(file, formatKeySet([current, next]))
  await chmod(file, 0o644)
  t.equal(await store.reload(), false, 'not reloaded')
  t.same(store.keys().map((k) => k.kid), [current.kid], 'the last good set stays')
  t.match(lines.error, [/open to every user.*chmod 600/], 'the reason is logged as an error')

  // A chmod alone changes no mtime: the fingerprint includes the mode, so the fix is seen.
  await chmod(file, 0o600)
  t.equal(await store.reload(), true, 'reloaded once the file is private')
  t.same(store.keys().map((k) => k.kid), [current.kid, next.kid])
  // And the other way round: making a loaded file public is noticed at the next reload.
  await chmod(file, 0o640 | 0o004)
  t.equal(await store.reload(), false)
  t.equal(lines.error.length, 2, 'logged again')
})

t.test('authd keys warns about an exposed key file (the service refuses it in production)', async (t) => {
  const file = path.join(t.testdir({ 'keys.json': formatKeySet([rsa]) }), 'keys.json')
  await chmod(file, 0o644)
  const listed = await runKeys(['list'], { SIGNING_KEYS_FILE: file })
  t.equal(listed.code, 0)
  t.match(listed.err, new RegExp(`warning: SIGNING_KEYS_FILE: ${file} is open to every user.*chmod 600`))
  const rotated = await runKeys(['rotate'], { SIGNING_KEYS_FILE: file })
  t.equal(rotated.code, 0)
  t.equal((await stat(file)).mode & 0o777, 0o600, 'rotate rewrites the file 0600')
  t.notMatch((await runKeys(['list'], { SIGNING_KEYS_FILE: file })).err, /warning/, 'no warning once private')
})

t.test('HS256: the kid is random, not derived from the secret', async (t) => {
  const secret = 'h'.repeat(40)
  const one = await hs256AccessKey(secret)
  const two = await hs256AccessKey(secret)
  t.not(one.kid, two.kid, 'two loads of one secret: two kids')
  t.match(one.kid, /^[A-Za-z0-9_-]{43}$/, 'shaped like a thumbprint kid')
  t.not(one.kid, await calculateJwkThumbprint({ kty: 'oct', k: Buffer.from(secret).toString('base64url') }), 'not the RFC 7638 thumbprint of the secret')
  t.equal(one.publicJwk, undefined, 'never published')
})

t.test('HS256: a token signed under another kid with the same secret verifies (restart, another instance)', async (t) => {
  const secret = 'h'.repeat(40)
  const env = { ACCESS_TOKEN_ALG: 'HS256', ACCESS_TOKEN_SECRET: secret }
  const open = async () => await openKeyStore({ source: keySourceOf(config(env)), alg: 'HS256', reloadInterval: 0, log: silentLog, fileModes: 'refuse' })
  const before = await open()
  const after = await open() // the same secret loaded again: a restart, or a second instance
  t.not(before.signingKey().kid, after.signingKey().kid, 'each load has its own kid')

  const service = (accessKeys: AccessKeyStore) => createTokenService({
    accessKeys, refreshJwt: { sign: () => '', verify: () => ({}) }, issuer: 'authd', acceptedIssuers: ['authd'], audiences: ['authd'], accessTtl: 300, refreshTtl: 3600
  })
  const user = { id: randomUUID(), roles: ['user'] }
  const token = await service(before).signAccess(user, randomUUID())
  t.equal(service(after).verifyAccess(token).sub, user.id, 'verified by the restarted store')
  t.equal(service(before).verifyAccess(token).sub, user.id, 'and by its own')

  // Only the secret decides: the same claims under another secret, or another algorithm, fail.
  const now = Math.floor(Date.now() / 1000)
  const claims = { iss: 'authd', aud: 'authd', sub: user.id, sid: randomUUID(), jti: randomUUID(), iat: now, exp: now + 300, roles: [] }
  const other = await hs256AccessKey('o'.repeat(40))
  const forged = await signJws(other, { alg: 'HS256', kid: after.signingKey().kid, typ: ACCESS_TYP }, claims)
  t.throws(() => service(after).verifyAccess(forged), { code: 'token_invalid' }, 'another secret, even under the current kid')
  const rsaToken = await signJws(rsa, { alg: 'RS256', kid: 'anything', typ: ACCESS_TYP }, claims)
  t.throws(() => service(after).verifyAccess(rsaToken), { code: 'token_invalid' }, 'an RS256 token under an unknown kid')
  const noKid = await signJws(await hs256AccessKey(secret), { alg: 'HS256', typ: ACCESS_TYP }, claims)
  t.throws(() => service(after).verifyAccess(noKid), { code: 'token_invalid' }, 'a token without a kid is not authd\'s')
})

/** authd as `authd serve` builds it (keys from the configuration, not the tests' fixed ones), its warnings in `lines`. */
async function startProduction (t: Test, dataDir: string, env: Record<string, string>, lines: string[] = []) {
  const config = parseConfig({ NODE_ENV: 'production', EMAIL_VERIFICATION: 'none', PUBLIC_URL: 'https://auth.example.com', BCRYPT_COST: '4', DATA_DIR: dataDir, ...env })
  const database = await openDatabase({ url: 'memory://', dataDir: config.DATA_DIR, poolSize: 1, migrate: true, pgliteTemplate: await pgliteTemplate() })
  t.teardown(async () => await database.close())
  const stream = new Writable({ write (chunk: Buffer, _encoding, done) { lines.push(chunk.toString('utf8')); done() } })
  const app = await buildApp(config, { database, fastify: { logger: { level: 'warn', stream } } })
  t.teardown(async () => await app.close())
  await app.ready()
  return { app, config }
}

t.test('production start: an exposed SIGNING_KEYS_FILE stops it; ALLOW_GENERATED_KEYS=true starts with a warning', async (t) => {
  const dir = t.testdir({ 'keys.json': formatKeySet([current]), one: {}, two: {} })
  const file = path.join(dir, 'keys.json')
  await chmod(file, 0o644)
  const refresh = { REFRESH_TOKEN_SECRET: 'r'.repeat(48) }
  await t.rejects(startProduction(t, path.join(dir, 'one'), { SIGNING_KEYS_FILE: file, ...refresh }), new RegExp(`SIGNING_KEYS_FILE: ${file} is open to every user.*chmod 600`))
  await chmod(file, 0o600)
  const { app } = await startProduction(t, path.join(dir, 'one'), { SIGNING_KEYS_FILE: file, ...refresh })
  t.equal(app.tokens.accessKeys.signingKey().kid, current.kid, 'a private file is used')

  const lines: string[] = []
  await startProduction(t, path.join(dir, 'two'), { ALLOW_GENERATED_KEYS: 'true' }, lines)
  const keyDir = path.join(dir, 'two', 'keys')
  t.same((await readdir(keyDir)).sort(), ['access', 'refresh-secret'], 'keys generated into DATA_DIR/keys')
  t.match(lines.join(''), /ALLOW_GENERATED_KEYS=true: signing keys generated into .*keys are in use/, 'and the log says what that costs')
  t.notMatch(lines.join(''), /open to every user/, 'generated files are private')
})
