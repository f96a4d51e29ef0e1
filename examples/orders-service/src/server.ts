// Runs the orders service: AUTHD_URL (default http://127.0.0.1:3000), HOST (127.0.0.1),
// PORT (3001; 0 picks a free one), AUTHD_ISSUER (AUTHD_URL), AUTHD_AUDIENCE (authd), LOG_LEVEL (info).
import { buildOrdersService } from './app.js'

const env = process.env
const port = Number(env.PORT ?? 3001)
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`PORT=${JSON.stringify(env.PORT)}: must be an integer from 0 to 65535\n`)
  process.exit(1)
}

const app = await buildOrdersService({
  authdUrl: env.AUTHD_URL ?? 'http://127.0.0.1:3000',
  ...(env.AUTHD_ISSUER !== undefined ? { issuer: env.AUTHD_ISSUER } : {}),
  audience: env.AUTHD_AUDIENCE ?? 'authd',
  logLevel: env.LOG_LEVEL ?? 'info'
})

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    app.close().then(() => process.exit(0), () => process.exit(1))
  })
}

await app.listen({ host: env.HOST ?? '127.0.0.1', port })
