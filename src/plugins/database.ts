import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { pooledMigrationWarning } from '../db/connection-url.js'
import { openDatabase, type Database } from '../db/database.js'
import { createUnitOfWork, type UnitOfWork } from '../repositories/unit-of-work.js'

/** The open database and the one way services use it: `repos` and `transaction`. */
export type AppDatabase = Database & UnitOfWork

declare module 'fastify' {
  interface FastifyInstance {
    db: AppDatabase
  }
}

export interface DatabasePluginOptions {
  /** An already-open database (tests, CLI); otherwise one is opened from the config. */
  database?: Database
}

async function databasePlugin (app: FastifyInstance, options: DatabasePluginOptions): Promise<void> {
  const { config } = app
  if (options.database === undefined && config.MIGRATE_ON_START) {
    // Before migrating: if the advisory lock then hangs the start, this is the last line logged.
    const warning = pooledMigrationWarning(config.DATABASE_URL, config.DIRECT_DATABASE_URL)
    if (warning !== null) app.log.warn(warning)
  }
  const database = options.database ?? await openDatabase({
    url: config.DATABASE_URL,
    directUrl: config.DIRECT_DATABASE_URL,
    dataDir: config.DATA_DIR,
    poolSize: config.DATABASE_POOL_SIZE,
    migrate: config.MIGRATE_ON_START
  })
  // The same object, with the unit of work added: whoever handed it in (tests, the CLI) sees
  // the app's database, and a fault injected into it (a failing ping) reaches the app.
  app.decorate('db', Object.assign(database, createUnitOfWork(database)))
  // Whoever opened it closes it.
  if (options.database === undefined) app.addHook('onClose', async () => { await database.close() })
  app.log.info({ kind: database.kind }, 'database ready')
}

export default fp(databasePlugin, { name: 'database', dependencies: ['config'] })
