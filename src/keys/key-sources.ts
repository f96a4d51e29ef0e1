// Where the access-key set lives, and how it is read, written and watched for changes:
// - development: one private-JWK file per key in DATA_DIR/keys/access/<kid>.json (dir 0700,
//   files 0600); the first key is created on first start, and a DATA_DIR/keys/access-rs256.pem
//   of an older authd is moved into it;
// - production: SIGNING_KEYS_FILE (a private JWK set), SIGNING_KEYS (the same JSON, or one PEM,
//   in a variable) or SIGNING_KEY_FILE (one PEM);
// - ACCESS_TOKEN_ALG=HS256: the one ACCESS_TOKEN_SECRET.
// A problem is a ConfigError naming the variable to fix.
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { ConfigError, type Config } from '../config.js'
import { accessKeyFromJwk, accessKeyFromPem, generateAccessKey, hs256AccessKey, toStoredJwk, type AccessKey, type AsymmetricAlg } from './access-key.js'

export type KeySource =
  | { kind: 'directory', variable: 'DATA_DIR', dir: string, legacyPem: string }
  | { kind: 'jwks-file', variable: 'SIGNING_KEYS_FILE', path: string }
  | { kind: 'variable', variable: 'SIGNING_KEYS', value: string }
  | { kind: 'pem-file', variable: 'SIGNING_KEY_FILE', path: string }
  | { kind: 'secret', variable: 'ACCESS_TOKEN_SECRET', secret: string }

type KeyConfig = Pick<Config, 'DATA_DIR' | 'ACCESS_TOKEN_ALG' | 'ACCESS_TOKEN_SECRET' | 'SIGNING_KEYS_FILE' | 'SIGNING_KEYS' | 'SIGNING_KEY_FILE'>

export function keySourceOf (config: KeyConfig): KeySource {
  if (config.ACCESS_TOKEN_ALG === 'HS256') return { kind: 'secret', variable: 'ACCESS_TOKEN_SECRET', secret: config.ACCESS_TOKEN_SECRET }
  if (config.SIGNING_KEYS_FILE !== '') return { kind: 'jwks-file', variable: 'SIGNING_KEYS_FILE', path: config.SIGNING_KEYS_FILE }
  if (config.SIGNING_KEYS !== '') return { kind: 'variable', variable: 'SIGNING_KEYS', value: config.SIGNING_KEYS }
  if (config.SIGNING_KEY_FILE !== '') return { kind: 'pem-file', variable: 'SIGNING_KEY_FILE', path: config.SIGNING_KEY_FILE }
  const keysDir = path.join(config.DATA_DIR, 'keys')
  return { kind: 'directory', variable: 'DATA_DIR', dir: path.join(keysDir, 'access'), legacyPem: path.join(keysDir, 'access-rs256.pem') }
}

/** Sources `authd keys rotate/prune` can change in place (the others are printed for the operator). */
export const isWritable = (source: KeySource): boolean => source.kind === 'directory' || source.kind === 'jwks-file'

/** Describes the source for messages: the variable and, for files, the path. */
export function describeSource (source: KeySource): string {
  switch (source.kind) {
    case 'directory': return `DATA_DIR (${source.dir})`
    case 'jwks-file': case 'pem-file': return `${source.variable} (${source.path})`
    default: return source.variable
  }
}

const isMissing = (error: unknown) => (error as NodeJS.ErrnoException).code === 'ENOENT'

/** The keys as a private JWK set, the format of SIGNING_KEYS_FILE and SIGNING_KEYS. */
export function formatKeySet (keys: readonly AccessKey[]): string {
  return `${JSON.stringify({ keys: keys.map(toStoredJwk) }, null, 2)}\n`
}

async function parseKeySet (text: string): Promise<AccessKey[]> {
  let set: unknown
  try {
    set = JSON.parse(text)
  } catch {
    throw new Error('not valid JSON (expected a private JWK set { "keys": [ … ] } or a PEM private key)')
  }
  const list = (set as { keys?: unknown } | null)?.keys
  if (!Array.isArray(list) || list.length === 0) throw new Error('expected a private JWK set { "keys": [ … ] } with at least one key')
  const keys: AccessKey[] = []
  for (const [i, jwk] of list.entries()) {
    try {
      keys.push(await accessKeyFromJwk(jwk as Record<string, unknown>))
    } catch (error) {
      throw new Error(`key ${i}: ${(error as Error).message}`)
    }
  }
  const kids = new Set(keys.map((k) => k.kid))
  if (kids.size !== keys.length) throw new Error('the same key appears twice')
  return keys
}

