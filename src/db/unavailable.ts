// Is this error the database being unreachable (down, restarting, refusing connections),
// rather than a bug? Those are answered 503 service_unavailable so that clients retry; found
// by stopping a real PostgreSQL under load (test/resilience/outage.resilience.ts).
//
// The same outage reaches us in many wrappings: pg's own errors ("Connection terminated
// unexpectedly", ECONNREFUSED), @prisma/adapter-pg's DriverAdapterError ({ kind:
// "DatabaseNotReachable" } or { kind: "postgres", code: "57P03" }), and Prisma's
// PrismaClientKnownRequestError (P1001, or P2010 "Raw query failed. Code: `57P03`" for
// $queryRaw). So the check looks at codes, kinds and messages along the whole `cause` chain.

/** Prisma: can't reach server, timed out, server closed the connection, pool timeout. */
const PRISMA_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024'])
/** Node socket errors. */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'])
/** Driver-adapter error kinds that mean "no usable connection". */
const ADAPTER_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections'])
/**
 * SQLSTATEs: class 08 (connection exception), 57P01–57P03 (admin/crash shutdown, cannot
 * connect now: starting up or shutting down), 53300 (too many connections).
 */
const isUnavailableSqlState = (code: string): boolean => /^(08[0-9A-Z]{3}|57P0[123]|53300)$/.test(code)

const MESSAGES = new RegExp([
  'Connection terminated',
  'connection timeout',
  'timeout exceeded when trying to connect',
  "Can't reach database server",
  // Prisma's texts for the adapter kinds ConnectionClosed and SocketTimeout (in P2010 messages).
  'Server has closed the connection',
  'Socket timeout',
  'the database system is (starting up|shutting down|in recovery mode|not yet accepting connections)',
  'terminating connection due to',
  'Client has encountered a connection error',
  'server closed the connection unexpectedly',
  'Unable to start a transaction in the given time',
  // pg's query_timeout (src/db/database.ts): the server stopped answering.
  'Query read timeout',
  // Prisma's P2010 text for a raw query: "Raw query failed. Code: `57P03`. Message: …"
  'Code: `(08[0-9A-Z]{3}|57P0[123]|53300)`'
].join('|'), 'i')

export function isDatabaseUnavailable (error: unknown): boolean {
  let current: unknown = error
  // A cause chain is short; the bound only guards against a cycle.
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    const e = current as { code?: unknown, kind?: unknown, message?: unknown, cause?: unknown }
    if (typeof e.code === 'string' && (PRISMA_CODES.has(e.code) || SOCKET_CODES.has(e.code) || isUnavailableSqlState(e.code))) return true
    if (typeof e.kind === 'string' && ADAPTER_KINDS.has(e.kind)) return true
    if (typeof e.message === 'string' && MESSAGES.test(e.message)) return true
    current = e.cause
  }
  return false
}
