// Signing material. Access tokens are signed by a rotating set of keys (src/keys/) that other
// services verify through the JWKS; refresh tokens by an HMAC secret only authd knows, created
// on first start in DATA_DIR/keys/refresh-secret (or REFRESH_TOKEN_SECRET) and kept, so a
// restart does not log everyone out. (NODE_ENV=production generates nothing unless
// ALLOW_GENERATED_KEYS=true: config.ts.)
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { FastifyBaseLogger } from 'fastify'
import { accessKeyFromPem, type AccessKey } from '../keys/access-key.js'
import { enforceKeyFileModes } from '../keys/file-mode.js'

/** Fixed signing material (tests): one access key that is always active, and the refresh secret. */
export interface KeyMaterial {
  access: AccessKey
  refreshSecret: Buffer
}

/** An access key from a PEM private key, active since forever. */
export async function signingKeyFromPem (pem: string): Promise<AccessKey> {
  return await accessKeyFromPem(pem)
}

async function readOrCreate (file: string, create: () => string): Promise<string> {
  try {
    return await readFile(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    const content = create()
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 })
    // 'wx' fails if another process created it meanwhile; then read theirs.
    try {
      await writeFile(file, content, { mode: 0o600, flag: 'wx' })
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      return await readFile(file, 'utf8')
    }
    return content
  }
}

export interface RefreshSecretOptions {
  dataDir: string
  /** REFRESH_TOKEN_SECRET; empty = the generated file. */
  refreshSecret: string
  /** A generated file others may read: 'refuse' (NODE_ENV=production) or 'warn' (the default). */
  fileModes?: 'refuse' | 'warn'
  log?: Pick<FastifyBaseLogger, 'warn'>
}

/** REFRESH_TOKEN_SECRET, or the one generated into DATA_DIR/keys/refresh-secret. */
export async function loadRefreshSecret (options: RefreshSecretOptions): Promise<Buffer> {
  if (options.refreshSecret !== '') return Buffer.from(options.refreshSecret)
  const file = path.join(options.dataDir, 'keys', 'refresh-secret')
  const secret = (await readOrCreate(file, () => randomBytes(48).toString('base64url'))).trim()
  // Created 0600 here, but an existing file may have been copied or restored with other modes.
  await enforceKeyFileModes([file], { variable: 'DATA_DIR', what: 'refresh-token secret', policy: options.fileModes, log: options.log })
  return Buffer.from(secret)
}
