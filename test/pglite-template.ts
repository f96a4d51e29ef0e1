// PGlite's initdb takes seconds; loading a dump of an already-migrated database takes well
// under one. The dump is made once and kept in node_modules/.cache, keyed by the PGlite
// version and the migrations, so every test file starts its databases from it.
import { createHash } from 'node:crypto'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { applyMigrations, listMigrations } from '../src/db/migrate.js'

const cacheDir = path.join(process.cwd(), 'node_modules', '.cache', 'authd-test')

async function templateKey (): Promise<string> {
  const manifest = path.join(process.cwd(), 'node_modules', '@electric-sql', 'pglite', 'package.json')
  const version = (JSON.parse(await readFile(manifest, 'utf8')) as { version: string }).version
  const hash = createHash('sha256').update(version)
  for (const m of await listMigrations()) hash.update(m.name).update(m.checksum)
  return hash.digest('hex').slice(0, 16)
}

let template: Promise<Blob> | undefined

export async function pgliteTemplate (): Promise<Blob> {
  template ??= (async () => {
    const file = path.join(cacheDir, `pglite-${await templateKey()}.tar`)
    try {
      return new Blob([await readFile(file)])
    } catch {}
    const db = new PGlite()
    await applyMigrations({
      query: async (sql, params) => (await db.query(sql, params)).rows as Array<Record<string, unknown>>,
      exec: async (sql) => { await db.exec(sql) }
    })
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
