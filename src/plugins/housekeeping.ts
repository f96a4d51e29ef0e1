// The periodic housekeeping run inside the service (HOUSEKEEPING_INTERVAL seconds, 0 = off):
// flushExpired every interval after start. Runs never overlap — the next one is scheduled
// only when the previous one has finished — and the timer is unref'd, so it never keeps the
// process alive; closing the app cancels it and waits for a run in progress.
// `authd flush-expired` does the same from the command line (cron, or PGlite while stopped).
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { flushExpired, type FlushResult } from '../services/housekeeping.js'

declare module 'fastify' {
  interface FastifyInstance {
    housekeeping: {
      /** Runs a flush now, unless one is already running (then resolves to null). */
      run: () => Promise<FlushResult | null>
    }
  }
}

async function housekeepingPlugin (app: FastifyInstance): Promise<void> {
  const interval = app.config.HOUSEKEEPING_INTERVAL
  let running: Promise<FlushResult | null> | null = null
  let timer: NodeJS.Timeout | undefined
  let closed = false

  async function flush (): Promise<FlushResult | null> {
    try {
      const result = await flushExpired(app.db.repos.housekeeping, { revokedRetention: app.config.REFRESH_TOKEN_TTL, lockoutWindow: app.config.LOCKOUT_WINDOW })
      app.log.info({ housekeeping: result }, 'housekeeping: expired tokens and dead sessions deleted')
      return result
    } catch (err) {
      // A failed run (database briefly away) is retried at the next interval.
      app.log.error({ err }, 'housekeeping run failed')
      return null
    }
  }

  function run (): Promise<FlushResult | null> {
    if (running !== null) return Promise.resolve(null)
    running = flush().finally(() => { running = null })
    return running
  }

  function schedule (): void {
    if (closed || interval === 0) return
    timer = setTimeout(() => { void run().then(schedule) }, interval * 1000)
    timer.unref()
  }

  app.decorate('housekeeping', { run })
  app.addHook('onReady', async () => { schedule() })
  // preClose, not onClose: the database (closed in an onClose hook) must outlive the last run.
  app.addHook('preClose', async () => {
    closed = true
    clearTimeout(timer)
    await running
  })
}

export default fp(housekeepingPlugin, { name: 'housekeeping', dependencies: ['config', 'database'] })
