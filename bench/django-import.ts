// `npm run bench:django-import [-- COUNT]`: the time and rate of `authd import django` for COUNT
// (default 3000) Django users. Debian's Django makes them (test/django/django_project.py: Django's
// own migrations, bulk_create with a few precomputed real hashes, every 50th user staff with a
// group) in a SQLite file, and also in a PostgreSQL database when 127.0.0.1:5432 answers; each is
// imported into a fresh embedded PGlite store (the default) — the PostgreSQL one into a fresh
// authd PostgreSQL database too — then again (the idempotent re-run).
// Needs /usr/bin/python3 with python3-django (DJANGO_PYTHON to use another).
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { runCommand } from '../src/commands/index.js'
import { parseConfig } from '../src/config.js'

const count = Number(process.argv[2] ?? 3000)
const python = process.env.DJANGO_PYTHON ?? '/usr/bin/python3'
const script = new URL('../test/django/django_project.py', import.meta.url).pathname
const pgAdmin = process.env.DJANGO_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres'
const work = mkdtempSync(path.join(tmpdir(), 'authd-django-bench-'))

function makeUsers (target: string): void {
  const started = Date.now()
  const res = spawnSync(python, [script, 'bulk', target, String(count)], { encoding: 'utf8' })
  if (res.status !== 0) throw new Error(`django_project.py: ${res.stderr}`)
  process.stdout.write(`  Django made ${count} users in ${((Date.now() - started) / 1000).toFixed(1)} s\n`)
}

async function importInto (from: string, label: string, databaseUrl = ''): Promise<void> {
  const dataDir = mkdtempSync(path.join(work, 'authd-'))
  const env = { NODE_ENV: 'development', LOG_LEVEL: 'silent', DATA_DIR: dataDir, DATABASE_URL: databaseUrl, MIGRATE_ON_START: 'true' }
  const store = databaseUrl === '' ? 'PGlite' : 'PostgreSQL'
  for (const run of ['first run', 're-run']) {
    let out = ''
    const code = await runCommand(['import', 'django', '--from', from], {
      out: (text) => { out += `${text}\n` },
      err: (text) => { process.stderr.write(`${text}\n`) },
      loadConfig: () => parseConfig(env),
      stdin: process.stdin
    })
    if (code !== 0) throw new Error(`import exited ${code}`)
    const counts = /imported: (\d+)\n {2}updated: {2}(\d+)\n {2}unchanged: (\d+)/.exec(out)
    const time = /time: (.*)/.exec(out)?.[1]
    process.stdout.write(`  ${label} → authd on ${store}, ${run}: imported ${counts?.[1]}, updated ${counts?.[2]}, unchanged ${counts?.[3]}; ${time}\n`)
  }
}

try {
  process.stdout.write(`Django SQLite file, ${count} users\n`)
  const file = path.join(work, 'django.sqlite3')
  makeUsers(file)
  await importInto(file, 'SQLite')

  const admin = new pg.Client({ connectionString: pgAdmin })
  const reachable = await admin.connect().then(() => true, () => false)
  if (reachable) {
    const name = `authd_django_bench_${process.pid}`
    await admin.query(`CREATE DATABASE ${name}`)
    try {
      const url = new URL(pgAdmin)
      url.pathname = `/${name}`
      process.stdout.write(`Django PostgreSQL database, ${count} users\n`)
      makeUsers(url.toString())
      await importInto(url.toString(), 'PostgreSQL')
      await admin.query(`CREATE DATABASE ${name}_authd`)
      const authdUrl = new URL(pgAdmin)
      authdUrl.pathname = `/${name}_authd`
      await importInto(url.toString(), 'PostgreSQL', authdUrl.toString())
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      await admin.query(`DROP DATABASE IF EXISTS ${name}_authd WITH (FORCE)`)
      await admin.end()
    }
  } else {
    process.stdout.write(`PostgreSQL not reachable at ${pgAdmin}: the SQLite source only\n`)
  }
} finally {
  rmSync(work, { recursive: true, force: true })
}
