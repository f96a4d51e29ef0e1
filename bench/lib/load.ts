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
}

export async function runLoad (spec: LoadSpec): Promise<LoadResult> {
  const latency = createHistogram()
  const options: autocannon.Options = {
    url: spec.url,
    connections: spec.connections,
    ...(spec.amount === undefined ? { duration: spec.duration ?? 10 } : { amount: spec.amount }),
    timeout: spec.timeout ?? 10,
    ...(spec.requests === undefined ? {} : { requests: spec.requests }),
    ...(spec.perConnection === undefined
      ? {}
      : {
          requests: spec.perConnection(),
          setupClient: (client: autocannon.Client) => { client.setRequests((spec.perConnection as () => autocannon.Request[])()) }
        })
  }
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(options, (error: Error | null, done: autocannon.Result) => {
      if (error !== null && error !== undefined) reject(error)
      else resolve(done)
    })
    instance.on('response', (_client: unknown, _status: number, _bytes: number, responseTime: number) => {
      latency.record(Math.max(1, Math.round(responseTime * 1000)))
    })
  })
  const ok = result['2xx']
  const statusCodes: Record<string, number> = {}
  for (const [code, stats] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = stats.count ?? 0
  const ms = (micro: number): number => Math.round(micro / 10) / 100
  return {
    connections: spec.connections,
    durationSeconds: result.duration,
    ok,
    rps: result.duration > 0 ? ok / result.duration : 0,
    answered: latency.count,
    p50: latency.count === 0 ? null : ms(latency.percentile(50)),
    p99: latency.count === 0 ? null : ms(latency.percentile(99)),
    max: latency.count === 0 ? null : ms(latency.max),
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    statusCodes
  }
}
