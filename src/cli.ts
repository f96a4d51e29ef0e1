// authd's command line: `npm run migrate`, and `npm run authd -- <command>` for the others (see HELP).
import { parseArgs } from 'node:util'
import { loadConfig } from './config.js'
import { runKeysCommand } from './keys/keys-command.js'
import { openDatabase } from './db/database.js'
import { DEFAULT_BATCH_SIZE, flushExpired } from './services/housekeeping.js'

const HELP = `Usage: authd <command>

Commands:
  migrate   apply pending database migrations (prisma/migrations) and exit
  keys list | rotate [--activate-in S] | prune
            access-token signing keys and their rotation (see \`authd keys --help\`)
  flush-expired [--batch-size N]
            delete expired refresh tokens and dead sessions, print the counts (see --help)
  help      show this text`

const FLUSH_HELP = `Usage: authd flush-expired [--batch-size N]

Deletes refresh tokens (outstanding and blacklisted) that expired more than a minute ago, then
sessions that have expired or were revoked more than REFRESH_TOKEN_TTL ago and have no token
left (simplejwt's flushexpiredtokens). Each batch of at most N rows (default ${DEFAULT_BATCH_SIZE}) is one
short statement, so this is safe to run from cron while authd serves from PostgreSQL.
With the embedded PGlite database, run it only while authd is stopped (one process at a time
may open DATA_DIR/pglite), or let the service do it (HOUSEKEEPING_INTERVAL).

Options:
  --batch-size N   rows deleted per statement (default ${DEFAULT_BATCH_SIZE})
  --help           show this text`

async function flushExpiredCommand (args: string[]): Promise<number> {
  let values: { 'batch-size'?: string, help?: boolean }
  try {
    ({ values } = parseArgs({ args, options: { 'batch-size': { type: 'string' }, help: { type: 'boolean' } }, strict: true }))
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${FLUSH_HELP}\n`)
    return 2
  }
  if (values.help === true) {
    process.stdout.write(`${FLUSH_HELP}\n`)
    return 0
  }
  const batchSize = values['batch-size'] === undefined ? DEFAULT_BATCH_SIZE : Number(values['batch-size'])
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 1_000_000) {
    process.stderr.write(`--batch-size must be a whole number from 1 to 1000000, got ${JSON.stringify(values['batch-size'])}\n`)
    return 2
  }
  const config = loadConfig()
  const db = await openDatabase({ url: config.DATABASE_URL, dataDir: config.DATA_DIR, poolSize: 1, migrate: config.MIGRATE_ON_START })
  try {
    const result = await flushExpired(db.prisma, { batchSize, revokedRetention: config.REFRESH_TOKEN_TTL })
    process.stdout.write(`expired outstanding tokens deleted: ${result.outstandingTokens}\n` +
      `expired blacklisted tokens deleted: ${result.blacklistedTokens}\n` +
      `dead sessions deleted: ${result.sessions}\n`)
    return 0
  } finally {
    await db.close()
  }
}

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
    case 'flush-expired':
      return await flushExpiredCommand(argv.slice(1))
    case 'keys':
      return await runKeysCommand(argv.slice(1), { loadConfig })
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
