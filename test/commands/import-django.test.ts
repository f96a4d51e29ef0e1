// `authd import django` from a Django-shaped SQLite database (test/commands/django-db.ts, with
// hashes Django wrote) into a real authd store: what is imported, skipped and why, the
// logins with the original passwords (rehashed at the first one), the dry run, and a re-run that
// updates instead of duplicating — without taking over an account authd made itself.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pg from 'pg'
import t from 'tap'
import { runCommand } from '../../src/commands/index.js'
import { freshPostgresUrl, login, onPostgres, refresh, register } from '../helper.js'
import { decodePayload } from '../jwt-helper.js'
import { createDjangoSqlite, vector } from './django-db.js'
import { captureContext, runCli } from './run-cli.js'
import { commandDb } from './superuser-db.js'

const { env, withApp } = await commandDb(t)
const dir = mkdtempSync(path.join(tmpdir(), 'authd-django-'))
t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
const file = path.join(dir, 'db.sqlite3')
const django = await createDjangoSqlite(file, { allauth: true })
t.teardown(() => { django.close() })

const pbkdf2 = vector('pbkdf2_sha256')
const argon2 = vector('argon2')
const bcryptSha256 = vector('bcrypt_sha256')
const sha1 = vector('pbkdf2_sha1')
const scrypt = vector('scrypt')
const PASSWORD = pbkdf2.password // every first vector hashes this one

django.addUser({ id: 1, email: 'Alice@Example.com', username: 'alice', first_name: 'Alice', last_name: 'Liddell', password: pbkdf2.encoded, is_superuser: true, is_staff: true })
django.addGroup(1, 'Editors')
django.addGroup(1, 'Billing Team')
django.addGroup(1, '!!!')
django.addUser({ id: 2, email: 'bob@example.com', username: 'bob', password: argon2.encoded, is_staff: true })
django.addUser({ id: 3, email: 'carol@old.example', username: 'carol', password: bcryptSha256.encoded })
django.addAddress(3, 'carol@old.example', false, false)
django.addAddress(3, 'Carol@New.example', true, true)
django.addUser({ id: 4, email: 'dave@example.com', password: pbkdf2.encoded, is_active: false })
django.addUser({ id: 5, email: '', username: 'erin', password: pbkdf2.encoded })
django.addUser({ id: 6, email: 'Frank@Example.com', username: 'frank_old', password: scrypt.encoded, last_login: '2024-02-01 10:00:00' })
django.addUser({ id: 7, email: 'frank@example.com', username: 'frank', password: sha1.encoded, last_login: '2025-06-01 10:00:00' })
django.addUser({ id: 8, email: 'gina@example.com', username: 'gina', password: '!' + 'x'.repeat(40) })
django.addUser({ id: 9, email: 'hank@example.com', username: 'hank@home', password: 'md5$salt$0123456789abcdef0123456789abcdef' })
django.addUser({ id: 10, email: 'ivan@example.com', username: 'ivan', password: pbkdf2.encoded })
django.addUser({ id: 11, email: 'not an address', username: 'judy', password: pbkdf2.encoded })
django.addUser({ id: 12, email: 'kim@example.com', username: 'kim', password: scrypt.encoded })
// Django's usernames are case-sensitive, authd's are not: the second of these gets none.
django.addUser({ id: 13, email: 'sam1@example.com', username: 'Sam', password: pbkdf2.encoded })
django.addUser({ id: 14, email: 'sam2@example.com', username: 'sam', password: pbkdf2.encoded })

const run = async (args: string[], progress?: string[]) => {
  const { context, output } = captureContext(env)
  if (progress !== undefined) context.progress = (text) => { progress.push(text) }
  const code = await runCommand(['import', 'django', '--from', file, ...args], context)
  return { code, ...output }
}

let ivan: Awaited<ReturnType<typeof register>>

t.test('setup: ivan registered in authd himself, before the import', async (t) => {
  await withApp(t, async (app) => { ivan = await register(app, { email: 'ivan@example.com' }) })
})

