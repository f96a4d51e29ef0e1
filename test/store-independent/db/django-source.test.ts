// The Django source reader where no database is needed: a path that is not a SQLite file is a
// clear refusal naming the file, not a crash or an empty import.
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { DjangoSourceError, openDjangoSource } from '../../../src/db/django-source.js'

t.test('a file that is not a SQLite database, and one that is not there, are refused by name', async (t) => {
  const dir = t.testdir()
  const notSqlite = path.join(dir, 'notes.txt')
  writeFileSync(notSqlite, 'these are not the tables you are looking for\n'.repeat(100))
  for (const [file, reason] of [[notSqlite, /file is not a database/], [path.join(dir, 'missing.sqlite3'), /ENOENT/]] as const) {
    const error = await openDjangoSource(file).catch((e: unknown) => e)
    t.ok(error instanceof DjangoSourceError, file)
    t.match((error as Error).message, /cannot open the SQLite database/)
    t.match((error as Error).message, reason)
    t.match((error as Error).message, path.basename(file))
  }
})
