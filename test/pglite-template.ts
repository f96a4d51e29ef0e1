// PGlite's initdb takes seconds; loading a dump of an already-migrated database takes well
// under one. The dump is made once and kept in node_modules/.cache, keyed by the PGlite
// version and the migrations, so every test file starts its databases from it.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { applyMigrations } from '../src/db/migrate.js'
import { pgliteOptions, pgliteRunner, templateKey } from '../src/db/pglite.js'

const cacheDir = path.join(process.cwd(), 'node_modules', '.cache', 'authd-test')

let template: Promise<Blob> | undefined

export async function pgliteTemplate (): Promise<Blob> {
  template ??= (async () => {
    const file = path.join(cacheDir, `pglite-${await templateKey()}.tar`)
    try {
      return new Blob([await readFile(file)])
    } catch {}
    const db = new PGlite(pgliteOptions())
    await applyMigrations(pgliteRunner(db))
    const dump = await db.dumpDataDir('none')
    await db.close()
    await mkdir(cacheDir, { recursive: true })
    const tmp = `${file}.${process.pid}.tmp`
    await writeFile(tmp, Buffer.from(await dump.arrayBuffer()))
    await rename(tmp, file)
    return dump
  })()
  return await template
}

// Instances emptied after a test and kept for the next build in this process (a test file):
// starting a PGlite from the dump costs about a second of CPU, and some files build a dozen apps.
const idle: PGlite[] = []
let closeAtEnd = false

/** A PGlite holding the migrated, empty schema: a kept one, else a new one from the dump. */
export async function takePGlite (): Promise<PGlite> {
  const kept = idle.pop()
  if (kept !== undefined) return kept
  if (!closeAtEnd) {
    closeAtEnd = true
    // The kept instances would hold the test process open after its last test.
    const { default: tap } = await import('tap')
    tap.teardown(async () => { await Promise.all(idle.splice(0).map(async (pglite) => await pglite.close())) })
  }
  const pglite = new PGlite(pgliteOptions({ loadDataDir: await pgliteTemplate() }))
  await pglite.waitReady
  return pglite
}

/**
 * Gives back an instance a test is done with: emptied (every table but the migrations' own,
 * sequences restarted) and kept, or closed when it cannot be emptied (a test closed it, or left
 * it inside a failed transaction).
 */
export async function giveBackPGlite (pglite: PGlite): Promise<void> {
  if (pglite.closed) return
  try {
    // Outside a transaction block each statement is its own transaction, so now() (its start)
    // equals statement_timestamp(); a block a test left open would swallow the TRUNCATE.
    const { rows: [state] } = await pglite.query<{ open: boolean }>('SELECT now() <> statement_timestamp() AS open')
    if (state?.open !== false) throw new Error('a transaction is still open')
    const { rows } = await pglite.query<{ name: string }>("SELECT quote_ident(tablename) AS name FROM pg_tables WHERE schemaname = 'public' AND tablename <> '_prisma_migrations'")
    if (rows.length > 0) await pglite.exec(`TRUNCATE ${rows.map((r) => r.name).join(', ')} RESTART IDENTITY CASCADE`)
    idle.push(pglite)
  } catch {
    await pglite.close().catch(() => {})
  }
}
