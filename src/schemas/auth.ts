import { Type, type Static } from 'typebox'
import { Password } from './common.js'
import { UserSchema } from './user.js'

export const LoginBody = Type.Object({
  /** An email address or a username. */
  login: Type.String({ minLength: 1, maxLength: 254 }),
  password: Password
}, { additionalProperties: false })
export type Login = Static<typeof LoginBody>

/** Refresh tokens are JWTs of a few hundred bytes; the cap keeps garbage cheap to reject. */
export const TokenString = Type.String({ minLength: 1, maxLength: 4096 })

export const RefreshBody = Type.Object({ refresh: TokenString }, { additionalProperties: false })
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

export const BrowserAuthResult = Type.Object({ user: UserSchema, tokens: Type.Optional(BrowserTokensSchema) })
export const BrowserTokensResult = Type.Object({ tokens: BrowserTokensSchema })

export const AppAuthResult = Type.Object({ user: UserSchema, tokens: Type.Optional(AppTokensSchema) })
export const AppTokensResult = Type.Object({ tokens: AppTokensSchema })

export const VerifyBody = Type.Object({ token: TokenString }, { additionalProperties: false })
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
    roles: Type.Array(Type.String())
  })
})
