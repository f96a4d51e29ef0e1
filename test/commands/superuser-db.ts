// A real data directory (PGlite) or database (PostgreSQL) shared by a command test file and
// the `authd` processes it starts. PGlite allows one process at a time: an app opened here is
// always closed before the command runs again.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../src/app.js'
import { openDatabase, type Database } from '../../src/db/database.js'
import { freshPostgresUrl, onPostgres, testConfig, testKeys, type Test } from '../helper.js'
import { pgliteTemplate } from '../pglite-template.js'

export interface CommandDb {
  /** Environment for the command: the same database, cheap bcrypt. */
  env: Record<string, string>
  /** An authd on that database for the length of `fn`, closed afterwards. */
  withApp: <T>(t: Test, fn: (app: FastifyInstance, db: Database) => Promise<T>) => Promise<T>
}

export async function commandDb (t: Test): Promise<CommandDb> {
  // Outside tap's testdirs, which a later t.testdir() may clear.
  const dataDir = mkdtempSync(path.join(tmpdir(), 'authd-command-'))
  t.teardown(() => { rmSync(dataDir, { recursive: true, force: true }) })
  const url = onPostgres ? await freshPostgresUrl(t) : ''
  const open = async (fromTemplate = false): Promise<Database> => await openDatabase({
    url, dataDir, poolSize: 2, migrate: true, ...(fromTemplate && !onPostgres ? { pgliteTemplate: await pgliteTemplate() } : {})
  })
  // Created and migrated up front from the template (initdb would take seconds).
  await (await open(true)).close()
  return {
    env: { DATABASE_URL: url, DATA_DIR: dataDir, MIGRATE_ON_START: 'true', BCRYPT_COST: '4' },
    async withApp (t, fn) {
      const db = await open()
      const app = await buildApp(testConfig(t), { database: db, keys: await testKeys() })
      try {
        await app.ready()
        return await fn(app, db)
      } finally {
        await app.close()
        await db.close()
      }
    }
  }
}
