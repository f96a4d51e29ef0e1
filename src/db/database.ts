// Opens the store: embedded PGlite by default (no server to install), PostgreSQL when
// DATABASE_URL is a postgres:// URL (directly, or through a connection pooler: see
// connection-url.ts). Both speak the same SQL, so one migration set serves both.
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { PrismaPGlite } from 'pglite-prisma-adapter'
import { PrismaPg } from '@prisma/adapter-pg'
import pg from 'pg'
import { Prisma, PrismaClient } from '../generated/prisma/client.js'
import { isPostgresUrl, migrationTarget, parsePostgresUrl } from './connection-url.js'
import { applyMigrations, type SqlRunner } from './migrate.js'
import { openPGliteFolder, pgliteOptions, pgliteRunner } from './pglite.js'
import { pgSqlClient, pgliteSqlClient, type SqlClient } from './sql.js'

export type { PrismaClient }

export interface Database {
  prisma: PrismaClient
  /** The same database through the driver, for the hot-path statements (see sql.ts). */
  sql: SqlClient
  kind: 'pglite' | 'postgresql'
  /** Throws when the database cannot answer a trivial query. */
  ping (): Promise<void>
  close (): Promise<void>
  /** PostgreSQL only: the connection pool as it is now (for /metrics). PGlite has no pool. */
  poolStats?: () => PoolStats
}

export interface PoolStats {
  /** Open connections, idle or in use. */
  size: number
  idle: number
  /** Queries queued for a connection. */
  waiting: number
  max: number
}

export interface DatabaseOptions {
  /** DATABASE_URL: PostgreSQL (`?pgbouncer=true` behind a transaction-mode pooler), or PGlite. */
  url: string
  /** DIRECT_DATABASE_URL: PostgreSQL without the pooler, for migrations (empty or absent: `url`). */
  directUrl?: string
  dataDir: string
  poolSize: number
  migrate: boolean
  /** PGlite only: start from this data-directory dump (see PGlite's dumpDataDir) instead of initdb. */
  pgliteTemplate?: Blob
  /**
   * PGlite only: an instance the caller opened and keeps (`url` and the template are then
   * ignored); close() leaves it open. The tests reuse one per process: starting a PGlite costs
   * about a second of CPU, emptying its tables a few milliseconds.
   */
  pglite?: PGlite
}

/**
 * Text naming the unique constraint a failed write violated (never the values), or null.
 * @prisma/adapter-pg's violations reach us as P2002, but pglite-prisma-adapter (built on an
 * older driver-adapter-utils) passes PostgreSQL's raw SQLSTATE 23505 through as a
 * DriverAdapterError of kind "postgres", which Prisma 6.19 does not map to P2002.
 */
export function uniqueViolationDetail (error: unknown): string | null {
  if (error instanceof Prisma.PrismaClientKnownRequestError) {
    // The meta only (the constraint's fields), never the message: in development Prisma's
    // message quotes the calling source lines, which may name any column.
    return error.code === 'P2002' ? JSON.stringify(error.meta ?? {}) : null
  }
  const { name, cause } = error as { name?: string, cause?: { kind?: string, code?: string, message?: string } }
  if (name === 'DriverAdapterError' && cause?.kind === 'postgres' && cause.code === '23505') return cause.message ?? ''
  return null
}

export { isPostgresUrl }

/** Where PGlite keeps its files: `memory://` for a throw-away database, else a folder. */
export function pgliteLocation (url: string, dataDir: string): string {
  if (url === 'memory://') return url
  if (url.startsWith('pglite://')) return url.slice('pglite://'.length)
  return path.join(dataDir, 'pglite')
}

export async function openDatabase (options: DatabaseOptions): Promise<Database> {
  return isPostgresUrl(options.url) ? await openPostgres(options) : await openPGlite(options)
}

