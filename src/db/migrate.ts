// Applies prisma/migrations/*/migration.sql in name order. Written here rather than calling
// `prisma migrate deploy` because the Prisma CLI needs a schema engine that cannot always be
// downloaded, and its pg adapter fails on PostgreSQL 15.
// It keeps Prisma's own `_prisma_migrations` bookkeeping (same table, same sha256 checksum),
// so `prisma migrate status` and `prisma migrate deploy` agree with what ran here.
import { createHash, randomUUID } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export interface SqlRunner {
  query (sql: string, params?: unknown[]): Promise<Array<Record<string, unknown>>>
  /** Runs a script that may hold several statements. */
  exec (sql: string): Promise<void>
}

export const migrationsDir = fileURLToPath(new URL('../../prisma/migrations/', import.meta.url))

// Same key Prisma's schema engine takes, so a concurrent `prisma migrate deploy` waits for us.
const ADVISORY_LOCK_KEY = 72707369

export async function listMigrations (dir = migrationsDir): Promise<Array<{ name: string, sql: string, checksum: string }>> {
  const entries = await readdir(dir, { withFileTypes: true })
  const names = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort()
  return await Promise.all(names.map(async (name) => {
    const sql = await readFile(path.join(dir, name, 'migration.sql'), 'utf8')
    return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') }
  }))
}

/** Returns the names of the migrations it applied. */
export async function applyMigrations (db: SqlRunner, options: { lock?: boolean, dir?: string } = {}): Promise<string[]> {
  if (options.lock === true) await db.query(`SELECT pg_advisory_lock(${ADVISORY_LOCK_KEY})`)
  try {
    await db.exec(`CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
      "id" VARCHAR(36) PRIMARY KEY NOT NULL,
      "checksum" VARCHAR(64) NOT NULL,
      "finished_at" TIMESTAMPTZ,
      "migration_name" VARCHAR(255) NOT NULL,
      "logs" TEXT,
      "rolled_back_at" TIMESTAMPTZ,
      "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
      "applied_steps_count" INTEGER NOT NULL DEFAULT 0
    )`)
    const rows = await db.query('SELECT migration_name, checksum, finished_at FROM "_prisma_migrations" WHERE rolled_back_at IS NULL')
    const applied = new Map(rows.map((r) => [r.migration_name as string, r]))
    const done: string[] = []
    for (const migration of await listMigrations(options.dir)) {
      const row = applied.get(migration.name)
      if (row !== undefined) {
        if (row.finished_at == null) throw new Error(`Migration ${migration.name} started but did not finish; repair the database before starting`)
        if (row.checksum !== migration.checksum) throw new Error(`Migration ${migration.name} was changed after it was applied`)
        continue
      }
      const literal = (value: string) => `'${value.replaceAll("'", "''")}'`
      // One transaction per migration, bookkeeping included: a failure leaves nothing half-applied.
      const script = `BEGIN;\n${migration.sql}\n;\nINSERT INTO "_prisma_migrations" (id, checksum, migration_name, finished_at, applied_steps_count)
        VALUES (${literal(randomUUID())}, ${literal(migration.checksum)}, ${literal(migration.name)}, now(), 1);\nCOMMIT;`
      await db.exec(script).catch(async (error: unknown) => {
        await db.exec('ROLLBACK').catch(() => {})
        throw error
      })
      done.push(migration.name)
    }
    return done
  } finally {
    if (options.lock === true) await db.query(`SELECT pg_advisory_unlock(${ADVISORY_LOCK_KEY})`)
  }
}
