// `npx tsx bench/profile-top.ts <file.cpuprofile> [count]`: where a V8 CPU profile (node
// --cpu-prof, e.g. from BENCH_CPU_PROF=1 npm run bench) spent its time: the functions with the
// most self time, and the same time summed by package (or by file for authd's own code).
import { readFile } from 'node:fs/promises'

interface ProfileNode {
  id: number
  callFrame: { functionName: string, url: string, lineNumber: number }
  children?: number[]
}
interface Profile { nodes: ProfileNode[], samples: number[], timeDeltas: number[] }

const [file, countArgument] = process.argv.slice(2)
if (file === undefined) {
  process.stderr.write('usage: tsx bench/profile-top.ts <file.cpuprofile> [count]\n')
  process.exit(2)
}
const count = Number(countArgument ?? 25)
const profile = JSON.parse(await readFile(file, 'utf8')) as Profile
const nodes = new Map(profile.nodes.map((node) => [node.id, node]))

// The bench's loop probe starts and stops the profiler: its own frames are not authd's work.
const parents = new Map<number, number>()
for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id)
const probeNodes = new Set<number>()
for (const node of profile.nodes) {
  for (let id: number | undefined = node.id; id !== undefined; id = parents.get(id)) {
    if ((nodes.get(id) as ProfileNode).callFrame.url.endsWith('/loop-probe.mjs')) { probeNodes.add(node.id); break }
  }
}

const selfTime = new Map<number, number>()
profile.samples.forEach((id, index) => {
  if (!probeNodes.has(id)) selfTime.set(id, (selfTime.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0))
})
const total = [...selfTime.values()].reduce((sum, time) => sum + time, 0)

/** node_modules/<package>, or the file for authd's code, or V8/Node internals. */
function owner (url: string): string {
  if (url === '') return '(native / V8)'
  if (url.startsWith('node:')) return '(node internals)'
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (match !== null) return match[1] as string
  const dist = /\/(dist|src|bench)\/(.*)$/.exec(url)
  return dist === null ? url : `${dist[1]}/${dist[2]}`
}

const byFunction = new Map<string, number>()
const byOwner = new Map<string, number>()
for (const [id, time] of selfTime) {
  const { functionName, url, lineNumber } = (nodes.get(id) as ProfileNode).callFrame
  const where = url === '' ? '' : ` ${owner(url)}:${lineNumber + 1}`
  const name = `${functionName === '' ? '(anonymous)' : functionName}${where}`
  byFunction.set(name, (byFunction.get(name) ?? 0) + time)
  byOwner.set(owner(url), (byOwner.get(owner(url)) ?? 0) + time)
}

const print = (title: string, entries: Map<string, number>): void => {
  process.stdout.write(`${title}\n`)
  for (const [name, time] of [...entries].sort((a, b) => b[1] - a[1]).slice(0, count)) {
    process.stdout.write(`${(time / 1000).toFixed(0).padStart(8)} ms ${(100 * time / total).toFixed(1).padStart(5)}%  ${name}\n`)
  }
}
process.stdout.write(`${file}: ${(total / 1e6).toFixed(1)} s sampled (the probe's own frames left out)\n`)
print('self time by function', byFunction)
print('self time by package / file', byOwner)
