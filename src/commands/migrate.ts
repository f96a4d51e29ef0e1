// `authd migrate`: apply pending migrations and exit (for MIGRATE_ON_START=false deployments).
import { pooledMigrationWarning } from '../db/connection-url.js'
import { openDatabase } from '../db/database.js'
import { parseOptions, type Command } from './command.js'

const HELP = `Usage: authd migrate

Applies the pending database migrations (prisma/migrations) to DIRECT_DATABASE_URL when set, else
to DATABASE_URL, or to the embedded database in DATA_DIR, and exits. Safe to run while other
instances start (PostgreSQL: under an advisory lock, which needs a real session: not through a
transaction-mode pooler). With PGlite, only while authd is stopped (one process at a time may open it).

Options:
  --help   show this text`

export const migrateCommand: Command = {
  name: 'migrate',
  summary: 'migrate   apply pending database migrations (prisma/migrations) and exit',
  async run (args, context) {
    const parsed = parseOptions(args, {}, HELP, context)
    if ('exit' in parsed) return parsed.exit
    const config = context.loadConfig()
    const warning = pooledMigrationWarning(config.DATABASE_URL, config.DIRECT_DATABASE_URL)
    if (warning !== null) context.err(`warning: ${warning}`)
    // openDatabase applies pending migrations when asked to; then there is nothing left to do.
    const db = await openDatabase({ url: config.DATABASE_URL, directUrl: config.DIRECT_DATABASE_URL, dataDir: config.DATA_DIR, poolSize: 1, migrate: true })
    await db.close()
    context.out(`migrations applied (${db.kind})`)
    return 0
  }
}
