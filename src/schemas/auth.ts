import { Type, type Static } from 'typebox'
import { Password } from './common.js'
import { CredentialResponse } from './passkeys.js'
import { EXAMPLE_ACCESS, EXAMPLE_APP_TOKENS, EXAMPLE_BROWSER_TOKENS, EXAMPLE_DEVICE_TOKEN, EXAMPLE_PASSWORD, EXAMPLE_REFRESH, EXAMPLE_USER } from './examples.js'
import { UserSchema } from './user.js'

export const LoginBody = Type.Object({
  /** An email address or a username. */
  login: Type.String({ minLength: 1, maxLength: 254 }),
  password: Password
}, { additionalProperties: false, examples: [{ login: 'ada@example.com', password: EXAMPLE_PASSWORD }] })
export type Login = Static<typeof LoginBody>

/** Refresh tokens are JWTs of a few hundred bytes; the cap keeps garbage cheap to reject. */
export const TokenString = Type.String({ minLength: 1, maxLength: 4096 })

export const RefreshBody = Type.Object({ refresh: TokenString }, { additionalProperties: false, examples: [{ refresh: EXAMPLE_REFRESH }] })
export type Refresh = Static<typeof RefreshBody>

export const AppTokensSchema = Type.Object({
  tokenType: Type.Literal('Bearer'),
  access: Type.String(),
  accessExpiresIn: Type.Integer(),
  refresh: Type.String(),
  refreshExpiresIn: Type.Integer()
})

/** Browser clients: the refresh token is only in the HttpOnly cookie, never in a body. */
export const BrowserTokensSchema = Type.Object({
  tokenType: Type.Literal('Bearer'),
  access: Type.String(),
  accessExpiresIn: Type.Integer(),
  csrfToken: Type.String()
})

export const BrowserAuthResult = Type.Object({ user: UserSchema, tokens: Type.Optional(BrowserTokensSchema) }, { examples: [{ user: EXAMPLE_USER, tokens: EXAMPLE_BROWSER_TOKENS }] })
export const BrowserTokensResult = Type.Object({ tokens: BrowserTokensSchema }, { examples: [{ tokens: EXAMPLE_BROWSER_TOKENS }] })

export const AppAuthResult = Type.Object({ user: UserSchema, tokens: Type.Optional(AppTokensSchema) }, { examples: [{ user: EXAMPLE_USER, tokens: EXAMPLE_APP_TOKENS }] })

/** The header an app sends its known-device token in (the browser's travels in a cookie). */
export const DEVICE_TOKEN_HEADER = 'x-device-token'

export const AppLoginResult = Type.Object({
  user: UserSchema,
  tokens: AppTokensSchema,
  deviceToken: Type.Optional(Type.String({
    description: 'Known-device token: keep it (like a refresh token, in secure storage) and send it back in `X-Device-Token` with the next login, ' +
      'so that a lock an attacker keeps on the account does not keep this device out. Absent when DEVICE_TOKEN_TTL=0.'
  }))
}, { examples: [{ user: EXAMPLE_USER, tokens: EXAMPLE_APP_TOKENS, deviceToken: EXAMPLE_DEVICE_TOKEN }] })
export const AppTokensResult = Type.Object({ tokens: AppTokensSchema }, { examples: [{ tokens: EXAMPLE_APP_TOKENS }] })

export const VerifyBody = Type.Object({ token: TokenString }, { additionalProperties: false, examples: [{ token: EXAMPLE_ACCESS }] })
export const VerifyResult = Type.Object({
  valid: Type.Literal(true),
  claims: Type.Object({
    iss: Type.String(),
    aud: Type.Union([Type.String(), Type.Array(Type.String())]),
    sub: Type.String(),
    sid: Type.String(),
    jti: Type.String(),
    iat: Type.Integer(),
    exp: Type.Integer(),
    roles: Type.Array(Type.String()),
    amr: Type.Optional(Type.Array(Type.String(), { description: 'RFC 8176: how the user authenticated (`pwd`; with a second factor also `otp`, `mfa`).' })),
    auth_time: Type.Optional(Type.Integer({ description: 'When the user last authenticated in this session (seconds since the epoch).' }))
  })
}, {
  examples: [{
    valid: true,
    claims: { iss: 'https://auth.example.com', aud: 'authd', sub: EXAMPLE_USER.id, sid: '0b6f5d1c-27f4-4d0e-9a0e-3c2f1b9d8e7a', jti: '7d1e3a52-1f0b-4c55-9d0e-5a8c2b7e4f61', iat: 1795613245, exp: 1795613545, roles: [], amr: ['pwd'], auth_time: 1795613245 }
  }]
})