t.test('--dry-run lists what would change and writes nothing', async (t) => {
  const res = await run(['--dry-run'])
  t.equal(res.code, 0, res.stderr)
  t.match(res.stdout, /^14 users in sqlite table auth_user; groups: yes; allauth addresses: yes$/m)
  t.match(res.stdout, /^create alice@example\.com roles: admin billing-team editors$/m)
  t.match(res.stdout, /^create carol@new\.example$/m)
  t.match(res.stdout, /^create gina@example\.com \(no password\)$/m)
  t.match(res.stdout, /^skip {3}django:6 frank@example\.com: duplicate_email$/m)
  t.match(res.stdout, /^skip {3}django:10 ivan@example\.com: email_in_authd$/m)
  t.match(res.stdout, /dry run \(nothing written\): 14 Django users read/)
  t.notOk(res.stdout.includes(pbkdf2.encoded), 'no hash is printed')
  await withApp(t, async (_app, db) => {
    t.equal(await db.prisma.user.count(), 1, 'only ivan')
    t.equal(await db.prisma.auditEvent.count({ where: { type: 'users_imported' } }), 0)
  })
})

t.test('imports: summary with each skip reason, a progress bar, then logins with the Django passwords', async (t) => {
  const progress: string[] = []
  const res = await run(['--batch-size', '3'], progress)
  t.equal(res.code, 0, res.stderr)
  t.match(res.stdout, /imported: 9\n/)
  t.match(res.stdout, /skipped: {2}5 \(no_email 1, invalid_email 1, duplicate_email 1, inactive 1, email_in_authd 1\)/)
  t.match(res.stdout, /without a password: 2 \(hashers authd cannot check: md5 1\)/)
  t.match(res.stdout, /usernames not kept .*: 2/)
  t.match(res.stdout, /groups that make no role name: "!!!"/)
  t.match(progress.at(-1), /^\[#{30}\] 14\/14\n$/, 'the bar ends full')
  t.equal(progress.length, 4, 'redrawn once per batch of 3 (skipped users first)')

  await withApp(t, async (app, db) => {
    for (const [loginName, hasher] of [['alice@example.com', 'pbkdf2_sha256'], ['bob', 'argon2'], ['carol@new.example', 'bcrypt_sha256'], ['frank', 'pbkdf2_sha1'], ['kim@example.com', 'scrypt']] as const) {
      const before = await db.prisma.user.findFirstOrThrow({ where: { OR: [{ email: loginName }, { usernameNormalized: loginName }] } })
      t.equal(before.passwordHash.split('$')[0], hasher, `${loginName}: Django's ${hasher} hash kept`)
      t.equal((await login(app, loginName, `${PASSWORD}!`)).statusCode, 401, `${loginName}: a wrong password fails`)
      const res = await login(app, loginName, PASSWORD)
      t.equal(res.statusCode, 200, `${loginName}: logs in with the Django password`)
      const after = await db.prisma.user.findUniqueOrThrow({ where: { id: before.id } })
      t.match(after.passwordHash, /^bcrypt_sha256\$\$2b\$04\$/, `${loginName}: rehashed to authd's format`)
      t.equal((await login(app, loginName, PASSWORD)).statusCode, 200, `${loginName}: and logs in again`)
    }
    const alice = await db.prisma.user.findUniqueOrThrow({ where: { email: 'alice@example.com' } })
    t.same({ roles: alice.roles, username: alice.username, fullName: alice.fullName, externalId: alice.externalId, emailVerified: alice.emailVerified }, { roles: ['admin', 'billing-team', 'editors'], username: 'alice', fullName: 'Alice Liddell', externalId: 'django:1', emailVerified: false })
    t.same(decodePayload((await login(app, 'alice', PASSWORD)).json().tokens.access).roles, ['admin', 'billing-team', 'editors'], 'roles in the token')
    t.equal((await db.prisma.user.findUniqueOrThrow({ where: { email: 'carol@new.example' } })).emailVerified, true, 'allauth\'s verified primary address')
    t.equal((await db.prisma.user.findUniqueOrThrow({ where: { email: 'frank@example.com' } })).externalId, 'django:7', 'the most recently seen of the duplicates')
    t.equal((await db.prisma.user.findUniqueOrThrow({ where: { email: 'hank@example.com' } })).username, null, 'a username authd cannot take is dropped')
    t.equal((await db.prisma.user.findUniqueOrThrow({ where: { email: 'sam1@example.com' } })).username, 'Sam')
    t.equal((await db.prisma.user.findUniqueOrThrow({ where: { email: 'sam2@example.com' } })).username, null, 'so is one another user of this run holds in another case')
    for (const name of ['gina@example.com', 'hank@example.com']) {
      t.equal((await login(app, name, PASSWORD)).statusCode, 401, `${name}: no password matches`)
    }
    t.equal(await db.prisma.user.count({ where: { email: { in: ['dave@example.com', 'not an address'] } } }), 0)
    const me = await db.prisma.user.findUniqueOrThrow({ where: { email: 'ivan@example.com' } })
    t.equal(me.externalId, null, 'ivan\'s own account untouched')
    t.equal((await login(app, 'ivan@example.com', ivan.password)).statusCode, 200, 'with his own password')
    t.match(await db.prisma.auditEvent.findMany({ where: { type: 'users_imported' } }), [{ userId: null, detail: { source: 'django', read: 14, created: 9, skipped_inactive: 1, unsupportedHashers: ['md5'] } }], 'audited once per run')
  })
})

t.test('a re-run updates what changed at the source and never duplicates', async (t) => {
  let bobSession = ''
  await withApp(t, async (app) => { bobSession = (await login(app, 'bob', PASSWORD)).json().tokens.refresh })
  t.same(await run([]).then((r) => [r.code, /imported: 0\n {2}updated: {2}0\n {2}unchanged: 9/.test(r.stdout)]), [0, true], 'nothing to do twice')

  django.update(1, { is_superuser: false, is_staff: false, password: vector('pbkdf2_sha1').encoded }) // alice already logged in to authd
  django.update(2, { is_active: false })
  django.update(9, { password: pbkdf2.encoded }) // hank gets a password at the source
  django.update(12, { email: 'kim@new.example' })
  const res = await run([])
  t.equal(res.code, 0, res.stderr)
  t.match(res.stdout, /imported: 0\n {2}updated: {2}4\n {2}unchanged: 5/)
  await withApp(t, async (app, db) => {
    t.equal(await db.prisma.user.count(), 10, 'no duplicates')
    const alice = await db.prisma.user.findUniqueOrThrow({ where: { email: 'alice@example.com' } })
    t.same(alice.roles, ['billing-team', 'editors'], 'admin taken away with is_superuser/is_staff')
    t.match(alice.passwordHash, /^bcrypt_sha256\$/, 'authd\'s password kept once the user logged in here')
    t.equal((await login(app, 'bob', PASSWORD)).statusCode, 401, 'bob deactivated')
    t.equal((await refresh(app, bobSession)).statusCode, 401, 'and his session ended')
    t.equal((await login(app, 'hank@example.com', PASSWORD)).statusCode, 200, 'hank\'s new Django password works')
    t.equal((await login(app, 'kim@new.example', PASSWORD)).statusCode, 200, 'kim found by her Django id under her new address')
  })

  django.update(2, { is_active: true })
  t.match((await run([])).stdout, /updated: {2}0\n/, 'an active Django user does not re-activate an authd account')
  await withApp(t, async (app) => {
    t.equal((await login(app, 'bob', PASSWORD)).statusCode, 401, 'bob stays inactive until an admin says otherwise')
  })
})

t.test('bad usage exits 2, an unreadable source exits 1, without touching authd', async (t) => {
  for (const args of [['import'], ['import', 'rails', '--from', file], ['import', 'django'], ['import', 'django', '--from', file, '--batch-size', '0'],
    ['import', 'django', '--from', file, '--user-table', 'x; DROP TABLE users'], ['import', 'django', '--from', file, '--staff-role', 'Not A Role'],
    ['import', 'django', '--from', file, '--email-column', '']]) {
    const { context, output } = captureContext(env)
    t.equal(await runCommand(args, context), 2, args.join(' '))
    t.match(output.stderr, /authd import --help/)
  }
  for (const [args, message] of [
    [['--from', path.join(dir, 'missing.sqlite3')], /cannot open the SQLite database/],
    [['--from', file, '--user-table', 'accounts_user'], /no table "accounts_user"/],
    [['--from', file, '--email-column', 'mail'], /has no column "mail"/],
    [['--from', 'postgresql://postgres@127.0.0.1:1/nothing'], /cannot connect to the Django database/]
  ] as const) {
    const { context, output } = captureContext(env)
    t.equal(await runCommand(['import', 'django', ...args], context), 1, args.join(' '))
    t.match(output.stderr, message)
  }
})

t.test('as a process: --help, and an import of a custom user table with its own column names', async (t) => {
  const help = await runCli(['import', '--help'], { env })
  t.equal(help.code, 0)
  t.match(help.stdout, /Usage: authd import django --from SOURCE/)
  const custom = path.join(dir, 'custom.sqlite3')
  const db = await createDjangoSqlite(custom)
  db.run('CREATE TABLE accounts_member (id integer PRIMARY KEY, password text NOT NULL, email_address text NOT NULL, given text NOT NULL, is_active bool NOT NULL)')
  db.run('CREATE TABLE accounts_member_groups (id integer PRIMARY KEY, member_id integer NOT NULL, group_id integer NOT NULL)')
  db.run('INSERT INTO accounts_member VALUES (1, ?, ?, ?, 1)', [pbkdf2.encoded, 'member@example.com', 'Mia'])
  db.run('INSERT INTO auth_group (id, name) VALUES (1, ?)', ['Members'])
  db.run('INSERT INTO accounts_member_groups VALUES (1, 1, 1)')
  db.close()
  // Another Django project: its ids are its own (--id-prefix), so its user 1 is not alice (django:1).
  const res = await runCli(['import', 'django', '--from', custom, '--id-prefix', 'members', '--user-table', 'accounts_member', '--email-column', 'email_address', '--username-column', '', '--first-name-column', 'given', '--last-name-column', ''], { env })
  t.equal(res.code, 0, res.stderr)
  t.match(res.stdout, /imported: 1\n/)
  await withApp(t, async (app, db) => {
    t.match(await db.prisma.user.findUniqueOrThrow({ where: { email: 'member@example.com' } }), { fullName: 'Mia', roles: ['members'], externalId: 'members:1' })
    t.equal((await login(app, 'member@example.com', PASSWORD)).statusCode, 200)
  })
})

// The PostgreSQL reader, against a Django-shaped PostgreSQL database (on the PostgreSQL pass; the
// real Django project on PostgreSQL: test/django).
t.test('a Django database on PostgreSQL: booleans, timestamps, groups and allauth read the same way', { skip: onPostgres ? false : 'needs TEST_DATABASE_URL (the PostgreSQL pass)' }, async (t) => {
  const url = await freshPostgresUrl(t)
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  t.teardown(async () => { await client.end() })
  await client.query(`
    CREATE TABLE auth_user (id serial PRIMARY KEY, password varchar(128) NOT NULL, last_login timestamptz NULL, is_superuser boolean NOT NULL,
      username varchar(150) NOT NULL UNIQUE, first_name varchar(150) NOT NULL, last_name varchar(150) NOT NULL, email varchar(254) NOT NULL,
      is_staff boolean NOT NULL, is_active boolean NOT NULL, date_joined timestamptz NOT NULL DEFAULT now());
    CREATE TABLE auth_group (id serial PRIMARY KEY, name varchar(150) NOT NULL UNIQUE);
    CREATE TABLE auth_user_groups (id serial PRIMARY KEY, user_id integer NOT NULL, group_id integer NOT NULL);
    CREATE TABLE account_emailaddress (id serial PRIMARY KEY, email varchar(254) NOT NULL, verified boolean NOT NULL, "primary" boolean NOT NULL, user_id integer NOT NULL);
    INSERT INTO auth_user (id, password, last_login, is_superuser, username, first_name, last_name, email, is_staff, is_active) VALUES
      (1, '${pbkdf2.encoded}', '2025-01-01T00:00:00Z', true, 'pgadmin', 'Pat', 'Gres', 'PgAdmin@Example.com', true, true),
      (2, '${argon2.encoded}', NULL, false, 'pguser', '', '', 'pguser@example.com', false, true),
      (3, '${pbkdf2.encoded}', NULL, false, 'pggone', '', '', 'pggone@example.com', false, false);
    INSERT INTO auth_group (id, name) VALUES (1, 'Support');
    INSERT INTO auth_user_groups (user_id, group_id) VALUES (2, 1);
    INSERT INTO account_emailaddress (email, verified, "primary", user_id) VALUES ('pguser@example.com', true, true, 2);
  `)
  const { context, output } = captureContext(env)
  t.equal(await runCommand(['import', 'django', '--from', url, '--id-prefix', 'pg'], context), 0, output.stderr)
  t.match(output.stdout, /^3 users in postgresql table auth_user; groups: yes; allauth addresses: yes$/m)
  t.match(output.stdout, /imported: 2\n[^]*skipped: {2}1 \(inactive 1\)/)
  t.notOk(output.stdout.includes(url), 'the source URL is not printed')
  await withApp(t, async (app, db) => {
    t.match(await db.prisma.user.findUniqueOrThrow({ where: { email: 'pgadmin@example.com' } }), { roles: ['admin'], fullName: 'Pat Gres', externalId: 'pg:1', emailVerified: false })
    t.match(await db.prisma.user.findUniqueOrThrow({ where: { email: 'pguser@example.com' } }), { roles: ['support'], externalId: 'pg:2', emailVerified: true })
    t.equal((await login(app, 'pgadmin', PASSWORD)).statusCode, 200)
    t.equal((await login(app, 'pguser', PASSWORD)).statusCode, 200)
  })
})
