// Loaded before tsx in every test process (package.json, tap "node-arg"). tsx leaves the
// TypeScript source out of its source maps unless NODE_V8_COVERAGE is set, and without it the
// coverage report cannot map V8's counts back to .ts lines: each file showed as one covered
// line, "100%". Node reads NODE_V8_COVERAGE only at startup, so setting it here costs this
// process nothing; the processes it starts (the CLI, authd) inherit it, keep their sources too,
// and write V8's own copy of their coverage at exit into a directory removed when this one ends
// (tap's report reads .tap/coverage, not that copy).
import { mkdtempSync, rmSync } from 'node:fs'
import { register } from 'node:module'
import { tmpdir } from 'node:os'
import path from 'node:path'

if (process.env.NODE_V8_COVERAGE === undefined && process.env._TAPJS_PROCESSINFO_COVERAGE_ !== '0') {
  const dir = mkdtempSync(path.join(tmpdir(), 'authd-v8-coverage-'))
  process.env.NODE_V8_COVERAGE = dir
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
}
// tsx compiles ES modules in the module-hooks thread, which tap's own hooks started before this
// file ran, with a copy of the environment as it was then: tell that thread too.
const initialize = 'export function initialize (dir) { if (dir !== undefined) process.env.NODE_V8_COVERAGE ??= dir }'
register(`data:text/javascript,${encodeURIComponent(initialize)}`, { data: process.env.NODE_V8_COVERAGE })
