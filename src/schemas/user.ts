import { Type, type Static } from 'typebox'
import { Email, IsoDateTime, Password, Username } from './common.js'
import { EXAMPLE_PASSWORD, EXAMPLE_USER } from './examples.js'

export const UserSchema = Type.Object({
  id: Type.String(),
  email: Type.String(),
  username: Type.Union([Type.String(), Type.Null()]),
  fullName: Type.String(),
  bio: Type.String(),
  birthDate: Type.Union([Type.String({ format: 'date' }), Type.Null()]),
  roles: Type.Array(Type.String()),
  emailVerified: Type.Boolean(),
  isActive: Type.Boolean(),
  createdAt: IsoDateTime,
  updatedAt: IsoDateTime,
  lastLoginAt: Type.Union([IsoDateTime, Type.Null()])
}, { examples: [EXAMPLE_USER] })
export type PublicUser = Static<typeof UserSchema>

export const FullName = Type.String({ maxLength: 150 })
export const Bio = Type.String({ maxLength: 2000 })

/** What a user may change about themselves. Anything else (roles, isActive, email…) is rejected. */
export const UpdateMeBody = Type.Object({
  username: Type.Optional(Type.Union([Username, Type.Null()])),
  fullName: Type.Optional(FullName),
  bio: Type.Optional(Bio),
  birthDate: Type.Optional(Type.Union([Type.String({ format: 'date' }), Type.Null()]))
}, { additionalProperties: false, examples: [{ fullName: 'Ada Lovelace', birthDate: '1815-12-10' }] })
export type UpdateMe = Static<typeof UpdateMeBody>

export const RegisterBody = Type.Object({
  email: Email,
  password: Password,
  username: Type.Optional(Username),
  fullName: Type.Optional(FullName),
  bio: Type.Optional(Bio)
}, { additionalProperties: false, examples: [{ email: 'ada@example.com', password: EXAMPLE_PASSWORD, username: 'ada', fullName: 'Ada Lovelace' }] })
export type Register = Static<typeof RegisterBody>

/** The public view of a user row; the password hash and internal columns never leave. */
export function toPublicUser (user: {
  id: string
  email: string
  username: string | null
  fullName: string
  bio: string
  birthDate: Date | null
  roles: string[]
  emailVerified: boolean
  isActive: boolean
  createdAt: Date
  updatedAt: Date
  lastLoginAt: Date | null
}): PublicUser {
  return {
    id: user.id,
    email: user.email,
    username: user.username,
    fullName: user.fullName,
    bio: user.bio,
    birthDate: user.birthDate === null ? null : user.birthDate.toISOString().slice(0, 10),
    roles: user.roles,
    emailVerified: user.emailVerified,
    isActive: user.isActive,
    createdAt: user.createdAt.toISOString(),
    updatedAt: user.updatedAt.toISOString(),
    lastLoginAt: user.lastLoginAt?.toISOString() ?? null
  }
}
