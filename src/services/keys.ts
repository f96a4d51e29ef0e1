// Signing material. Access tokens are signed by a rotating set of keys (src/keys/) that other
// services verify through the JWKS; refresh tokens by an HMAC secret only authd knows, created
// on first start in DATA_DIR/keys/refresh-secret (or REFRESH_TOKEN_SECRET) and kept, so a
// restart does not log everyone out.
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { accessKeyFromPem, type AccessKey } from '../keys/access-key.js'

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

/** REFRESH_TOKEN_SECRET, or the one generated into DATA_DIR/keys/refresh-secret. */
export async function loadRefreshSecret (options: { dataDir: string, refreshSecret: string }): Promise<Buffer> {
  const secret = options.refreshSecret !== ''
    ? options.refreshSecret
    : (await readOrCreate(path.join(options.dataDir, 'keys', 'refresh-secret'), () => randomBytes(48).toString('base64url'))).trim()
  return Buffer.from(secret)
}
