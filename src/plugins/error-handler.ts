// The one error path: every error leaves as RFC 9457 problem JSON with a stable `code` — except
// on the OAuth endpoints (route config `oauthErrors`), where the same codes leave as RFC 6749
// §5.2 JSON (sendOAuthError), the format OAuth client libraries read.
// 5xx are masked (no stack, SQL or token) and carry the request id; 401s carry
// WWW-Authenticate as API.md requires.
//
// That includes what Node and Fastify answer before any route runs: a request that is not
// valid HTTP or whose headers are too large (clientErrorHandler), an HTTP/1.1 request without
// Host (requireHost), an Expect other than 100-continue (checkExpectation), and the errors of
// Fastify's router (frameworkError).
import { randomUUID } from 'node:crypto'
import { STATUS_CODES, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { ConnectionError, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { AppError, ErrorCodes, type ErrorCode, type FieldError } from '../errors.js'
import { isDatabaseUnavailable } from '../db/unavailable.js'
import { maskSecrets, requestSecrets } from '../logger.js'

export const PROBLEM_CONTENT_TYPE = 'application/problem+json'

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The `detail` of the 404 `not_found` that answers a path parameter failing its schema (a
     * malformed id): to the client it names nothing it can reach, like an unknown id.
     */
    notFoundOnBadParams?: string
    /**
     * The route is an OAuth endpoint (/oauth/*): its errors leave as RFC 6749 §5.2 JSON
     * (`{ error, error_description }`), which OAuth client libraries read, not problem JSON.
     */
    oauthErrors?: boolean
  }
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
function classify (error: FastifyError & { validation?: AjvError[], validationContext?: string }, request: FastifyRequest): { code: ErrorCode, detail?: string, errors?: FieldError[] } {
  if (error instanceof AppError) return { code: error.code, detail: error.message, errors: error.errors }
  if (error.validation !== undefined) {
    // The one rule for malformed ids: a route that names what its id is answers 404. Params
    // are validated before the body, so a bad id is a 404 even when the body is bad too.
    const notFound = request.routeOptions.config.notFoundOnBadParams
    if (error.validationContext === 'params' && notFound !== undefined) return { code: 'not_found', detail: notFound }
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

/** The problem object of every error reply, whichever way it leaves. */
export function problemOf (code: ErrorCode, requestId: string, detail?: string, errors?: FieldError[]): Problem {
  const { status, title } = ErrorCodes[code]
  return {
    type: `https://authd.dev/errors/${code}`,
    title,
    status,
    detail: detail ?? title,
    code,
    requestId,
    ...(errors !== undefined && errors.length > 0 ? { errors } : {})
  }
}

export function sendProblem (request: FastifyRequest, reply: FastifyReply, code: ErrorCode, detail?: string, errors?: FieldError[]): FastifyReply {
  const problem = problemOf(code, request.id, detail, errors)
  const { status } = problem
  if (status === 401 && !reply.hasHeader('www-authenticate')) {
    const sentToken = code === 'token_invalid' || code === 'token_expired' || code === 'token_reused' || code === 'session_expired'
    reply.header('www-authenticate', sentToken ? 'Bearer realm="authd", error="invalid_token"' : 'Bearer realm="authd"')
  }
  reply.problemCode = code
  // Errors must never be cached by a proxy or browser.
  return reply.code(status).header('cache-control', 'no-store').type(PROBLEM_CONTENT_TYPE).send(problem)
}

// --- OAuth endpoints: RFC 6749 §5.2 errors --------------------------------------------------------

/** The codes OAuth clients know; anything else a /oauth/* route fails with is mapped onto them. */
const OAUTH_CODES = new Set<ErrorCode>(['invalid_request', 'invalid_client', 'unauthorized_client', 'unsupported_grant_type', 'invalid_scope'])

/**
 * The RFC 6749 §5.2 error of an OAuth endpoint. A 4xx that is not an OAuth code (a schema
 * failure, a body that is not a form, too large…) is `invalid_request` with its own status;
 * 429 and 503 are `temporarily_unavailable` (with Retry-After when the rate limit set it);
 * anything else 5xx is `server_error`, masked like every 5xx.
 */
export function sendOAuthError (request: FastifyRequest, reply: FastifyReply, code: ErrorCode, detail?: string, errors?: FieldError[]): FastifyReply {
  const { status: catalogued, title } = ErrorCodes[code]
  const error = OAUTH_CODES.has(code)
    ? code
    : catalogued === 429 || catalogued === 503 ? 'temporarily_unavailable' : catalogued >= 500 ? 'server_error' : 'invalid_request'
  // RFC 6749 §5.2: invalid_request is a 400, whatever the cause (a 413 or 415 elsewhere).
  const status = error === 'invalid_request' ? 400 : catalogued
  if (code === 'unsupported_media_type') detail = 'Send the body as application/x-www-form-urlencoded'
  reply.problemCode = code
  return reply.code(status).header('cache-control', 'no-store').header('pragma', 'no-cache')
    .type('application/json; charset=utf-8')
    .send({ error, error_description: [detail ?? title, ...(errors ?? []).map((e) => `${e.field} ${e.message}`)].join('; ') })
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

// --- replies Node writes before Fastify has a request -------------------------------------------

const RAW_DETAILS: Partial<Record<ErrorCode, string>> = {
  malformed_request: 'The request is not valid HTTP/1.1',
  headers_too_large: 'The request\'s header block is larger than the server accepts',
  payload_too_large: 'The request\'s chunk extensions are larger than the server accepts',
  request_timeout: 'The request did not arrive in time',
  expectation_failed: 'The only expectation this server meets is Expect: 100-continue'
}

/**
 * Node's reason for refusing a connection's bytes → authd's code. The statuses are the ones
 * Node itself would send; every other parser error (unknown method, bad chunk size,
 * Content-Length with chunked, a control character in a header…) is a 400.
 */
function clientErrorCode (error: { code?: string }): ErrorCode {
  switch (error.code) {
    case 'HPE_HEADER_OVERFLOW': return 'headers_too_large'
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW': return 'payload_too_large'
    case 'ERR_HTTP_REQUEST_TIMEOUT': return 'request_timeout'
    default: return 'malformed_request'
  }
}

/**
 * The whole reply when no hook runs: the problem body, and the headers the onSend hooks would
 * have added. `Connection: close`: authd has not read (and will not read) the rest of what the
 * client sent, so nothing after it on this connection can be trusted to start a request.
 */
function rawProblem (code: ErrorCode): { status: number, requestId: string, headers: Record<string, string>, body: string } {
  const requestId = randomUUID()
  const body = JSON.stringify(problemOf(code, requestId, RAW_DETAILS[code]))
  return {
    status: ErrorCodes[code].status,
    requestId,
    body,
    headers: {
      'content-type': `${PROBLEM_CONTENT_TYPE}; charset=utf-8`,
      'content-length': String(Buffer.byteLength(body)),
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'x-request-id': requestId,
      connection: 'close'
    }
  }
}

/** How long a refused connection may stay open for the client to read the reply and close. */
const LINGER_MS = 5_000

/** Connections already being answered: Node calls the handler again for every later chunk its parser refuses. */
const answering = new WeakSet<Socket>()

/**
 * Fastify's `clientErrorHandler` option (Node's 'clientError' event): bytes that are not a
 * request Fastify can route. Fastify's default writes its own JSON without `Connection: close`
 * and resets the connection, so a keep-alive client saw its next request on it fail.
 *
 * The reply is complete HTTP/1.1 (status, length, problem JSON with a request id), and then the
 * connection closes cleanly: end() sends FIN after the reply while Node's parser keeps reading
 * (and refusing) whatever else the client sends. Destroying it with unread bytes would make the
 * kernel send a reset, which can discard the reply before the client reads it.
 */
export function clientErrorHandler (this: FastifyInstance, error: ConnectionError, socket: Socket): void {
  // Gone already (a reset), or answered already (the client closing after our reply lands here too).
  if (error.code === 'ECONNRESET' || socket.destroyed || !socket.writable || answering.has(socket)) return
  answering.add(socket)
  const code = clientErrorCode(error)
  const { status, requestId, headers, body } = rawProblem(code)
  // A client's mistake, not the server's: info, as Fastify logs every request. The serializer
  // keeps the message and code only (Node attaches the raw bytes, credentials included).
  this.log.info({ reqId: requestId, remoteAddress: socket.remoteAddress, err: error }, `refused a request that is not valid HTTP: ${code}`)
  const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('')
  const answer = (): void => {
    // A request already on this connection (pipelined before the bad bytes) is answered first:
    // a reply written into the middle of its reply would corrupt both. Node hands the
    // connection to the next queued response before this listener runs, hence the loop.
    // Unless the bad bytes are that request's own body and nothing of its reply is out yet:
    // it can never complete, so this is its answer (its handler's reply, if it ever comes,
    // finds the connection closed and is dropped by Node).
    const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage
    if (inFlight != null && (inFlight.headersSent || inFlight.req.complete)) {
      inFlight.once('finish', answer)
      return
    }
    if (socket.destroyed || !socket.writable) return
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n${head}\r\n${body}`)
    // A client that neither reads nor closes does not keep the connection for ever.
    const timer = setTimeout(() => socket.destroy(), LINGER_MS)
    timer.unref()
    socket.once('close', () => { clearTimeout(timer) })
  }
  answer()
}

/**
 * HTTP/1.1 requires Host (RFC 9112 §3.2). Node's own check (requireHostHeader) answers with an
 * empty 400 before Fastify sees the request; fastifyOptions turns it off so that this hook
 * answers instead, with problem JSON. Registered after security-headers, so the reply carries
 * them like any other. HTTP/1.0 had no Host, and stays allowed.
 */
async function requireHostPlugin (app: FastifyInstance): Promise<void> {
  app.addHook('onRequest', async (request, reply) => {
    const { raw } = request
    if (raw.headers.host !== undefined || raw.httpVersionMajor !== 1 || raw.httpVersionMinor < 1) return
    return sendProblem(request, reply, 'malformed_request', 'An HTTP/1.1 request must carry a Host header')
  })
}
export const requireHost = fp(requireHostPlugin, { name: 'require-host', dependencies: ['error-handler', 'security-headers'] })

async function errorHandlerPlugin (app: FastifyInstance): Promise<void> {
  app.decorateReply('problemCode', null)

  // An Expect other than 100-continue: Node answers an empty 417 itself unless someone listens.
  // `Connection: close`: such a client may be holding its body back until its expectation is
  // met, and Node would wait for that body on a kept-alive connection.
  app.server.on('checkExpectation', (_request, response) => {
    const { status, requestId, headers, body } = rawProblem('expectation_failed')
    app.log.info({ reqId: requestId }, 'refused an Expect other than 100-continue')
    response.writeHead(status, headers).end(body)
  })
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const { code, detail, errors } = classify(error, request)
    const status = ErrorCodes[code].status
    const send = request.routeOptions.config.oauthErrors === true
      ? (code: ErrorCode, detail?: string, errors?: FieldError[]) => sendOAuthError(request, reply, code, detail, errors)
      : (code: ErrorCode, detail?: string, errors?: FieldError[]) => sendProblem(request, reply, code, detail, errors)
    if (status >= 500) {
      // The error may quote what the request sent (a driver error echoing values): its secrets are masked.
      request.log.error({ err: maskSecrets(error, requestSecrets(request)) }, 'request failed')
      return send(code, code === 'internal_error' ? `Something went wrong; quote request id ${request.id}` : detail)
    }
    if (error instanceof AppError && error.headers !== undefined) reply.headers(error.headers)
    return send(code, detail, errors)
  })

  app.setNotFoundHandler((request, reply) => sendProblem(request, reply, 'not_found', 'There is no such route'))
}

export default fp(errorHandlerPlugin, { name: 'error-handler' })
