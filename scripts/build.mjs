// `npm run build` and `npm start`'s prestart (`--if-stale`).
//
// The build compiles @authd/verifier and src/ (tsc), then makes the embedded store's template
// (src/db/pglite.ts: a migrated PGlite data folder that a first start copies instead of running
// initdb). Each finished build writes dist/.build-stamp: a fingerprint (path, size, modification
// time) of everything the build reads. With --if-stale the build runs only when the fingerprint
// changed, the way make compares times: a restart that changed nothing costs a few directory
// listings, not the 10-30 s of tsc (issue 18). Plain JavaScript, because it runs before anything
// is compiled; no library does this comparison for a mixed tsc + data build.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFileSync, readdirSync, statSync, writeFileSync, mkdirSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const stampFile = path.join(root, 'dist', '.build-stamp')

/** What the build reads: sources, compiler settings, migrations, and the PGlite that makes the template. */
const INPUTS = [
  'src', 'packages/verifier/src', 'prisma/migrations',
  'tsconfig.json', 'src/verifier/tsconfig.json', 'packages/verifier/tsconfig.json', 'packages/verifier/package.json',
  'package.json', 'package-lock.json', 'scripts/build.mjs',
  'node_modules/@electric-sql/pglite/package.json'
]

function fingerprint () {
  const hash = createHash('sha256')
  const visit = (relative) => {
    let info
    try { info = statSync(path.join(root, relative)) } catch { hash.update(`${relative}:missing\n`); return }
    if (info.isDirectory()) {
      for (const entry of readdirSync(path.join(root, relative)).sort()) visit(path.join(relative, entry))
    } else {
      hash.update(`${relative}:${info.size}:${info.mtimeMs}\n`)
    }
  }
  for (const input of INPUTS) visit(input)
  return hash.digest('hex')
}

function run (command, args) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' })
  if (result.status !== 0) process.exit(result.status ?? 1)
}

const before = fingerprint()
if (process.argv.includes('--if-stale')) {
  let stamp = ''
  try { stamp = readFileSync(stampFile, 'utf8').trim() } catch {}
  if (stamp === before) process.exit(0)
  console.error('authd: sources changed since the last build (or never built): building first')
}
// TypeScript's own entry point run by this node (not node_modules/.bin/tsc, a shell script on Windows).
const tsc = (...args) => run(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), ...args])
tsc('-b', 'packages/verifier')
tsc('-p', 'tsconfig.json')
tsc('-p', 'src/verifier/tsconfig.json')
run(process.execPath, ['dist/db/build-template.js'])
mkdirSync(path.dirname(stampFile), { recursive: true })
// The fingerprint from before the build: a file changed while it ran makes the next start build again.
writeFileSync(stampFile, `${before}\n`)