/** Writes a file atomically (temporary file + rename), readable by the owner only. */
async function writePrivateFile (file: string, content: string): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`)
  await writeFile(tmp, content, { mode: 0o600, flag: 'wx' })
  try {
    await rename(tmp, file)
  } catch (error) {
    await rm(tmp, { force: true })
    throw error
  }
}

const keyFile = (dir: string, kid: string) => path.join(dir, `${kid}.json`)

async function writeKeyFile (dir: string, key: AccessKey): Promise<void> {
  await writePrivateFile(keyFile(dir, key.kid), `${JSON.stringify(toStoredJwk(key), null, 2)}\n`)
}

async function keyFileNames (dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((name) => name.endsWith('.json') && !name.startsWith('.')).sort()
  } catch (error) {
    if (isMissing(error)) return []
    throw error
  }
}

/** An access-rs256.pem of an older authd becomes the first key of the directory (already active). */
async function migrateLegacyPem (source: Extract<KeySource, { kind: 'directory' }>): Promise<void> {
  let pem: string
  try {
    pem = await readFile(source.legacyPem, 'utf8')
  } catch (error) {
    if (isMissing(error)) return
    throw error
  }
  const { mtime } = await stat(source.legacyPem)
  const key = await accessKeyFromPem(pem, { createdAt: mtime, activatesAt: new Date(0) })
  await writeKeyFile(source.dir, key)
  // Only once the key is safely in the directory; left in place it would come back after a prune.
  await rm(source.legacyPem, { force: true })
}

async function readDirectory (source: Extract<KeySource, { kind: 'directory' }>, create?: { alg: AsymmetricAlg, now: number }): Promise<AccessKey[]> {
  if (create !== undefined) {
    await mkdir(source.dir, { recursive: true, mode: 0o700 })
    await migrateLegacyPem(source)
  }
  const keys: AccessKey[] = []
  for (const name of await keyFileNames(source.dir)) {
    const where = path.join(source.dir, name)
    try {
      const key = await accessKeyFromJwk(JSON.parse(await readFile(where, 'utf8')) as Record<string, unknown>)
      if (name !== `${key.kid}.json`) throw new Error(`must be named ${key.kid}.json`)
      keys.push(key)
    } catch (error) {
      throw new Error(`${where}: ${(error as Error).message}`)
    }
  }
  if (keys.length === 0 && create !== undefined) {
    const now = new Date(create.now)
    const key = await generateAccessKey(create.alg, { createdAt: now, activatesAt: now })
    await writeKeyFile(source.dir, key)
    keys.push(key)
  }
  return keys
}

async function readSource (source: KeySource, create?: { alg: AsymmetricAlg, now: number }): Promise<AccessKey[]> {
  switch (source.kind) {
    case 'directory': return await readDirectory(source, create)
    case 'jwks-file': return await parseKeySet(await readFile(source.path, 'utf8'))
    case 'pem-file': return [await accessKeyFromPem(await readFile(source.path, 'utf8'))]
    case 'variable': {
      const value = source.value.trim()
      // A PEM pasted into a variable often arrives with its newlines escaped.
      return value.startsWith('-----BEGIN') ? [await accessKeyFromPem(value.replaceAll('\\n', '\n'))] : await parseKeySet(value)
    }
    case 'secret': return [await hs256AccessKey(source.secret)]
  }
}

/**
 * Reads the key set. With `create`, a missing development directory is made, an old PEM moved
 * into it, and a first key of `create.alg` generated when it holds none.
 */
export async function readKeys (source: KeySource, create?: { alg: AsymmetricAlg, now: number }): Promise<AccessKey[]> {
  try {
    return await readSource(source, create)
  } catch (error) {
    const message = isMissing(error) ? `file not found: ${(error as NodeJS.ErrnoException).path ?? ''}` : (error as Error).message
    throw new ConfigError(`Invalid signing keys:\n  ${source.variable}: ${message}`)
  }
}

/** Replaces the stored set by `keys` (directory: adds and removes files; file: rewritten atomically). */
export async function writeKeys (source: KeySource, keys: readonly AccessKey[]): Promise<void> {
  if (source.kind === 'jwks-file') return await writePrivateFile(source.path, formatKeySet(keys))
  if (source.kind !== 'directory') throw new Error(`${source.variable} cannot be written by authd`)
  await mkdir(source.dir, { recursive: true, mode: 0o700 })
  const existing = new Set(await keyFileNames(source.dir))
  for (const key of keys) if (!existing.has(`${key.kid}.json`)) await writeKeyFile(source.dir, key)
  const kept = new Set(keys.map((k) => `${k.kid}.json`))
  for (const name of existing) if (!kept.has(name)) await rm(path.join(source.dir, name), { force: true })
}

/** The files the set is read from (none for a variable or a secret). */
export async function keyFilesOf (source: KeySource): Promise<string[]> {
  switch (source.kind) {
    case 'directory': return (await keyFileNames(source.dir)).map((name) => path.join(source.dir, name))
    case 'jwks-file': case 'pem-file': return [source.path]
    default: return []
  }
}

/**
 * Changes whenever the stored set may have changed (names, sizes, mtimes and modes of the files;
 * a chmod alone changes no mtime, but it can make a file unacceptable, see file-mode.ts);
 * comparing it every few seconds costs a stat, not a parse.
 */
export async function keysFingerprint (source: KeySource): Promise<string> {
  const statOf = async (file: string) => {
    try {
      const s = await stat(file)
      return `${s.ino}:${s.size}:${s.mtimeMs}:${s.mode}`
    } catch (error) {
      if (isMissing(error)) return 'missing'
      throw error
    }
  }
  switch (source.kind) {
    case 'directory': {
      const names = await keyFileNames(source.dir)
      const parts = await Promise.all(names.map(async (name) => `${name}=${await statOf(path.join(source.dir, name))}`))
      return parts.join(',')
    }
    case 'jwks-file': case 'pem-file': return await statOf(source.path)
    default: return 'static'
  }
}
