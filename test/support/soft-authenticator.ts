// A software WebAuthn authenticator (ES256, attestation "none"), for the passkey tests that
// need real, verifiable responses without a browser — and that a browser would never send:
// a replayed assertion, a counter that does not grow (a clone), a foreign origin, no user
// verification, a user handle naming someone else. The real-browser proof is
// test/browser/passkeys.e2e.ts.
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto'
import { isoCBOR } from '@simplewebauthn/server/helpers'

const b64url = (bytes: Uint8Array | string) => Buffer.from(bytes).toString('base64url')

export interface SoftAuthenticatorOptions {
  rpId?: string
  origin?: string
  /** Flags: user verified (default true), backed up / synced (default false). */
  userVerified?: boolean
  backedUp?: boolean
}

export function softAuthenticator (defaults: SoftAuthenticatorOptions = {}) {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const credentialId = randomBytes(16)
  let counter = 0
  let userHandle = ''

  function coseKey (key: KeyObject): Uint8Array {
    const jwk = key.export({ format: 'jwk' })
    return isoCBOR.encode(new Map<number, number | Uint8Array>([
      [1, 2], [3, -7], [-1, 1],
      [-2, Buffer.from(jwk.x ?? '', 'base64url')],
      [-3, Buffer.from(jwk.y ?? '', 'base64url')]
    ]))
  }

  function authData (options: SoftAuthenticatorOptions, signCount: number, attested: boolean): Buffer {
    const uv = options.userVerified ?? defaults.userVerified ?? true
    const backedUp = options.backedUp ?? defaults.backedUp ?? false
    // UP, UV, BE+BS (backup eligible and state), AT (attested credential data follows)
    const flags = 0x01 | (uv ? 0x04 : 0) | (backedUp ? 0x18 : 0) | (attested ? 0x40 : 0)
    const count = Buffer.alloc(4)
    count.writeUInt32BE(signCount)
    const parts = [createHash('sha256').update(options.rpId ?? defaults.rpId ?? 'localhost').digest(), Buffer.from([flags]), count]
    if (attested) {
      const length = Buffer.alloc(2)
      length.writeUInt16BE(credentialId.length)
      parts.push(Buffer.alloc(16), length, credentialId, Buffer.from(coseKey(publicKey)))
    }
    return Buffer.concat(parts)
  }

  const clientData = (type: string, challenge: string, options: SoftAuthenticatorOptions) =>
    Buffer.from(JSON.stringify({ type, challenge, origin: options.origin ?? defaults.origin ?? 'http://localhost:5173', crossOrigin: false }))

  return {
    credentialId: b64url(credentialId),

    /** navigator.credentials.create() for `options` (the JSON of POST …/passkeys/options). */
    create (options: { challenge: string, user: { id: string } }, overrides: SoftAuthenticatorOptions = {}) {
      userHandle = options.user.id
      const attestationObject = isoCBOR.encode(new Map<string, unknown>([['fmt', 'none'], ['attStmt', new Map()], ['authData', authData(overrides, counter, true)]]) as never)
      return {
        id: b64url(credentialId),
        rawId: b64url(credentialId),
        type: 'public-key',
        response: { clientDataJSON: b64url(clientData('webauthn.create', options.challenge, overrides)), attestationObject: b64url(attestationObject), transports: ['internal'] },
        clientExtensionResults: {},
        authenticatorAttachment: 'platform'
      }
    },

    /**
     * navigator.credentials.get() for `options` (the JSON of POST …/auth/passkey/options).
     * `counter`: the signature counter to report (default: one more than the last).
     */
    get (options: { challenge: string }, overrides: SoftAuthenticatorOptions & { counter?: number, userHandle?: string } = {}) {
      counter = overrides.counter ?? counter + 1
      const data = authData(overrides, counter, false)
      const client = clientData('webauthn.get', options.challenge, overrides)
      const signature = sign('sha256', Buffer.concat([data, createHash('sha256').update(client).digest()]), privateKey)
      return {
        id: b64url(credentialId),
        rawId: b64url(credentialId),
        type: 'public-key',
        response: { clientDataJSON: b64url(client), authenticatorData: b64url(data), signature: b64url(signature), userHandle: overrides.userHandle ?? userHandle },
        clientExtensionResults: {},
        authenticatorAttachment: 'platform'
      }
    }
  }
}
