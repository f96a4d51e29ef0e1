import { Type, type Static } from 'typebox'
import { Password } from './common.js'
import { EXAMPLE_PASSWORD } from './examples.js'

export const ChangePasswordBody = Type.Object({
  currentPassword: Password,
  newPassword: Password
}, { additionalProperties: false, examples: [{ currentPassword: EXAMPLE_PASSWORD, newPassword: 'staple battery horse correct' }] })
export type ChangePassword = Static<typeof ChangePasswordBody>

/** Deleting the account asks for the password again, so a stolen access token alone cannot. */
export const DeleteAccountBody = Type.Object({ password: Password }, { additionalProperties: false, examples: [{ password: EXAMPLE_PASSWORD }] })
export type DeleteAccount = Static<typeof DeleteAccountBody>
