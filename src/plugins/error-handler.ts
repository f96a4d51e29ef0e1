// The one error path: every error leaves as RFC 9457 problem JSON with a stable `code`.
// 5xx are masked (no stack, SQL or token) and carry the request id; 401s carry
// WWW-Authenticate as API.md requires.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { AppError, ErrorCodes, type ErrorCode, type FieldError } from '../errors.js'
import { isDatabaseUnavailable } from '../db/unavailable.js'
import { maskSecrets, requestSecrets } from '../logger.js'

export const PROBLEM_CONTENT_TYPE = 'application/problem+json'

declare module 'fastify' {
  interface FastifyReply {
    /** The `code` of the problem this reply sent, if it sent one (read by the metrics plugin). */
    problemCode: ErrorCode | null
  }
}

interface Problem {
  type: string
  title: string
  status: number
  detail: string
  code: string
  requestId: string
  errors?: FieldError[]
}

// Ajv keywords → authd's field error codes.
const FIELD_CODES: Record<string, string> = {
  required: 'required',
  additionalProperties: 'unknown_field',
  type: 'invalid_type',
  minLength: 'too_short',
  maxLength: 'too_long',
  format: 'invalid_format',
  pattern: 'invalid_format',
  const: 'invalid_value',
  enum: 'invalid_value',
  anyOf: 'invalid_value'
}

interface AjvError { instancePath?: string, keyword: string, message?: string, params?: Record<string, unknown> }

function fieldErrors (validation: AjvError[], context?: string): FieldError[] {
  const seen = new Set<string>()
  const out: FieldError[] = []
  for (const e of validation) {
    let field = (e.instancePath ?? '').replace(/^\//, '').replaceAll('/', '.')
    const extra = e.params?.additionalProperty ?? e.params?.missingProperty
    if (typeof extra === 'string') field = field === '' ? extra : `${field}.${extra}`
    if (field === '') field = context ?? 'body'
    const code = FIELD_CODES[e.keyword] ?? e.keyword
    const key = `${field}:${code}`
    if (seen.has(key)) continue
    seen.add(key)
    out.push({ field, code, message: e.keyword === 'additionalProperties' ? 'is not an accepted field' : (e.message ?? 'is invalid') })
  }
  return out
}

/** Maps anything thrown to an authd error code and the detail that is safe to show. */
function classify (error: FastifyError & { validation?: AjvError[], validationContext?: string }): { code: ErrorCode, detail?: string, errors?: FieldError[] } {
  if (error instanceof AppError) return { code: error.code, detail: error.message, errors: error.errors }
  if (error.validation !== undefined) {
    return { code: 'validation_failed', detail: 'The request is not valid', errors: fieldErrors(error.validation, error.validationContext) }
  }
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { code: 'invalid_json', detail: 'The request body is not valid JSON' }
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { code: 'payload_too_large' }
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_TYPE':
      return { code: 'unsupported_media_type', detail: 'Send the body as application/json' }
  }
  // Body parsing failures (including secure-json-parse refusing __proto__ keys) come with
  // status 400; a SyntaxError thrown by our own code has none and stays a logged 500.
  if (error.statusCode === 400) return { code: 'invalid_json', detail: 'The request body is not valid JSON' }
  if (error.statusCode === 404) return { code: 'not_found' }
  if (error.statusCode === 405) return { code: 'method_not_allowed' }
  if (error.statusCode === 413) return { code: 'payload_too_large' }
  if (error.statusCode === 415) return { code: 'unsupported_media_type' }
  if (error.statusCode === 429) return { code: 'rate_limited' }
  // A plugin refusing a request (@fastify/static under /docs: a path it will not serve, an
  // unsatisfiable Range…) is the client's doing, not a 500.
  if (error.statusCode === 403) return { code: 'forbidden' }
  if (error.statusCode !== undefined && error.statusCode > 400 && error.statusCode < 500) {
    return { code: 'validation_failed', detail: 'The request cannot be served as sent' }
  }
  if (isDatabaseUnavailable(error)) return { code: 'service_unavailable', detail: 'The database is unavailable; try again shortly' }
  return { code: 'internal_error' }
}


export function sendProblem (request: FastifyRequest, reply: FastifyReply, code: ErrorCode, detail?: string, errors?: FieldError[]): FastifyReply {
  const { status, title } = ErrorCodes[code]
  const problem: Problem = {
    type: `https://authd.dev/errors/${code}`,
    title,
    status,
    detail: detail ?? title,
    code,
    requestId: request.id,
    ...(errors !== undefined && errors.length > 0 ? { errors } : {})
  }
  if (status === 401 && !reply.hasHeader('www-authenticate')) {
    const sentToken = code === 'token_invalid' || code === 'token_expired' || code === 'token_reused' || code === 'session_expired'
    reply.header('www-authenticate', sentToken ? 'Bearer realm="authd", error="invalid_token"' : 'Bearer realm="authd"')
  }
  reply.problemCode = code
  // Errors must never be cached by a proxy or browser.
  return reply.code(status).header('cache-control', 'no-store').type(PROBLEM_CONTENT_TYPE).send(problem)
}

/**
 * Fastify's `frameworkErrors` server option: errors its router raises before any hook or
 * handler runs, which Fastify would otherwise answer with its own (non-problem) JSON.
 */
export function frameworkError (error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  // No hook runs for these replies: add what the onSend hooks would have.
  reply.header('x-request-id', request.id).header('x-content-type-options', 'nosniff')
  if (error.code === 'FST_ERR_BAD_URL') {
    sendProblem(request, reply, 'validation_failed', 'The request URL is not valid', [{ field: 'url', code: 'invalid_format', message: 'is not valid percent-encoding' }])
  } else if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    // No id of authd is that long: nothing can be found under it.
    sendProblem(request, reply, 'not_found', 'There is no such resource')
  } else {
    request.log.error({ err: error }, 'request failed')
    sendProblem(request, reply, 'internal_error', `Something went wrong; quote request id ${request.id}`)
  }
}

async function errorHandlerPlugin (app: FastifyInstance): Promise<void> {
  app.decorateReply('problemCode', null)
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const { code, detail, errors } = classify(error)
    const status = ErrorCodes[code].status
    if (status >= 500) {
      // The error may quote what the request sent (a driver error echoing values): its secrets are masked.
      request.log.error({ err: maskSecrets(error, requestSecrets(request)) }, 'request failed')
      return sendProblem(request, reply, code, code === 'internal_error' ? `Something went wrong; quote request id ${request.id}` : detail)
    }
    if (error instanceof AppError && error.headers !== undefined) reply.headers(error.headers)
    return sendProblem(request, reply, code, detail, errors)
  })

  app.setNotFoundHandler((request, reply) => sendProblem(request, reply, 'not_found', 'There is no such route'))
}

export default fp(errorHandlerPlugin, { name: 'error-handler' })
