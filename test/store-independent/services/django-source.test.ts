// The Django source reader where no database is needed: without the optional better-sqlite3
// (the Docker image leaves it out) a SQLite source is refused with what to do instead.
import t from 'tap'

t.test('without better-sqlite3, a SQLite source is a clear refusal, not a crash', async (t) => {
  const { openDjangoSource, DjangoSourceError } = await t.mockImport<typeof import('../../../src/services/django-source.js')>('../../../src/services/django-source.js', {
    'better-sqlite3': { get default () { throw new Error('Cannot find module \'better-sqlite3\'') } }
  })
  const error = await openDjangoSource('/tmp/db.sqlite3').catch((e: unknown) => e)
  t.ok(error instanceof DjangoSourceError)
  t.match((error as Error).message, /needs the optional package better-sqlite3/)
})
