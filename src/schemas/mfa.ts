import { Type } from 'typebox'
import { Password } from './common.js'
import { RecoveryCode, TotpCode } from './auth.js'
import { CredentialResponse } from './passkeys.js'

export const MfaStatus = Type.Object({
  totp: Type.Boolean({ description: 'A TOTP authenticator is enrolled and confirmed.' }),
  recoveryCodesLeft: Type.Integer({ description: 'Unused recovery codes.' }),
  passkeys: Type.Array(Type.Object({ id: Type.String(), name: Type.String(), createdAt: Type.String(), lastUsedAt: Type.Union([Type.String(), Type.Null()]) }), { description: 'The caller\'s passkeys (`POST /v1/users/me/passkeys`), oldest first.' })
}, { examples: [{ totp: true, recoveryCodesLeft: 9, passkeys: [{ id: '6f1c2a9e-3b1d-4c55-9a7e-2f0b8c1d4e5a', name: 'MacBook Touch ID', createdAt: '2026-11-27T10:00:00.000Z', lastUsedAt: null }] }] })

export const TotpEnrolment = Type.Object({
  secret: Type.String({ description: 'Base32 secret, for authenticators that cannot scan the URI.' }),
  otpauthUri: Type.String({ description: 'The `otpauth://totp/…` URI to show as a QR code.' })
}, { examples: [{ secret: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP', otpauthUri: 'otpauth://totp/app.example.com:ada%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=app.example.com&algorithm=SHA1&digits=6&period=30' }] })

export const CodeBody = Type.Object({ code: TotpCode }, { additionalProperties: false, examples: [{ code: '123456' }] })

export const RecoveryCodes = Type.Object({
  recoveryCodes: Type.Array(Type.String(), { description: 'Ten single-use codes, shown this once: each replaces a TOTP code once.' })
}, { examples: [{ recoveryCodes: ['k7m2p-9xq4t', 'a3c8d-2hj6n'] }] })

/** Exactly one of the four. */
export const ReauthenticateBody = Type.Object({
  password: Type.Optional(Password),
  code: Type.Optional(TotpCode),
  recoveryCode: Type.Optional(RecoveryCode),
  webauthn: Type.Optional(CredentialResponse('One of the caller\'s passkeys: what `navigator.credentials.get()` returned for the options of `POST …/auth/passkey/options`.'))
}, { additionalProperties: false, examples: [{ code: '123456' }] })
