// The tables `npm run bench` prints (columns explained in bench/README.md).
import type { MemoryResult, ScenarioRow } from '../run.js'
import type { StoreKind } from './options.js'
import type { StartupResult } from './startup.js'

export const mb = (bytes: number | null): string => bytes === null ? '?' : `${(bytes / 1024 / 1024).toFixed(1)} MB`

const fixed = (value: number, digits: number): string => value.toFixed(digits)

/** Aligned columns under a ruled header: the `numeric` ones right-aligned. */
function renderTable (header: string[], lines: string[][], numeric: Set<number>): string[] {
  const widths = header.map((title, column) => Math.max(title.length, ...lines.map((line) => (line[column] as string).length)))
  const render = (cells: string[]): string => cells.map((cell, column) => numeric.has(column) ? cell.padStart(widths[column] as number) : cell.padEnd(widths[column] as number)).join('  ')
  return [render(header), widths.map((width) => '-'.repeat(width)).join('  '), ...lines.map(render)]
}

export function formatTable (rows: ScenarioRow[]): string {
  const header = ['scenario', 'store', 'conns', 'req/s', 'p50 ms', 'p99 ms', 'err/non-2xx', 'ceiling', 'ratio', 'loop p99 ms', 'client cpu']
  const lines = rows.map((row) => [
    row.scenario,
    row.store,
    String(row.connections),
    fixed(row.rps, row.rps < 100 ? 1 : 0),
    row.p50 === null ? '-' : fixed(row.p50, 2),
    row.p99 === null ? '-' : fixed(row.p99, 2),
    `${row.errors}/${row.non2xx}`,
    row.ceilingRate === null ? row.ceiling : `${row.ceiling} ${fixed(row.ceilingRate, row.ceilingRate < 100 ? 1 : 0)}/s`,
    row.ratio === null ? '-' : fixed(row.ratio, 2),
    row.loopP99 === null ? '-' : fixed(row.loopP99, 1),
    fixed(row.clientCpu, 2)
  ])
  const table = renderTable(header, lines, new Set([2, 3, 4, 5, 6, 8, 9, 10]))
  const unanswered = rows.filter((row) => row.answered < 10)
  if (unanswered.length > 0) {
    table.push(`fewer than 10 answers in the measured run (latency longer than BENCH_DURATION?): ${unanswered.map((row) => `${row.scenario} ${row.store} ×${row.connections}`).join(', ')}`)
  }
  return table.join('\n')
}

const STORE_TITLES: Record<StoreKind, string> = { pglite: 'PGlite', postgres: 'PostgreSQL' }

/**
 * The memory round whose requests add up to 100k (or the first past it; the last when fewer ran),
 * with the requests it took: the "RSS after 100k requests" of issue 18.
 */
function rssAfterRequests (memory: MemoryResult): { requests: number, rss: number | null } | undefined {
  const count = memory.rssAfterRounds.length
  if (count === 0) return undefined
  const round = Math.min(count, Math.max(1, Math.ceil(100_000 / memory.requestsPerRound)))
  return { requests: round * memory.requestsPerRound, rss: memory.rssAfterRounds[round - 1] ?? null }
}

/**
 * Start-up and memory per store, side by side: the startup scenario's medians and peaks
 * (bench/lib/startup.ts) and the memory scenario's RSS after 100k requests. '-': not run.
 */
export function formatStartupTable (stores: StoreKind[], startup: StartupResult[], memory: MemoryResult[]): string {
  const seconds = (value: number | undefined): string => value === undefined ? '-' : fixed(value, 2)
  const cpu = (value: number | null | undefined): string => value === undefined ? '-' : value === null ? '?' : fixed(value, 2)
  const megabytes = (bytes: number | null | undefined): string => bytes === undefined ? '-' : bytes === null ? '?' : fixed(bytes / 1024 / 1024, 0)
  const of = (kind: StoreKind): StartupResult | undefined => startup.find((result) => result.store === kind)
  const afterRequests = (kind: StoreKind): ReturnType<typeof rssAfterRequests> => {
    const result = memory.find((item) => item.store === kind)
    return result === undefined ? undefined : rssAfterRequests(result)
  }
  const requests = new Set(stores.map((kind) => afterRequests(kind)?.requests).filter((count) => count !== undefined))
  const requestsLabel = requests.size === 1 ? `${([...requests][0] as number) / 1000}k` : '100k'
  const rows: Array<[string, (kind: StoreKind) => string]> = [
    ['first start → healthy (s)', (kind) => seconds(of(kind)?.summary.firstSeconds)],
    ['restart → healthy (s)', (kind) => seconds(of(kind)?.summary.restartSeconds)],
    ['`npm start` → healthy (s)', (kind) => seconds(of(kind)?.npmStart?.healthySeconds)],
    ['CPU to healthy, first start (s)', (kind) => cpu(of(kind)?.summary.firstCpuSeconds)],
    ['CPU to healthy, restart (s)', (kind) => cpu(of(kind)?.summary.restartCpuSeconds)],
    ['RSS after first start (MB)', (kind) => megabytes(of(kind)?.summary.rssAfterFirst)],
    ['RSS after restart (MB)', (kind) => megabytes(of(kind)?.summary.rssAfterRestart)],
    ['steady RSS, 35 s idle after restart (MB)', (kind) => megabytes(of(kind)?.summary.steadyRss)],
    ['peak RSS first start (MB)', (kind) => megabytes(of(kind)?.summary.peakFirst)],
    ['peak RSS restart (MB)', (kind) => megabytes(of(kind)?.summary.peakRestart)],
    [`RSS after ${requestsLabel} requests (MB)`, (kind) => megabytes(afterRequests(kind)?.rss)]
  ]
  const header = ['Start-up and memory', ...stores.map((kind) => STORE_TITLES[kind])]
  const lines = rows.map(([label, value]) => [label, ...stores.map(value)])
  const runs = [...new Set(startup.map((result) => result.runs.length))].join('/')
  const table = renderTable(header, lines, new Set(stores.map((_kind, index) => index + 1)))
  if (startup.length > 0) table.push(`times and RSS: median of ${runs} run(s); peaks: the largest of any run; \`npm start\`: one run, fresh store`)
  return table.join('\n')
}
