// The table `npm run bench` prints (columns explained in bench/README.md).
import type { ScenarioRow } from '../run.js'

export const mb = (bytes: number | null): string => bytes === null ? '?' : `${(bytes / 1024 / 1024).toFixed(1)} MB`

const fixed = (value: number, digits: number): string => value.toFixed(digits)

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
  const widths = header.map((title, column) => Math.max(title.length, ...lines.map((line) => (line[column] as string).length)))
  const numeric = new Set([2, 3, 4, 5, 6, 8, 9, 10])
  const render = (cells: string[]): string => cells.map((cell, column) => numeric.has(column) ? cell.padStart(widths[column] as number) : cell.padEnd(widths[column] as number)).join('  ')
  const table = [render(header), widths.map((width) => '-'.repeat(width)).join('  '), ...lines.map(render)]
  const unanswered = rows.filter((row) => row.answered < 10)
  if (unanswered.length > 0) {
    table.push(`fewer than 10 answers in the measured run (latency longer than BENCH_DURATION?): ${unanswered.map((row) => `${row.scenario} ${row.store} ×${row.connections}`).join(', ')}`)
  }
  return table.join('\n')
}
