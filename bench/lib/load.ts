// One load run with autocannon, summarised the way the report needs it: successful requests
// per second, latency percentiles of every answered request (recorded here in microseconds:
// autocannon's own histogram keeps whole milliseconds), and everything that went wrong.
import { createHistogram } from 'node:perf_hooks'
import autocannon from 'autocannon'

export interface LoadSpec {
  url: string
  connections: number
  /** Seconds; ignored when `amount` is set. */
  duration?: number
  /** Total requests to send instead of a duration. */
  amount?: number
  /** Requests cycled through by every connection (buffers built once, shared). */
  requests?: autocannon.Request[]
  /**
   * Requests built per connection instead: for a request whose setupRequest hands out a new
   * body each time. autocannon keeps the built request on the request object, which
   * `requests` shares between connections, so the first request of every connection would
   * carry the same body; a list per connection avoids that.
   */
  perConnection?: () => autocannon.Request[]
  /** Seconds before an unanswered request counts as a timeout (autocannon's default is 10). */
  timeout?: number
  /**
   * Seconds of the same load before `duration`, not recorded, in the same autocannon run: the
   * connections stay busy across the mark, so a scenario whose answers take seconds (login at
   * high bcrypt cost) is measured full, not while its first answers are still on their way.
   * Only answers that arrive after the mark are counted. Needs `duration`.
   */
  warmup?: number
  /** Called at the mark (after `warmup`): reset a probe, start a profile. */
  onMeasureStart?: () => Promise<void>
}

export interface LoadResult {
  connections: number
  durationSeconds: number
  /** Answered requests with a 2xx status. */
  ok: number
  /** 2xx answers per second. */
  rps: number
  /** Answered requests, any status. */
  answered: number
  /** Latency of every answered request, in milliseconds; null when nothing was answered. */
  p50: number | null
  p99: number | null
  max: number | null
  /** Connection errors and timeouts. */
  errors: number
  timeouts: number
  non2xx: number
  statusCodes: Record<string, number>
  /**
   * CPU the load generator (this process: autocannon) used during the measured part, in cores.
   * It shares the machine with the server: on 2 cores, 0.8 here leaves the server 1.2.
   */
  clientCpu: number
}

export async function runLoad (spec: LoadSpec): Promise<LoadResult> {
  const latency = createHistogram()
  const warmup = spec.amount === undefined ? spec.warmup ?? 0 : 0
  const options: autocannon.Options = {
    url: spec.url,
    connections: spec.connections,
    ...(spec.amount === undefined ? { duration: warmup + (spec.duration ?? 10) } : { amount: spec.amount }),
    timeout: spec.timeout ?? 10,
    ...(spec.requests === undefined ? {} : { requests: spec.requests }),
    ...(spec.perConnection === undefined
      ? {}
      : {
          requests: spec.perConnection(),
          setupClient: (client: autocannon.Client) => { client.setRequests((spec.perConnection as () => autocannon.Request[])()) }
        })
  }
  // Answers after the mark, by status class; with no warm-up the mark is the start.
  let measuring = warmup === 0
  let markedAt = performance.now()
  let cpuAtMark = process.cpuUsage()
  const statusCodes: Record<string, number> = {}
  let ok = 0
  let markHook: Promise<void> = Promise.resolve()
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(options, (error: Error | null, done: autocannon.Result) => {
      if (error !== null && error !== undefined) reject(error)
      else resolve(done)
    })
    if (warmup > 0) {
      setTimeout(() => {
        measuring = true
        markedAt = performance.now()
        cpuAtMark = process.cpuUsage()
        markHook = spec.onMeasureStart?.() ?? Promise.resolve()
      }, warmup * 1000)
    } else {
      markHook = spec.onMeasureStart?.() ?? Promise.resolve()
    }
    instance.on('response', (_client: unknown, status: number, _bytes: number, responseTime: number) => {
      if (!measuring) return
      latency.record(Math.max(1, Math.round(responseTime * 1000)))
      statusCodes[status] = (statusCodes[status] ?? 0) + 1
      if (status >= 200 && status < 300) ok++
    })
  })
  const cpu = process.cpuUsage(cpuAtMark)
  await markHook
  const measuredSeconds = spec.amount === undefined ? (performance.now() - markedAt) / 1000 : result.duration
  const ms = (micro: number): number => Math.round(micro / 10) / 100
  return {
    connections: spec.connections,
    durationSeconds: measuredSeconds,
    ok,
    rps: measuredSeconds > 0 ? ok / measuredSeconds : 0,
    answered: latency.count,
    p50: latency.count === 0 ? null : ms(latency.percentile(50)),
    p99: latency.count === 0 ? null : ms(latency.percentile(99)),
    max: latency.count === 0 ? null : ms(latency.max),
    // Over the whole run, warm-up included: an error anywhere makes the row suspect.
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: latency.count - ok,
    statusCodes,
    clientCpu: measuredSeconds > 0 ? (cpu.user + cpu.system) / 1e6 / measuredSeconds : 0
  }
}
