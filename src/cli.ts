// authd's command line: `npm run migrate` (and later keys, housekeeping, createsuperuser).
import { loadConfig } from './config.js'
import { openDatabase } from './db/database.js'

const HELP = `Usage: authd <command>

Commands:
  migrate   apply pending database migrations (prisma/migrations) and exit
  help      show this text`

async function main (argv: string[]): Promise<number> {
  const [command] = argv
  switch (command) {
    case 'migrate': {
      const config = loadConfig()
      // openDatabase applies pending migrations when asked to; then there is nothing left to do.
      const db = await openDatabase({ url: config.DATABASE_URL, dataDir: config.DATA_DIR, poolSize: 1, migrate: true })
      await db.close()
      process.stdout.write(`migrations applied (${db.kind})\n`)
      return 0
    }
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(`${HELP}\n`)
      return 0
    default:
      process.stderr.write(`unknown command: ${command}\n${HELP}\n`)
      return 2
  }
}

process.exitCode = await main(process.argv.slice(2))
