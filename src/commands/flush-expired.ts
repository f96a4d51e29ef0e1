// `authd flush-expired`: simplejwt's flushexpiredtokens, for cron (see services/housekeeping.ts).
import { openDatabase } from '../db/database.js'
import { createUnitOfWork } from '../repositories/unit-of-work.js'
import { DEFAULT_BATCH_SIZE, flushExpired } from '../services/housekeeping.js'
import { parseOptions, type Command } from './command.js'

const HELP = `Usage: authd flush-expired [--batch-size N]

Deletes refresh tokens (outstanding and blacklisted) that expired more than a minute ago, then
sessions that have expired or were revoked more than REFRESH_TOKEN_TTL ago and have no token
left (simplejwt's flushexpiredtokens). Each batch of at most N rows (default ${DEFAULT_BATCH_SIZE}) is one
short statement, so this is safe to run from cron while authd serves from PostgreSQL.
With the embedded PGlite database, run it only while authd is stopped (one process at a time
may open DATA_DIR/pglite), or let the service do it (HOUSEKEEPING_INTERVAL).

Options:
  --batch-size N   rows deleted per statement (default ${DEFAULT_BATCH_SIZE})
  --help           show this text`

export const flushExpiredCommand: Command = {
  name: 'flush-expired',
  summary: 'flush-expired [--batch-size N]\n            delete expired refresh tokens and dead sessions, print the counts',
  async run (args, context) {
    const parsed = parseOptions(args, { 'batch-size': { type: 'string' } }, HELP, context)
    if ('exit' in parsed) return parsed.exit
    const raw = parsed.values['batch-size'] as string | undefined
    const batchSize = raw === undefined ? DEFAULT_BATCH_SIZE : Number(raw)
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 1_000_000) {
      context.err(`--batch-size must be a whole number from 1 to 1000000, got ${JSON.stringify(raw)}`)
      return 2
    }
    const config = context.loadConfig()
    const db = await openDatabase({ url: config.DATABASE_URL, directUrl: config.DIRECT_DATABASE_URL, dataDir: config.DATA_DIR, poolSize: 1, migrate: config.MIGRATE_ON_START })
    try {
      const result = await flushExpired(createUnitOfWork(db).repos.housekeeping, { batchSize, revokedRetention: config.REFRESH_TOKEN_TTL, lockoutWindow: config.LOCKOUT_WINDOW })
      context.out(`expired outstanding tokens deleted: ${result.outstandingTokens}\n` +
        `expired blacklisted tokens deleted: ${result.blacklistedTokens}\n` +
        `dead sessions deleted: ${result.sessions}\n` +
        `stale login-failure counts deleted: ${result.loginFailures}\n` +
        `expired second-factor challenges deleted: ${result.mfaChallenges}`)
      return 0
    } finally {
      await db.close()
    }
  }
}
