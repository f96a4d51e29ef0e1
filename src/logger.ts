// The pino logger's options (Fastify's `logger`): JSON lines with the request id (`reqId`) on
// every line of a request; pretty lines (pino-pretty) for a person watching a terminal.
// Secrets never reach a log line (docs/operations.md "Logs"): what Fastify logs of a request is cut down
// to fields that cannot carry one, errors keep only their message, code and stack, and the
// fields that hold secrets are redacted wherever something logs them.
import type { FastifyRequest, FastifyServerOptions } from 'fastify'
import type { Config } from './config.js'

/** Names of fields that hold passwords or tokens in authd's bodies. */
const SECRET_FIELDS = ['password', 'currentPassword', 'newPassword', 'token', 'access', 'refresh', 'csrfToken', 'deviceToken', 'authorization', 'cookie', 'client_secret', 'clientSecret']

/** Paths pino replaces with "[redacted]": headers, and secret fields at the top or one level down. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-csrf-token"]',
  'req.headers["x-device-token"]',
  'res.headers["set-cookie"]',
  ...SECRET_FIELDS.flatMap((field) => [field, `*.${field}`])
]

// JWTs (access and refresh tokens) and bcrypt hashes are recognisable by their shape: masked
// in error messages and stacks, which may quote a value (a driver error, a failed parse).
const JWT = /eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g
const BCRYPT = /\$2[abxy]\$\d\d\$[./A-Za-z0-9]{53}/g
export function scrubSecrets (text: string): string {
  return text.replace(JWT, '[redacted jwt]').replace(BCRYPT, '[redacted hash]')
}

interface SerializedError { [key: string]: unknown, type: string, message: string, stack: string, code?: string | number, statusCode?: number, cause?: SerializedError }

/**
 * Errors as logged: type, message, stack, code and cause only. pino's default serializer copies
 * every enumerable property, and libraries hang request data on their errors (Node's client
 * errors carry the raw request bytes, Authorization header included, in `rawPacket`; driver
 * errors carry the query's values).
 */
export function serializeError (error: unknown, depth = 0): SerializedError {
  if (!(error instanceof Error)) return { type: typeof error, message: scrubSecrets(String(error)), stack: '' }
  const { code, statusCode } = error as { code?: unknown, statusCode?: unknown }
  return {
    type: error.name,
    message: scrubSecrets(error.message),
    stack: scrubSecrets(error.stack ?? ''),
    ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}),
    ...(typeof statusCode === 'number' ? { statusCode } : {}),
    ...(error.cause !== undefined && depth < 3 ? { cause: serializeError(error.cause, depth + 1) } : {})
  }
}

/**
 * The secrets a request sent (credentials in headers, secret body fields, query values): an
 * error it caused may quote one (a driver error echoing a query's values), so the error log of
 * a 5xx masks them (maskSecrets).
 */
export function requestSecrets (request: FastifyRequest): string[] {
  const found: unknown[] = []
  const { authorization, cookie } = request.headers
  if (typeof authorization === 'string') found.push(authorization, authorization.replace(/^\S+\s+/, ''))
  if (typeof cookie === 'string') found.push(...cookie.split(';').map((pair) => pair.slice(pair.indexOf('=') + 1).trim()))
  found.push(request.headers['x-csrf-token'], request.headers['x-device-token'])
  const fieldsOf = (value: unknown): void => {
    if (typeof value !== 'object' || value === null) return
    for (const field of SECRET_FIELDS) found.push((value as Record<string, unknown>)[field])
  }
  const body = request.body
  fieldsOf(body)
  if (typeof body === 'object' && body !== null) Object.values(body).forEach(fieldsOf)
  const queryAt = request.url.indexOf('?')
  if (queryAt !== -1) found.push(...new URLSearchParams(request.url.slice(queryAt + 1)).values())
  // Short values would mask ordinary words in the message.
  return found.filter((value): value is string => typeof value === 'string' && value.length >= 6)
}

/** A copy of `error` (message, stack, code, causes) with every one of `secrets` masked. */
export function maskSecrets (error: unknown, secrets: string[], depth = 0): unknown {
  if (!(error instanceof Error) || secrets.length === 0) return error
  const mask = (text: string): string => secrets.reduce((out, secret) => out.replaceAll(secret, '[redacted]'), text)
  const copy = new Error(mask(error.message), error.cause !== undefined && depth < 3 ? { cause: maskSecrets(error.cause, secrets, depth + 1) } : undefined)
  copy.name = error.name
  copy.stack = mask(error.stack ?? '')
  const { code, statusCode } = error as { code?: unknown, statusCode?: unknown }
  return Object.assign(copy, { code, statusCode })
}

/** A request as logged: the path without its query string (which may carry a token). */
export function serializeRequest (request: FastifyRequest): Record<string, unknown> {
  const queryAt = request.url.indexOf('?')
  return {
    method: request.method,
    url: queryAt === -1 ? request.url : `${request.url.slice(0, queryAt)}?[redacted]`,
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort
  }
}

/** Pretty when asked, or by default for a developer at a terminal; JSON for machines. */
export function wantsPrettyLogs (config: Pick<Config, 'LOG_FORMAT' | 'NODE_ENV'>, isTTY = process.stdout.isTTY === true): boolean {
  if (config.LOG_FORMAT !== 'auto') return config.LOG_FORMAT === 'pretty'
  return config.NODE_ENV === 'development' && isTTY
}

export function loggerOptions (config: Config): NonNullable<Exclude<FastifyServerOptions['logger'], boolean>> {
  return {
    level: config.LOG_LEVEL,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: { req: serializeRequest, err: serializeError },
    // pino-pretty formats in a worker thread; redaction and serializers run before it.
    ...(wantsPrettyLogs(config) ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } } : {})
  }
}
