// The embedded store: how PGlite is tuned, and how a first start makes its data folder.
//
// Memory. PGlite runs PostgreSQL in one WebAssembly instance, inside authd's own process, with
// PostgreSQL's server defaults: 128 MB of shared_buffers and shared memory sized for 100
// connections. One embedded backend serves one process, so START_SETTINGS cut both (about 120 MB
// of resident memory). And V8 recompiles every WebAssembly function that has run a little
// (WASM_TIERING_BUDGET) with its optimising compiler: PostgreSQL's start-up alone runs enough of
// its code once to fill ~23 MB with optimised code. A budget ten times V8's default optimises
// what keeps running: about 10 MB less at start, the same requests per second on the hot paths
// (measured in docs/operations.md "The embedded store").
//
// First start. PGlite's initdb runs a second PostgreSQL instance beside the first and copies its
// whole 128 MB heap before each step: about 900 MB of resident memory at its peak, for a few
// seconds, once. `npm run build` does that work ahead of time: it makes a migrated data folder, the
// template, in dist/pglite-template/<key>/. A first start copies the template (plain file copies:
// no more memory than a restart) and applies any migration newer than it. Without a template (a
// build that skipped it, or a PGlite or migration set it was not made for) a first start runs
// initdb as before.
//
// Crash safety. The folder is made beside its final place, `<folder>.init`, and renamed into
// place only once it is complete; a start that finds a `.init` folder (a first start killed
// half-way) deletes it and starts again. A folder at the final place is therefore always a
// complete database, and the migrations after it run one transaction each.
import { createHash } from 'node:crypto'
import { cp, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import v8 from 'node:v8'
import { fileURLToPath } from 'node:url'
import { PGlite, type PGliteOptions } from '@electric-sql/pglite'
import { applyMigrations, listMigrations, type SqlRunner } from './migrate.js'

/**
 * PostgreSQL settings of every PGlite authd opens, after PGlite's own. shared_buffers: authd's
 * working set is a few indexes and the rows of the active sessions; the rest is read through the
 * operating system's cache. max_connections: the embedded backend is the only one.
 */
export const START_SETTINGS = ['shared_buffers=8MB', 'max_connections=10', 'max_wal_senders=0']

/** V8's --wasm-tiering-budget (its default is 1800000): see the top of this file. */
export const WASM_TIERING_BUDGET = 18_000_000

export function pgliteOptions (options: PGliteOptions = {}): PGliteOptions {
  // Read when a WebAssembly module is compiled, so it holds for every PGlite made after this.
  v8.setFlagsFromString(`--wasm-tiering-budget=${WASM_TIERING_BUDGET}`)
  return {
    ...options,
    startParams: [...PGlite.defaultStartParams, ...START_SETTINGS.flatMap((setting) => ['-c', setting])]
  }
}

export function pgliteRunner (pglite: PGlite): SqlRunner {
  return {
    query: async (sql, params) => (await pglite.query(sql, params)).rows as Array<Record<string, unknown>>,
    exec: async (sql) => { await pglite.exec(sql) }
  }
}

/** Where `npm run build` puts templates: dist/pglite-template, from src/db or dist/db alike. */
export const templatesDir = fileURLToPath(new URL('../../dist/pglite-template/', import.meta.url))

/** A template fits one PGlite version (its on-disk format) and one set of migrations. */
export async function templateKey (): Promise<string> {
  // The package exports no ./package.json; its entry point is dist/index.js, beside dist/.
  const manifest = path.join(path.dirname(fileURLToPath(import.meta.resolve('@electric-sql/pglite'))), '..', 'package.json')
  const { version } = JSON.parse(await readFile(manifest, 'utf8')) as { version: string }
  const hash = createHash('sha256').update(version)
  for (const migration of await listMigrations()) hash.update(migration.name).update(migration.checksum)
  return `${version}-${hash.digest('hex').slice(0, 16)}`
}

async function exists (file: string): Promise<boolean> {
  return await stat(file).then(() => true, () => false)
}

/** True when `folder` holds a PostgreSQL data directory (initdb writes PG_VERSION). */
async function isDataDirectory (folder: string): Promise<boolean> {
  return await exists(path.join(folder, 'PG_VERSION'))
}

/**
 * Makes the template for the current PGlite and migrations unless it exists (`npm run build`).
 * Returns its folder. Templates of other keys are removed: they can no longer be used.
 */
export async function buildTemplate (dir = templatesDir): Promise<{ folder: string, built: boolean }> {
  const key = await templateKey()
  const folder = path.join(dir, key)
  if (await isDataDirectory(folder)) return { folder, built: false }
  await mkdir(dir, { recursive: true })
  for (const entry of await readdir(dir)) {
    if (entry !== key) await rm(path.join(dir, entry), { recursive: true, force: true })
  }
  await createDataDirectory(folder, null)
  return { folder, built: true }
}

/**
 * Opens the PGlite data folder `folder`, making it first if it does not exist: from the template
 * when there is one, else by initdb; with the migrations applied when `migrate` is set.
 */
export async function openPGliteFolder (folder: string, migrate: boolean, template: string | null = templatesDir): Promise<PGlite> {
  if (!await isDataDirectory(folder)) {
    if (await exists(folder) && (await readdir(folder)).length > 0) {
      throw new Error(`${folder} exists but is not a database (it has no PG_VERSION): move it away, or point DATA_DIR elsewhere`)
    }
    const source = template === null ? null : path.join(template, await templateKey())
    await createDataDirectory(folder, source !== null && await isDataDirectory(source) ? source : null)
  }
  const pglite = new PGlite(pgliteOptions({ dataDir: folder }))
  await pglite.waitReady
  if (migrate) await applyMigrations(pgliteRunner(pglite))
  return pglite
}

/** Makes `folder` in `<folder>.init` (from `template`, else by initdb and the migrations), then renames it into place. */
async function createDataDirectory (folder: string, template: string | null): Promise<void> {
  const partial = `${folder}.init`
  await rm(partial, { recursive: true, force: true })
  await rm(folder, { recursive: true, force: true })
  await mkdir(path.dirname(folder), { recursive: true })
  if (template !== null) {
    await cp(template, partial, { recursive: true })
  } else {
    await mkdir(partial, { recursive: true })
    const pglite = new PGlite(pgliteOptions({ dataDir: partial }))
    try {
      await pglite.waitReady
      await applyMigrations(pgliteRunner(pglite))
    } finally {
      await pglite.close()
    }
  }
  await rename(partial, folder)
}
