// The shape rules of src/repositories/README.md, checked on the source so they cannot drift:
// every statement lives in src/repositories (src/db opens connections and migrates), and no
// route opens a transaction or writes an audit event itself.
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const src = fileURLToPath(new URL('../../src/', import.meta.url))

function sources (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) return entry.name === 'generated' ? [] : sources(full)
    return entry.name.endsWith('.ts') ? [full] : []
  })
}

/** The code without its comments (they may well say "UPDATE" or "prisma"). */
const code = (file: string): string => readFileSync(file, 'utf8')
  .replace(/\/\*[\s\S]*?\*\//g, '')
  .replace(/^\s*\/\/.*$/gm, '')
  .replace(/\s\/\/ .*$/gm, '')

const relative = (file: string): string => path.relative(src, file)
const files = sources(src)
const inDataLayer = (file: string): boolean => /^(repositories|db)\//.test(relative(file))

const PRISMA_CALL = /\bprisma\.|\$queryRaw|\$executeRaw|\$transaction|Prisma\.sql/
const SQL_STATEMENT = /\b(SELECT\s[\s\S]{0,300}?\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b/
const REPOSITORY_FACTORY = /create\w+Repository\(/
const DATABASE_ACCESS: Array<[string, RegExp]> = [
  ['a Prisma client call', PRISMA_CALL],
  ['the generated Prisma client', /generated\/prisma/],
  ['a SQL statement', SQL_STATEMENT],
  ['a repository factory (services get repositories from app.db)', REPOSITORY_FACTORY]
]

t.test('no statement outside src/repositories and src/db', async (t) => {
  t.ok(files.length > 50, `read ${files.length} files`)
  for (const file of files.filter((f) => !inDataLayer(f))) {
    const text = code(file)
    for (const [what, pattern] of DATABASE_ACCESS) {
      t.notMatch(text, pattern, `${relative(file)}: no ${what}`)
    }
  }
})

t.test('routes parse, call a service and shape the reply: no transaction, no audit write', async (t) => {
  for (const file of files.filter((f) => relative(f).startsWith('routes/'))) {
    const text = code(file)
    t.notMatch(text, /\.transaction\(|\.repos\b|\.record\(/, `${relative(file)}: no unit of work, no audit write`)
  }
})

t.test('the check sees a violation when there is one', async (t) => {
  // Guards the guard: the patterns match what they are meant to catch.
  t.match('await prisma.$transaction(async (tx) => {})', PRISMA_CALL)
  t.match('const rows = `SELECT id FROM users WHERE id = $1`', SQL_STATEMENT)
  t.match('createSessionRepository(app.db.prisma)', REPOSITORY_FACTORY)
  t.notMatch(code(fileURLToPath(new URL('../../src/services/auth-service.ts', import.meta.url))), SQL_STATEMENT, 'comments that name UPDATE are not statements')
})