async function openPGlite (options: DatabaseOptions): Promise<Database> {
  const pglite = options.pglite ?? await startPGlite(options)
  // A kept instance (tests) or a folder openPGliteFolder migrated already; memory:// and a test's dump still need it.
  if (options.migrate && (options.pglite !== undefined || !isFolder(options))) await applyMigrations(pgliteRunner(pglite))
  // pglite-prisma-adapter pins an older @prisma/driver-adapter-utils whose types differ only
  // nominally from Prisma 6.19's; at run time the interface is the same.
  const adapter = new PrismaPGlite(pglite) as unknown as PrismaPg
  const prisma = new PrismaClient({ adapter })
  return {
    prisma,
    sql: pgliteSqlClient(pglite),
    kind: 'pglite',
    ping: async () => { await pglite.query('SELECT 1') },
    close: async () => {
      await prisma.$disconnect()
      if (options.pglite === undefined) await pglite.close()
    }
  }
}

/** A PGlite kept in a folder and made by openPGliteFolder (not memory://, not a test's dump). */
function isFolder (options: DatabaseOptions): boolean {
  return pgliteLocation(options.url, options.dataDir) !== 'memory://' && options.pgliteTemplate === undefined
}

async function startPGlite (options: DatabaseOptions): Promise<PGlite> {
  const location = pgliteLocation(options.url, options.dataDir)
  if (isFolder(options)) return await openPGliteFolder(location, options.migrate)
  if (location !== 'memory://') await mkdir(location, { recursive: true })
  const pglite = new PGlite(pgliteOptions({
    ...(location === 'memory://' ? {} : { dataDir: location }),
    ...(options.pgliteTemplate === undefined ? {} : { loadDataDir: options.pgliteTemplate })
  }))
  await pglite.waitReady
  return pglite
}

/** Client-side limit on one PostgreSQL query (see openPostgres). */
export const QUERY_TIMEOUT_MS = 10_000
/** Prisma's limit on one interactive transaction on PostgreSQL (see openPostgres). */
const TRANSACTION_TIMEOUT_MS = 6 * QUERY_TIMEOUT_MS

async function openPostgres (options: DatabaseOptions): Promise<Database> {
  const target = parsePostgresUrl(options.url)
  if (options.migrate) {
    // A real session (DIRECT_DATABASE_URL when set): migrations hold a session-level advisory lock.
    const client = new pg.Client({ connectionString: parsePostgresUrl(migrationTarget(options.url, options.directUrl).url).url })
    await client.connect()
    try {
      await applyMigrations(pgRunner(client), { lock: true })
    } finally {
      await client.end()
    }
  }
  const pool = new pg.Pool({
    connectionString: target.url,
    max: options.poolSize,
    // Fail fast instead of queueing forever when the server is gone; the error handler answers 503.
    connectionTimeoutMillis: 5_000,
    // A server that stops answering without closing the connection (paused, network
    // partition) would hold a request forever on a pooled connection: give up on a query after
    // this long (authd's queries take milliseconds), so the request gets its 503.
    query_timeout: QUERY_TIMEOUT_MS
  })
  // A dropped idle connection must not crash the process; the pool replaces it.
  pool.on('error', () => {})
  const prisma = new PrismaClient({
    adapter: new PrismaPg(pool),
    // Prisma's own transaction timeout (default 5 s) must not fire first: it rolls back from a
    // timer, and when that ROLLBACK fails (it queues behind the stuck query and hits
    // query_timeout) Prisma 6.19 leaves the rejection unhandled, which ends the process. With
    // every query bounded by query_timeout, a transaction ends well within this.
    transactionOptions: { timeout: TRANSACTION_TIMEOUT_MS }
  })
  return {
    prisma,
    sql: pgSqlClient(pool, { pooled: target.pgbouncer }),
    kind: 'postgresql',
    ping: async () => { await pool.query('SELECT 1') },
    poolStats: () => ({ size: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max: options.poolSize }),
    close: async () => {
      await prisma.$disconnect()
      await pool.end().catch(() => {})
    }
  }
}

export function pgRunner (client: pg.Client): SqlRunner {
  return {
    query: async (sql, params) => (await client.query(sql, params)).rows,
    exec: async (sql) => { await client.query(sql) }
  }
}
