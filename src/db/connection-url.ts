// PostgreSQL connection URLs, read in one place. authd follows Prisma's conventions for
// connection poolers: `?pgbouncer=true` on DATABASE_URL says that a transaction-mode pooler
// (PgBouncer, Supavisor, Neon's and Heroku's poolers…) sits between authd and PostgreSQL, and
// DIRECT_DATABASE_URL (Prisma's `directUrl`) is the way around it, for migrations.
//
// Why a pooler matters: in transaction mode consecutive statements of one client connection
// may run on different server connections, so nothing that lives in a server session survives
// from one transaction to the next — named prepared statements (src/db/sql.ts) and the
// session-level advisory lock migrations take (src/db/migrate.ts) included.
//
// This module is free of driver imports: config validation uses it too.

export function isPostgresUrl (url: string): boolean {
  return /^postgres(ql)?:\/\//.test(url)
}

export interface PostgresTarget {
  /** The URL as the driver gets it: `pgbouncer` removed, every other byte unchanged. */
  url: string
  /** `?pgbouncer=true`: a transaction-mode pooler is in the way; send no named statements. */
  pgbouncer: boolean
}

/** `pgbouncer` holds something other than true or false. The message never quotes the URL. */
export class PoolerFlagError extends Error {
  constructor () {
    super('the pgbouncer parameter must be true or false')
  }
}

/**
 * Reads and removes Prisma's `pgbouncer` parameter. Only that parameter is taken out, textually,
 * so the driver sees the rest exactly as written (pg parses URLs that WHATWG `URL` rejects, such
 * as `postgresql://user@/db?host=/run/postgresql`, and re-serialising could change encodings).
 * As in Prisma, the value is `true` or `false`; repeated, the last one counts.
 */
export function parsePostgresUrl (url: string): PostgresTarget {
  const hashAt = url.indexOf('#')
  const beforeHash = hashAt === -1 ? url : url.slice(0, hashAt)
  const queryAt = beforeHash.indexOf('?')
  if (queryAt === -1) return { url, pgbouncer: false }
  let pgbouncer = false
  const kept = beforeHash.slice(queryAt + 1).split('&').filter((part) => {
    const [entry] = new URLSearchParams(part)
    if (entry?.[0] !== 'pgbouncer') return true
    if (entry[1] !== 'true' && entry[1] !== 'false') throw new PoolerFlagError()
    pgbouncer = entry[1] === 'true'
    return false
  })
  const query = kept.length > 0 ? `?${kept.join('&')}` : ''
  return { url: beforeHash.slice(0, queryAt) + query + (hashAt === -1 ? '' : url.slice(hashAt)), pgbouncer }
}

export interface MigrationTarget {
  url: string
  /** The variable `url` came from, for messages (never the URL itself: it may hold a password). */
  variable: 'DATABASE_URL' | 'DIRECT_DATABASE_URL'
}

/** Where migrations run: DIRECT_DATABASE_URL when set (Prisma's `directUrl`), else DATABASE_URL. */
export function migrationTarget (databaseUrl: string, directUrl = ''): MigrationTarget {
  return directUrl !== '' ? { url: directUrl, variable: 'DIRECT_DATABASE_URL' } : { url: databaseUrl, variable: 'DATABASE_URL' }
}

/**
 * The start-up warning when migrations would go through a URL marked `pgbouncer=true`, else
 * null. Migrations hold a session-level advisory lock from before the first migration to after
 * the last (so that instances starting together do not race); through a transaction-mode
 * pooler the lock and its release can land on different server connections; the lock then
 * stays held by a pooled server connection, and a later start that lands on another one waits
 * for it.
 */
export function pooledMigrationWarning (databaseUrl: string, directUrl = ''): string | null {
  const target = migrationTarget(databaseUrl, directUrl)
  if (!isPostgresUrl(target.url)) return null
  let pooled: boolean
  try {
    pooled = parsePostgresUrl(target.url).pgbouncer
  } catch {
    return null // refused by config validation already
  }
  if (!pooled) return null
  return target.variable === 'DIRECT_DATABASE_URL'
    ? 'DIRECT_DATABASE_URL is marked pgbouncer=true: migrations run through a connection pooler. Their advisory lock needs a real session; point DIRECT_DATABASE_URL at PostgreSQL itself (or a session-mode pooler)'
    : 'DATABASE_URL is marked pgbouncer=true and DIRECT_DATABASE_URL is not set: migrations run through the connection pooler. Their advisory lock needs a real session; set DIRECT_DATABASE_URL to a URL that reaches PostgreSQL directly (or through a session-mode pooler), or set MIGRATE_ON_START=false and run `authd migrate` with such a DATABASE_URL'
}
