import { Type } from 'typebox'
import { IdParams, IsoDateTime } from './common.js'

/** A credential as @simplewebauthn/browser's startRegistration / startAuthentication return it. Checked in depth by the passkey service. */
export const CredentialResponse = (description: string) => Type.Object({
  id: Type.String({ minLength: 1, maxLength: 1024, description: 'The credential id, base64url.' }),
  rawId: Type.String({ minLength: 1, maxLength: 1024 }),
  type: Type.Literal('public-key'),
  response: Type.Object({
    clientDataJSON: Type.String({ minLength: 1, maxLength: 8192 })
  }, { additionalProperties: true }),
  clientExtensionResults: Type.Object({}, { additionalProperties: true }),
  authenticatorAttachment: Type.Optional(Type.String({ maxLength: 32 }))
}, { additionalProperties: true, description })

export const PasskeyName = Type.String({ minLength: 1, maxLength: 64, pattern: '\\S', description: 'A name the user recognises the passkey by.' })

export const Passkey = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  createdAt: IsoDateTime,
  lastUsedAt: Type.Union([IsoDateTime, Type.Null()], { description: 'Its last login; null when never used to log in.' })
})

const EXAMPLE_PASSKEY = { id: '6f1c2a9e-3b1d-4c55-9a7e-2f0b8c1d4e5a', name: 'MacBook Touch ID', createdAt: '2026-11-27T10:00:00.000Z', lastUsedAt: null }

export const PasskeyCreated = Type.Object({ id: Type.String({ format: 'uuid' }), name: Type.String(), createdAt: IsoDateTime }, { examples: [{ id: EXAMPLE_PASSKEY.id, name: EXAMPLE_PASSKEY.name, createdAt: EXAMPLE_PASSKEY.createdAt }] })
export const PasskeyReply = Type.Object(Passkey.properties, { examples: [EXAMPLE_PASSKEY] })

export const PasskeyParams = IdParams('The passkey id (from GET /v1/users/me/mfa).')

export const RegisterPasskeyBody = Type.Object({
  name: Type.Optional(PasskeyName),
  response: CredentialResponse('What `navigator.credentials.create()` (or `startRegistration`) returned for the options.')
}, { additionalProperties: false, examples: [{ name: 'MacBook Touch ID', response: { id: 'x8Jq…', rawId: 'x8Jq…', type: 'public-key', response: { clientDataJSON: 'eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIn0', attestationObject: 'o2NmbXRk…', transports: ['internal'] }, clientExtensionResults: {} } }] })

export const RenamePasskeyBody = Type.Object({ name: PasskeyName }, { additionalProperties: false, examples: [{ name: 'Work laptop' }] })

export const PasskeyLoginBody = Type.Object({
  response: CredentialResponse('What `navigator.credentials.get()` (or `startAuthentication`) returned for the options.')
}, { additionalProperties: false, examples: [{ response: { id: 'x8Jq…', rawId: 'x8Jq…', type: 'public-key', response: { clientDataJSON: 'eyJ0eXBlIjoid2ViYXV0aG4uZ2V0In0', authenticatorData: 'SZYN5Y…', signature: 'MEUCIQ…', userHandle: 'NmYxYzJh…' }, clientExtensionResults: {} } }] })

/** WebAuthn options as JSON (W3C `PublicKeyCredentialCreationOptionsJSON`), for `startRegistration({ optionsJSON })`. */
export const CreationOptions = Type.Object({
  challenge: Type.String({ description: 'base64url; answer it once, within WEBAUTHN_CHALLENGE_TTL.' }),
  rp: Type.Object({ id: Type.Optional(Type.String()), name: Type.String() }),
  user: Type.Object({ id: Type.String(), name: Type.String(), displayName: Type.String() })
}, {
  additionalProperties: true,
  examples: [{
    challenge: 'mE4m2Kc3rZQm0b6s8v9v1Q',
    rp: { name: 'app.example.com', id: 'app.example.com' },
    user: { id: 'NmYxYzJh…', name: 'ada@example.com', displayName: 'Ada Lovelace' },
    pubKeyCredParams: [{ alg: -8, type: 'public-key' }, { alg: -7, type: 'public-key' }, { alg: -257, type: 'public-key' }],
    timeout: 300000,
    attestation: 'none',
    excludeCredentials: [],
    authenticatorSelection: { residentKey: 'required', userVerification: 'required', requireResidentKey: true },
    extensions: { credProps: true },
    hints: []
  }]
})

/** WebAuthn options as JSON (W3C `PublicKeyCredentialRequestOptionsJSON`), for `startAuthentication({ optionsJSON })`. */
export const RequestOptions = Type.Object({
  challenge: Type.String({ description: 'base64url; answer it once, within WEBAUTHN_CHALLENGE_TTL.' }),
  rpId: Type.Optional(Type.String())
}, {
  additionalProperties: true,
  examples: [{ rpId: 'app.example.com', challenge: 'q1n0Yb4mW2c8R5dZk3s7Aw', timeout: 300000, userVerification: 'required' }]
})
