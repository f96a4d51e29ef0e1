// Benchmark instrumentation, loaded into the server under test only by the bench scripts:
//   node --import ./bench/loop-probe.mjs dist/server.js   (with LOOP_PROBE_PORT set)
// It samples the event-loop delay with perf_hooks.monitorEventLoopDelay and answers on its own
// small HTTP port on 127.0.0.1, so the product needs no benchmark code:
//   GET /        → { p50, p99, max, mean (ms, interval minus resolution), count, rssBytes, … }
//   GET /reset   → clears the histogram (start of a measured phase), same answer as before the reset
//   GET /profile/start, GET /profile/stop?file=<path>
//                → a V8 CPU profile of just a measured phase (node:inspector), written to <path>
// Plain JavaScript on purpose: the server runs under plain `node`, with no TypeScript loader.
import { writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { Session } from 'node:inspector/promises'
import { monitorEventLoopDelay } from 'node:perf_hooks'

const port = Number(process.env.LOOP_PROBE_PORT)
if (Number.isInteger(port) && port > 0) {
  const resolution = Number(process.env.LOOP_PROBE_RESOLUTION ?? 10)
  const histogram = monitorEventLoopDelay({ resolution })
  histogram.enable()

  // The histogram records the time between two timer firings, which is `resolution` ms on an
  // idle loop; what exceeds it is the delay (as @fastify/under-pressure computes it).
  const delayMs = (ns) => Math.max(0, ns / 1e6 - resolution)
  const snapshot = () => ({
    resolutionMs: resolution,
    count: histogram.count,
    mean: histogram.count === 0 ? 0 : delayMs(histogram.mean),
    p50: histogram.count === 0 ? 0 : delayMs(histogram.percentile(50)),
    p99: histogram.count === 0 ? 0 : delayMs(histogram.percentile(99)),
    max: histogram.count === 0 ? 0 : delayMs(histogram.max),
    rssBytes: process.memoryUsage.rss(),
    heapUsedBytes: process.memoryUsage().heapUsed
  })

  let inspector
  async function profile (url) {
    if (url.pathname === '/profile/start') {
      if (inspector === undefined) {
        inspector = new Session()
        inspector.connect()
        await inspector.post('Profiler.enable')
      }
      await inspector.post('Profiler.start')
      return { started: true }
    }
    const file = url.searchParams.get('file')
    if (inspector === undefined || file === null) throw new Error('no profile running, or no file')
    const { profile } = await inspector.post('Profiler.stop')
    await writeFile(file, JSON.stringify(profile))
    return { file }
  }

  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://probe')
    const answer = url.pathname.startsWith('/profile/') ? profile(url) : Promise.resolve(snapshot())
    if (url.pathname === '/reset') histogram.reset()
    answer.then((body) => {
      response.writeHead(200, { 'content-type': 'application/json' })
      response.end(JSON.stringify(body))
    }, (error) => {
      response.writeHead(500, { 'content-type': 'application/json' })
      response.end(JSON.stringify({ error: String(error) }))
    })
  })
  server.listen(port, '127.0.0.1')
  // Never keeps the server process alive on its own: its graceful shutdown is unchanged.
  server.unref()
}
