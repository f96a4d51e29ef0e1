// A fresh, throw-away store for each authd process the benchmarks start: a temporary DATA_DIR
// (PGlite lives in DATA_DIR/pglite) and, for PostgreSQL, a new database dropped afterwards.
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pg from 'pg'
import type { StoreKind } from './options.js'

export interface Store {
  kind: StoreKind
  dataDir: string
  /** DATABASE_URL for authd: empty (PGlite in DATA_DIR) or the new database. */
  databaseUrl: string
  /** Removes the data directory and drops the database. */
  dispose (): Promise<void>
}

/** Null when PostgreSQL cannot be reached (the caller reports the store as skipped). */
export async function postgresReachable (adminUrl: string): Promise<string | null> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 3_000 })
  try {
    await client.connect()
    await client.query('SELECT 1')
    return null
  } catch (error) {
    return (error as Error).message
  } finally {
    await client.end().catch(() => {})
  }
}

async function adminQuery (adminUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5_000 })
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end().catch(() => {})
  }
}

/** `databasePrefix`: only [a-z0-9_] (checked by readOptions), a random suffix follows. */
export async function createStore (kind: StoreKind, adminUrl: string, label: string, databasePrefix = 'authd_bench_'): Promise<Store> {
  const dataDir = await mkdtemp(path.join(tmpdir(), `authd-${label}-`))
  if (kind === 'pglite') {
    return { kind, dataDir, databaseUrl: '', dispose: async () => { await rm(dataDir, { recursive: true, force: true }) } }
  }
  // Only [a-z0-9_] in the name, so it needs no quoting.
  const name = `${databasePrefix}${randomBytes(5).toString('hex')}`
  await adminQuery(adminUrl, `CREATE DATABASE ${name}`)
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return {
    kind,
    dataDir,
    databaseUrl: url.toString(),
    dispose: async () => {
      await rm(dataDir, { recursive: true, force: true })
      await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    }
  }
}
