// Signing material. Access tokens are signed with an RSA key (RS256) that other services
// verify through the JWKS; refresh tokens with an HMAC secret only authd knows.
// In development both are created on first start in DATA_DIR/keys and kept, so a restart
// does not log everyone out. In production point SIGNING_KEY_FILE / REFRESH_TOKEN_SECRET at them.
import { createPrivateKey, createPublicKey, generateKeyPair, randomBytes, type KeyObject } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { calculateJwkThumbprint, exportJWK, type JWK } from 'jose'

export interface SigningKey {
  kid: string
  alg: 'RS256'
  privateKey: KeyObject
  publicKeyPem: string
  publicJwk: JWK & { kid: string, alg: string, kty: string, use: string }
}

export interface KeyMaterial {
  access: SigningKey
  refreshSecret: Buffer
}

async function readOrCreate (file: string, create: () => Promise<string>): Promise<string> {
  try {
    return await readFile(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    const content = await create()
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

export async function signingKeyFromPem (pem: string): Promise<SigningKey> {
  const privateKey = createPrivateKey(pem)
  if (privateKey.asymmetricKeyType !== 'rsa') throw new Error('SIGNING_KEY_FILE must hold an RSA private key')
  const publicKey = createPublicKey(privateKey)
  const publicJwk = await exportJWK(publicKey)
  const kid = await calculateJwkThumbprint(publicJwk)
  return {
    kid,
    alg: 'RS256',
    privateKey,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    publicJwk: { ...publicJwk, kty: 'RSA', kid, alg: 'RS256', use: 'sig' }
  }
}

export async function loadKeyMaterial (options: { dataDir: string, signingKeyFile: string, refreshSecret: string }): Promise<KeyMaterial> {
  const keyDir = path.join(options.dataDir, 'keys')
  const pem = options.signingKeyFile !== ''
    ? await readFile(options.signingKeyFile, 'utf8')
    : await readOrCreate(path.join(keyDir, 'access-rs256.pem'), async () => {
      const { privateKey } = await promisify(generateKeyPair)('rsa', { modulusLength: 2048 })
      return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
    })
  const refreshSecret = options.refreshSecret !== ''
    ? options.refreshSecret
    : (await readOrCreate(path.join(keyDir, 'refresh-secret'), async () => randomBytes(48).toString('base64url'))).trim()
  return { access: await signingKeyFromPem(pem), refreshSecret: Buffer.from(refreshSecret) }
}
