// Which errors mean "the database is unreachable" (503) rather than a bug (500): the shapes
// below are the ones a real PostgreSQL outage produced through pg, @prisma/adapter-pg and
// Prisma (test/resilience/outage.resilience.ts stops a real server).
import t from 'tap'
import { Prisma } from '../../src/generated/prisma/client.js'
import { isDatabaseUnavailable } from '../../src/db/unavailable.js'

const known = (code: string, message: string) => new Prisma.PrismaClientKnownRequestError(message, { code, clientVersion: 'test' })
const adapterError = (message: string, cause: Record<string, unknown>) => Object.assign(new Error(message), { name: 'DriverAdapterError', cause })
const socketError = (code: string) => Object.assign(new Error(`connect ${code} 127.0.0.1:5432`), { code, errno: -111, syscall: 'connect' })

t.test('outages', async (t) => {
  const cases: Record<string, unknown> = {
    'pg: connection cut': new Error('Connection terminated unexpectedly'),
    'pg: connect timeout': new Error('Connection terminated due to connection timeout'),
    'pg pool: connect timeout': new Error('timeout exceeded when trying to connect'),
    'pg: query_timeout (server stopped answering)': new Error('Query read timeout'),
    'socket: refused': socketError('ECONNREFUSED'),
    'socket: reset': socketError('ECONNRESET'),
    'Prisma P1001': known('P1001', "Can't reach database server at 127.0.0.1:5432"),
    'Prisma P2024 (pool timeout)': known('P2024', 'Timed out fetching a new connection from the connection pool.'),
    'Prisma P2010, raw query, no server': known('P2010', "Raw query failed. Code: `N/A`. Message: `Can't reach database server at 127.0.0.1:5432`"),
    'Prisma P2010, raw query, connection reset': known('P2010', 'Raw query failed. Code: `N/A`. Message: `Server has closed the connection.`'),
    'Prisma P2010, raw query, starting up': known('P2010', 'Raw query failed. Code: `57P03`. Message: `the database system is not yet accepting connections`'),
    'adapter: starting up (57P03)': adapterError('the database system is starting up', { kind: 'postgres', code: '57P03' }),
    'adapter: admin shutdown (57P01)': adapterError('terminating connection due to administrator command', { kind: 'postgres', code: '57P01' }),
    'adapter: not reachable': adapterError('not reachable', { kind: 'DatabaseNotReachable', host: '127.0.0.1', port: 5432 }),
    'adapter: too many connections': adapterError('too many', { kind: 'TooManyConnections', cause: 'sorry, too many clients already' }),
    'wrapped: cause is the pg error': Object.assign(new Error('query failed'), { cause: new Error('Connection terminated unexpectedly') })
  }
  for (const [name, error] of Object.entries(cases)) t.ok(isDatabaseUnavailable(error), name)
})

t.test('not outages: bugs and client errors stay what they are', async (t) => {
  const cyclic: { message: string, cause?: unknown } = { message: 'loop' }
  cyclic.cause = cyclic
  const cases: Record<string, unknown> = {
    'unique violation P2002': known('P2002', 'Unique constraint failed on the fields: (`email`)'),
    'raw query, unique violation': known('P2010', 'Raw query failed. Code: `23505`. Message: `duplicate key value violates unique constraint`'),
    'raw query, bad uuid': known('P2010', 'Raw query failed. Code: `22P02`. Message: `invalid input syntax for type uuid: "x"`'),
    'adapter: syntax error': adapterError('syntax error at or near "SELEC"', { kind: 'postgres', code: '42601' }),
    'a TypeError': new TypeError("Cannot read properties of undefined (reading 'id')"),
    'a plain Error': new Error('boom'),
    'a cycle of causes': cyclic,
    'not an object': 'Connection terminated',
    null: null,
    undefined
  }
  for (const [name, error] of Object.entries(cases)) t.notOk(isDatabaseUnavailable(error), name)
})
