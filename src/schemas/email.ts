// Bodies of the email-verification and password-reset routes (API.md "Users, sessions,
// verification").
import { Type, type Static } from 'typebox'
import { Email, Password } from './common.js'
import { EXAMPLE_PASSWORD } from './examples.js'

/** What a mailed token looks like: 32 random bytes, base64url. */
const EXAMPLE_MAIL_TOKEN = '6riCoN49KMySXpppwCkVr6XuHY78EYmYNrQL_JArkWQ'

/**
 * 202 with no body (resend, forgot): the request was taken; whether a mail goes out is not
 * said. `void` lets the handler send nothing at all (not even `null`); `type: 'null'` makes the
 * OpenAPI document show a response without content, as for a 204.
 */
export const Accepted = Type.Unsafe<void>({ type: 'null', description: 'Accepted; no body. Whether a mail is sent is not revealed.' })

/** POST /v1/auth/email/resend and /v1/auth/password/forgot. */
export const EmailRequestBody = Type.Object({ email: Email }, { additionalProperties: false, examples: [{ email: 'ada@example.com' }] })
export type EmailRequest = Static<typeof EmailRequestBody>

/**
 * A mailed token (authd's are 43 base64url characters). Any string up to the cap is accepted
 * here, so that every wrong token gets the same answer: the route's *_token_invalid code.
 */
export const MailToken = Type.String({ minLength: 1, maxLength: 512 })

export const VerifyEmailBody = Type.Object({ token: MailToken }, { additionalProperties: false, examples: [{ token: EXAMPLE_MAIL_TOKEN }] })
export type VerifyEmail = Static<typeof VerifyEmailBody>

export const ResetPasswordBody = Type.Object({ token: MailToken, newPassword: Password }, {
  additionalProperties: false,
  examples: [{ token: EXAMPLE_MAIL_TOKEN, newPassword: EXAMPLE_PASSWORD }]
})
export type ResetPassword = Static<typeof ResetPasswordBody>
