// Login by a mailed code (POST /v1/{client}/auth/code/request and …/code/confirm) and email
// change (POST /v1/users/me/email, POST /v1/auth/email/change/confirm): bodies, and the route
// schemas the app and browser clients share (each adds its own login reply and 403).
import { Type, type Static } from 'typebox'
import { Email } from './common.js'
import { Accepted, EmailRequestBody, MailToken } from './email.js'
import { AppLoginReply, BrowserLoginReply } from './auth.js'
import { LOGIN_LIMITED, bearerProblems, bearerSecurity, bodyProblems, problemResponse, problemResponses } from './responses.js'

/** What a mailed login code looks like (8 symbols; case, spaces and dashes are ignored). */
export const EXAMPLE_LOGIN_CODE = 'K7QD-3M9X'
const EXAMPLE_MAIL_TOKEN = '6riCoN49KMySXpppwCkVr6XuHY78EYmYNrQL_JArkWQ'

/** Any string up to the cap is a try: every wrong code gets the same answer, email_code_invalid. */
export const CodeConfirmBody = Type.Object({ email: Email, code: Type.String({ minLength: 1, maxLength: 64 }) }, {
  additionalProperties: false,
  examples: [{ email: 'ada@example.com', code: EXAMPLE_LOGIN_CODE }]
})
export type CodeConfirm = Static<typeof CodeConfirmBody>

export const EmailChangeBody = Type.Object({ newEmail: Email }, { additionalProperties: false, examples: [{ newEmail: 'ada@lovelace.example' }] })
export const EmailChangeConfirmBody = Type.Object({ token: MailToken }, { additionalProperties: false, examples: [{ token: EXAMPLE_MAIL_TOKEN }] })

const FOREIGN_ORIGIN = problemResponse(403, 'The `Origin` is not one of CORS_ORIGINS (or authd\'s cookies came twice): `csrf_failed`.', 'csrf_failed')

/**
 * The schemas of POST …/auth/code/request and …/code/confirm for one client: the browser's also
 * answer its origin check's 403, and confirm answers that client's login reply.
 */
export function codeRouteSchemas (client: 'app' | 'browser') {
  const tags = [`${client} auth`]
  const forbidden = client === 'browser' ? { 403: FOREIGN_ORIGIN } : {}
  return {
    request: {
      tags,
      summary: 'Ask for a login code by mail',
      description: 'Always 202 with no body, whether or not the address has an account: a code (and a link carrying it in its fragment, `#email=…&code=…`) is mailed after the reply only to an active account, at most one per MAIL_THROTTLE_SECONDS; a new code replaces the previous one. ' +
        'No account is created: sign up with register. Shares the per-IP rate limit of the mail routes.',
      body: EmailRequestBody,
      response: { 202: Accepted, ...bodyProblems, ...forbidden, ...problemResponses(429, 503) }
    },
    confirm: {
      tags,
      summary: 'Log in with a mailed code',
      description: 'The address and the code of `POST …/auth/code/request`. Answers as a password login of this client (with a second factor on: `mfaRequired` and an mfaToken for `POST …/auth/mfa`); the access token\'s `amr` is `email` (plus the second factor\'s). ' +
        'The address becomes verified. A code works once, for EMAIL_CODE_TTL seconds and EMAIL_CODE_MAX_ATTEMPTS tries; wrong ones count toward the address\'s lockout. Shares the per-IP login rate limit.',
      body: CodeConfirmBody,
      response: {
        200: client === 'app' ? AppLoginReply : BrowserLoginReply,
        ...bodyProblems,
        400: problemResponse(400, 'The code is wrong, expired, used, replaced or out of tries, or the address has no active account: `email_code_invalid`; or the body is not valid: `validation_failed`, `invalid_json`.', 'email_code_invalid'),
        ...forbidden,
        ...problemResponses(503),
        429: LOGIN_LIMITED
      }
    }
  }
}

/** POST /v1/users/me/email. */
export const EMAIL_CHANGE_SCHEMA = {
  tags: ['users'],
  summary: 'Change the email address',
  description: 'Needs a recent authentication (403 `reauthentication_required`: `POST /v1/users/me/reauthenticate` first). Mails a confirmation link to the new address and a notice to the current one; ' +
    'nothing changes until the link is followed (`POST /v1/auth/email/change/confirm`): the current address still logs in. A newer request voids the older link.',
  security: bearerSecurity,
  body: EmailChangeBody,
  response: {
    202: Accepted,
    ...bodyProblems,
    ...bearerProblems,
    403: problemResponse(403, 'The session did not authenticate within REAUTHENTICATION_WINDOW: `reauthentication_required`.', 'reauthentication_required'),
    409: problemResponse(409, 'Another account has this address: `email_taken` (compared lower-cased).', 'email_taken'),
    429: problemResponse(429, 'Too many requests from this IP (`rate_limited`), or another email change was asked for within MAIL_THROTTLE_SECONDS (`rate_limited`); see `Retry-After`.', 'rate_limited'),
    ...problemResponses(503)
  }
}

/** POST /v1/auth/email/change/confirm. */
export const EMAIL_CHANGE_CONFIRM_SCHEMA = {
  tags: ['email'],
  summary: 'Confirm a new email address',
  description: 'Takes the token from the link mailed to the new address (the `#token=…` fragment). The account gets the new address, verified; every other session of the user ends (the one that asked goes on); ' +
    'verification and password-reset links sent to the old address stop working. Each token works once.',
  body: EmailChangeConfirmBody,
  response: {
    204: Type.Null({ description: 'Changed.' }),
    ...bodyProblems,
    400: problemResponse(400, 'The token is unknown, used, expired or replaced by a newer request: `email_change_token_invalid`; or the body is not valid: `validation_failed`, `invalid_json`.', 'email_change_token_invalid'),
    409: problemResponse(409, 'Another account took the address meanwhile: `email_taken`; nothing changed.', 'email_taken'),
    ...problemResponses(429, 503)
  }
}
