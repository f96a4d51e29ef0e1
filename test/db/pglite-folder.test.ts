// The embedded store's folder (src/db/pglite.ts): a first start copies the build's migrated
// template instead of running initdb, a first start cut short leaves nothing the next one trips
// on, and a folder that is not a database is refused, never overwritten.
import { existsSync } from 'node:fs'
import { mkdir, readdir } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { PGlite } from '@electric-sql/pglite'
import { listMigrations } from '../../src/db/migrate.js'
import { buildTemplate, openPGliteFolder, pgliteOptions, START_SETTINGS, templateKey } from '../../src/db/pglite.js'

const appliedMigrations = async (pglite: PGlite): Promise<number> =>
  (await pglite.query<{ n: number }>('SELECT count(*)::int AS n FROM "_prisma_migrations" WHERE finished_at IS NOT NULL')).rows[0]?.n ?? -1

t.test('the build makes one template per PGlite and migrations; a first start copies it', async (t) => {
  // One t.testdir() per test: a second call empties the folder again.
  const dir = t.testdir({ templates: { 'an-older-key': { PG_VERSION: '17' }, 'half-made.init': {} } })
  const templates = path.join(dir, 'templates')
  const made = await buildTemplate(templates)
  t.equal(made.built, true, 'a template is made when none fits')
  t.equal(path.basename(made.folder), await templateKey())
  t.same(await readdir(templates), [await templateKey()], 'templates of other keys and leftovers are removed')
  t.equal((await buildTemplate(templates)).built, false, 'a second build keeps the template it finds')

  const folder = path.join(dir, 'pglite')
  const first = await openPGliteFolder(folder, true, templates)
  t.equal(await appliedMigrations(first), (await listMigrations()).length, 'the copy holds every migration')
  await first.query("INSERT INTO users (id, email, password_hash, updated_at) VALUES (gen_random_uuid(), 'kept@example.com', 'x', now())")
  await first.close()
  t.notOk(existsSync(`${folder}.init`), 'nothing is left beside the folder')

  const again = await openPGliteFolder(folder, true, templates)
  t.same((await again.query('SELECT email FROM users')).rows, [{ email: 'kept@example.com' }], 'a restart opens the same data')
  await again.close()
})

t.test('a first start killed half-way (a .init folder left) starts over; without a template it runs initdb', async (t) => {
  const dir = t.testdir({ 'pglite.init': { PG_VERSION: '17', base: { 'half-written': 'x' } }, templates: {} })
  const folder = path.join(dir, 'pglite')
  const emptyTemplates = path.join(dir, 'templates')
  const pglite = await openPGliteFolder(folder, true, emptyTemplates)
  t.equal(await appliedMigrations(pglite), (await listMigrations()).length, 'made by initdb, then migrated')
  await pglite.close()
  t.notOk(existsSync(`${folder}.init`), 'the leftover is gone')
  t.ok(existsSync(path.join(folder, 'PG_VERSION')))
})

t.test('a folder that is not a database is refused and left as it was', async (t) => {
  const dir = t.testdir({ pglite: { 'notes.txt': 'mine' }, templates: {} })
  await t.rejects(openPGliteFolder(path.join(dir, 'pglite'), true, path.join(dir, 'templates')), /exists but is not a database \(it has no PG_VERSION\)/)
  t.same(await readdir(path.join(dir, 'pglite')), ['notes.txt'])
  // An empty folder (made by hand, or by an older authd that stopped before initdb) is fine.
  await mkdir(path.join(dir, 'empty'))
  const pglite = await openPGliteFolder(path.join(dir, 'empty'), false, null)
  t.ok(existsSync(path.join(dir, 'empty', 'PG_VERSION')))
  await pglite.close()
})

t.test('every PGlite runs with the reduced memory settings', async (t) => {
  const pglite = new PGlite(pgliteOptions())
  await pglite.waitReady
  const setting = async (name: string): Promise<string> => (await pglite.query<{ s: string }>(`SELECT current_setting('${name}') AS s`)).rows[0]?.s ?? ''
  t.equal(await setting('shared_buffers'), '8MB', 'not PostgreSQL\'s 128MB')
  t.equal(await setting('max_connections'), '10')
  t.ok(START_SETTINGS.includes('shared_buffers=8MB'))
  await pglite.close()
})
