// The "bare Fastify" ceiling: the same Fastify as authd, one route, no plugins, no logging.
// Run as its own process (like authd) with PORT set; plain JavaScript under plain `node`.
import Fastify from 'fastify'

const app = Fastify({ logger: false })
app.get('/', async () => ({ hello: 'world' }))
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 3000) })
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
}
