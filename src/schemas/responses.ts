// Error responses of the routes' schemas. Every error leaves as problem JSON
// (application/problem+json, src/plugins/error-handler.ts); these entries make Fastify serialize
// it through the shared `Problem` schema and give the OpenAPI document one response per status,
// with a description naming the codes a client may meet and an example.
import { Type, type Static } from 'typebox'
import { ErrorCodes, type ErrorCode } from '../errors.js'
import { PROBLEM_CONTENT_TYPE } from '../plugins/error-handler.js'
import type { ProblemSchema } from './common.js'

/** `{ $ref: 'Problem' }`, typed as the problem it points at (the schema is added by app.addSchema). */
export const ProblemRef = Type.Unsafe<Static<typeof ProblemSchema>>(Type.Ref('Problem'))

export type ProblemStatus = 400 | 401 | 403 | 404 | 409 | 413 | 415 | 429 | 500 | 502 | 503

const DEFAULT_DESCRIPTIONS: Record<ProblemStatus, string> = {
  400: 'The request is not valid: `validation_failed` (with `errors`, one per field) or `invalid_json`.',
  401: 'Not authenticated: `authentication_required` (no credentials), `token_invalid` or `token_expired`.',
  403: 'Authenticated but not allowed: `forbidden`.',
  404: 'Nothing here: `not_found`.',
  409: 'Conflicts with existing data.',
  413: 'The body is larger than BODY_LIMIT: `payload_too_large`.',
  415: 'The body is not JSON: `unsupported_media_type`.',
  429: 'Too many requests from this IP in the window: `rate_limited` (see `Retry-After`).',
  500: 'Unexpected failure, masked: `internal_error` (quote the `requestId`).',
  502: 'An identity provider could not be reached or answered something unusable: `provider_failed`; retry later.',
  503: 'The database is unreachable: `service_unavailable`; retry shortly.'
}

/** The code an example of each status shows (the most common one). */
const EXAMPLE_CODES: Record<ProblemStatus, ErrorCode> = {
  400: 'validation_failed',
  401: 'authentication_required',
  403: 'forbidden',
  404: 'not_found',
  409: 'email_taken',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
  500: 'internal_error',
  502: 'provider_failed',
  503: 'service_unavailable'
}

function example (code: ErrorCode) {
  const { status, title } = ErrorCodes[code]
  return {
    type: `https://authd.dev/errors/${code}`,
    title,
    status,
    detail: title,
    code,
    requestId: '4ac22c05-9de3-4277-8423-423ba3e2dff5',
    ...(code === 'validation_failed' ? { errors: [{ field: 'email', code: 'invalid_format', message: 'must match format "email"' }] } : {})
  }
}

/**
 * One error response: problem JSON with `description`. `code` picks the example's code when the
 * status's usual one does not fit the route (e.g. 401 `invalid_credentials` on login).
 */
export function problemResponse (status: ProblemStatus, description?: string, code?: ErrorCode) {
  return {
    description: description ?? DEFAULT_DESCRIPTIONS[status],
    content: { [PROBLEM_CONTENT_TYPE]: { schema: ProblemRef, example: example(code ?? EXAMPLE_CODES[status]) } }
  }
}

/** Error responses with the default descriptions, e.g. `problemResponses(400, 401, 429)`. */
export function problemResponses<S extends ProblemStatus> (...statuses: S[]): Record<S, ReturnType<typeof problemResponse>> {
  return Object.fromEntries(statuses.map((status) => [status, problemResponse(status)])) as Record<S, ReturnType<typeof problemResponse>>
}

/** What any route with a JSON body can answer before its handler runs. */
export const bodyProblems = problemResponses(400, 413, 415)

/** The security requirement of the routes behind app.authenticate. */
export const bearerSecurity = [{ bearerAuth: [] as string[] }]

/** The 401 of the routes behind app.authenticate (and requireLiveSession). */
export const bearerProblems = {
  401: problemResponse(401, 'No access token (`authentication_required`), or not a live one: `token_invalid` (also once its session has ended or its user ' +
    'was deactivated or deleted) or `token_expired`. `WWW-Authenticate` says which.', 'token_invalid')
}

// The answers of the token endpoints that the app and browser clients share.
export const REGISTER_CONFLICT = problemResponse(409, 'The email address (`email_taken`) or the username (`username_taken`) is already registered.', 'email_taken')
export const LOGIN_FAILED = problemResponse(401, 'Wrong login or password: `invalid_credentials` (the same answer for an unknown login and an inactive account).', 'invalid_credentials')
export const LOGIN_REFUSED = problemResponse(403, 'Right password, but the email address is not verified yet and verification is mandatory: `email_not_verified`.', 'email_not_verified')
export const LOGIN_LIMITED = problemResponse(429, 'Too many attempts: from this IP (`rate_limited`), or failed logins for this email/username (`account_locked`); see `Retry-After`.')
export const REFRESH_REFUSED = problemResponse(401, 'The refresh token is not usable: `token_invalid` (bad, logged out or revoked), `token_expired`, `token_reused` ' +
  '(already rotated, presented again after the grace window: the whole session is now revoked), or `session_expired` (the session is older than SESSION_MAX_LIFETIME: log in again).', 'token_reused')
export const MFA_FAILED = {
  400: problemResponse(400, 'The code is wrong, outside its time window or already used, or the recovery code is unknown or used: `mfa_invalid`; a passkey assertion that does not verify for this account: `webauthn_failed`; or the body is not valid (exactly one of `code`, `recoveryCode` and `webauthn`): `validation_failed`.', 'mfa_invalid'),
  401: problemResponse(401, 'The mfaToken is unknown, used, expired or out of attempts, or the account changed since: `mfa_token_invalid`. Log in again.', 'mfa_token_invalid')
}
export const MFA_NOT_PENDING = problemResponse(409, 'An enrolment login (`mfaEnrollmentRequired`) whose TOTP was not started with `POST …/auth/mfa/totp`: `mfa_not_pending`.', 'mfa_not_pending')
export const PASSKEY_FAILED = problemResponse(400, 'The passkey response does not verify (challenge unknown, used or expired; unknown credential; wrong origin or RP id; no user verification; bad signature; a counter that did not grow): `webauthn_failed`; or the body is not valid: `validation_failed`.', 'webauthn_failed')