/** A login whose account has a second factor: no tokens yet, the mfaToken completes it (POST …/auth/mfa). */
export const MfaRequiredResult = Type.Object({
  mfaRequired: Type.Literal(true),
  mfaToken: Type.String({ description: 'Completes this login with `POST …/auth/mfa` within MFA_TOKEN_TTL seconds; works once.' }),
  methods: Type.Array(Type.Union([Type.Literal('totp'), Type.Literal('recovery_code'), Type.Literal('webauthn')]), { description: 'The proofs this account can give: `totp` (a code from the authenticator app), `recovery_code`, `webauthn` (one of its passkeys: get options from `POST …/auth/passkey/options`).' })
}, { examples: [{ mfaRequired: true, mfaToken: 'o3Jf2Qm9XkVt1Yw8Rz4Lb6Nc0Hd5Pe7Sa2Ug9Ki1Mx', methods: ['totp', 'recovery_code'] }] })

/** A six-digit TOTP code (spaces around are tolerated by the check, not by this schema). */
export const TotpCode = Type.String({ pattern: '^[0-9]{6}$', description: 'The 6-digit code the authenticator app shows now.' })
/** A recovery code as handed out (`xxxxx-xxxxx`); case, spaces and the dash do not matter. */
export const RecoveryCode = Type.String({ minLength: 1, maxLength: 64 })

/** The second step of a login with a second factor: exactly one of `code`, `recoveryCode` and `webauthn`. */
export const MfaBody = Type.Object({
  mfaToken: Type.String({ minLength: 1, maxLength: 128 }),
  code: Type.Optional(TotpCode),
  recoveryCode: Type.Optional(RecoveryCode),
  webauthn: Type.Optional(CredentialResponse('A passkey of this account: what `navigator.credentials.get()` (or `startAuthentication`) returned for the options of `POST …/auth/passkey/options`.'))
}, { additionalProperties: false, examples: [{ mfaToken: 'o3Jf2Qm9XkVt1Yw8Rz4Lb6Nc0Hd5Pe7Sa2Ug9Ki1Mx', code: '123456' }] })

const EXAMPLE_MFA_TOKEN = 'o3Jf2Qm9XkVt1Yw8Rz4Lb6Nc0Hd5Pe7Sa2Ug9Ki1Mx'

/** MFA_REQUIRED_ROLES: a right password of a user who must enrol a second factor first. */
export const MfaEnrollmentRequiredResult = Type.Object({
  mfaEnrollmentRequired: Type.Literal(true),
  mfaToken: Type.String({ description: 'Enrol with `POST …/auth/mfa/totp { mfaToken }`, then complete this login with `POST …/auth/mfa { mfaToken, code }`.' }),
  methods: Type.Array(Type.Literal('totp'))
}, { examples: [{ mfaEnrollmentRequired: true, mfaToken: EXAMPLE_MFA_TOKEN, methods: ['totp'] }] })

/** A login's 200: tokens, or the mfaToken of its second step (a factor to give, or to enrol). */
export const AppLoginReply = Type.Union([AppLoginResult, MfaRequiredResult, MfaEnrollmentRequiredResult], {
  examples: [{ user: EXAMPLE_USER, tokens: EXAMPLE_APP_TOKENS, deviceToken: EXAMPLE_DEVICE_TOKEN }, { mfaRequired: true, mfaToken: EXAMPLE_MFA_TOKEN, methods: ['totp', 'recovery_code'] }]
})
export const BrowserLoginReply = Type.Union([BrowserAuthResult, MfaRequiredResult, MfaEnrollmentRequiredResult], {
  examples: [{ user: EXAMPLE_USER, tokens: EXAMPLE_BROWSER_TOKENS }, { mfaRequired: true, mfaToken: EXAMPLE_MFA_TOKEN, methods: ['totp', 'recovery_code'] }]
})

const RecoveryCodesOnce = Type.Optional(Type.Array(Type.String(), { description: 'Only when this login enrolled the second factor (MFA_REQUIRED_ROLES): the ten recovery codes, shown this once.' }))
/** POST …/auth/mfa: as a login, plus the recovery codes when the login enrolled the factor. */
export const AppMfaResult = Type.Object({ ...AppLoginResult.properties, recoveryCodes: RecoveryCodesOnce }, { examples: [{ user: EXAMPLE_USER, tokens: EXAMPLE_APP_TOKENS, deviceToken: EXAMPLE_DEVICE_TOKEN }] })
export const BrowserMfaResult = Type.Object({ ...BrowserAuthResult.properties, recoveryCodes: RecoveryCodesOnce }, { examples: [{ user: EXAMPLE_USER, tokens: EXAMPLE_BROWSER_TOKENS }] })

export const MfaTokenBody = Type.Object({ mfaToken: Type.String({ minLength: 1, maxLength: 128 }) }, { additionalProperties: false, examples: [{ mfaToken: EXAMPLE_MFA_TOKEN }] })

/** A login's reply while its second step is pending: the factor to give, or to enrol. */
export function pendingLoginReply (result: { mfaToken: string, methods: Array<'totp' | 'recovery_code' | 'webauthn'>, enrollment: boolean }) {
  return result.enrollment
    ? { mfaEnrollmentRequired: true as const, mfaToken: result.mfaToken, methods: ['totp' as const] }
    : { mfaRequired: true as const, mfaToken: result.mfaToken, methods: result.methods }
}
