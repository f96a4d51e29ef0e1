import { Type, type Static } from 'typebox'
import { Password } from './common.js'

export const ChangePasswordBody = Type.Object({
  currentPassword: Password,
  newPassword: Password
}, { additionalProperties: false })
export type ChangePassword = Static<typeof ChangePasswordBody>

/** Deleting the account asks for the password again, so a stolen access token alone cannot. */
export const DeleteAccountBody = Type.Object({ password: Password }, { additionalProperties: false })
export type DeleteAccount = Static<typeof DeleteAccountBody>
