// The one catalogue of machine-readable error codes. Clients branch on `code`, so a code is
// never renamed or reused for something else (GoTrue keeps its codes the same way).
// The README's error table is written from this list.

export const ErrorCodes = {
  validation_failed: { status: 400, title: 'Validation failed' },
  invalid_json: { status: 400, title: 'Malformed JSON body' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  payload_too_large: { status: 413, title: 'Request body too large' },
  malformed_request: { status: 400, title: 'Malformed HTTP request' },
  headers_too_large: { status: 431, title: 'Request headers too large' },
  expectation_failed: { status: 417, title: 'Expectation failed' },
  request_timeout: { status: 408, title: 'Request timeout' },
  invalid_credentials: { status: 401, title: 'Invalid credentials' },
  authentication_required: { status: 401, title: 'Authentication required' },
  token_invalid: { status: 401, title: 'Token is invalid' },
  token_expired: { status: 401, title: 'Token has expired' },
  token_reused: { status: 401, title: 'Refresh token was reused' },
  session_expired: { status: 401, title: 'Session has reached its maximum lifetime' },
  account_inactive: { status: 403, title: 'Account is inactive' },
  email_taken: { status: 409, title: 'Email address already registered' },
  username_taken: { status: 409, title: 'Username already taken' },
  self_lockout: { status: 409, title: 'Cannot lock yourself out' },
  forbidden: { status: 403, title: 'Forbidden' },
  csrf_failed: { status: 403, title: 'CSRF check failed' },
  not_found: { status: 404, title: 'Not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  rate_limited: { status: 429, title: 'Too many requests' },
  account_locked: { status: 429, title: 'Too many failed logins' },
  email_not_verified: { status: 403, title: 'Email address not verified' },
  verification_token_invalid: { status: 400, title: 'Verification link is invalid or expired' },
  reset_token_invalid: { status: 400, title: 'Password-reset link is invalid or expired' },
  service_unavailable: { status: 503, title: 'Service unavailable' },
  internal_error: { status: 500, title: 'Internal server error' }
} as const satisfies Record<string, { status: number, title: string }>

export type ErrorCode = keyof typeof ErrorCodes

export interface FieldError { field: string, code: string, message: string }

/** A failure the client caused or must know about; the error handler turns it into problem JSON. */
export class AppError extends Error {
  readonly code: ErrorCode
  readonly status: number
  readonly errors?: FieldError[]
  readonly headers?: Record<string, string>

  constructor (code: ErrorCode, detail?: string, options: { errors?: FieldError[], headers?: Record<string, string> } = {}) {
    super(detail ?? ErrorCodes[code].title)
    this.name = 'AppError'
    this.code = code
    this.status = ErrorCodes[code].status
    this.errors = options.errors
    this.headers = options.headers
  }
}
