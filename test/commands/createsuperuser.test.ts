// `authd createsuperuser` against a real data directory (PGlite) or database (PostgreSQL):
// first as a separate process, as an operator runs it, with the password piped on stdin — the
// admin it creates logs in and uses the admin API; then (in-process, to keep the file fast) an
// address already taken is refused unless --update-existing. How the password may and may not
// arrive: test/store-independent/commands/createsuperuser-input.test.ts.
import t from 'tap'
import { runCommand } from '../../src/commands/index.js'
import { login, refresh, register } from '../helper.js'
import { decodePayload } from '../jwt-helper.js'
import { captureContext, runCli } from './run-cli.js'
import { commandDb } from './superuser-db.js'

const { env, withApp } = await commandDb(t)
const PASSWORD = 'correct horse battery staple 1815'

let ada: Awaited<ReturnType<typeof snapshot>>
const snapshot = async (db: Parameters<Parameters<typeof withApp>[1]>[1]) => await db.prisma.user.findUniqueOrThrow({ where: { email: 'ada@example.com' } })
let grace: Awaited<ReturnType<typeof register>>

t.test('creates an admin from the first line of stdin; the admin logs in and reaches /v1/admin/users', async (t) => {
  const res = await runCli(['createsuperuser', '--email', 'Ada@Example.com', '--username', 'ada', '--full-name', 'Ada Lovelace'], { env, input: `${PASSWORD}\nignored second line\n` })
  t.equal(res.code, 0, `exits 0 (${res.stderr})`)
  t.match(res.stdout, /^admin created: ada@example\.com \(id [0-9a-f-]{36}\)\n$/)
  t.notOk(`${res.stdout}${res.stderr}`.includes(PASSWORD), 'the password is not printed')

  await withApp(t, async (app, db) => {
    ada = await snapshot(db)
    t.same({ roles: ada.roles, emailVerified: ada.emailVerified, isActive: ada.isActive, username: ada.username, fullName: ada.fullName }, { roles: ['admin'], emailVerified: true, isActive: true, username: 'ada', fullName: 'Ada Lovelace' })
    t.match(ada.passwordHash, /^bcrypt_sha256\$/, 'stored hashed, as on registration')
    t.match(await db.prisma.auditEvent.findMany({ where: { userId: ada.id } }), [{ type: 'user_registered', actorId: null, detail: { via: 'createsuperuser', roles: ['admin'] } }], 'audited')

    const loggedIn = await login(app, 'ada', PASSWORD)
    t.equal(loggedIn.statusCode, 200, loggedIn.body)
    const access = loggedIn.json().tokens.access as string
    t.same(decodePayload(access).roles, ['admin'], 'the access token carries the admin role')
    const users = await app.inject({ method: 'GET', url: '/v1/admin/users?q=ada', headers: { authorization: `Bearer ${access}` } })
    t.equal(users.statusCode, 200, users.body)
    t.match(users.json().users, [{ email: 'ada@example.com', roles: ['admin'] }])
    ada = await snapshot(db) // after the login (lastLoginAt)

    // For the next test: an ordinary account with a live session.
    grace = await register(app, { email: 'grace@example.com' })
  })
})

t.test('a registered address is refused (exit 1, nothing changes) unless --update-existing', async (t) => {
  const again = captureContext(env, 'a different passphrase 99\n')
  t.equal(await runCommand(['createsuperuser', '--email', 'ADA@example.com'], again.context), 1)
  t.match(again.output.stderr, /ada@example\.com is already registered; nothing changed/)

  const newPassword = 'a brand new admin passphrase 42'
  const update = captureContext(env, `${newPassword}\n`)
  t.equal(await runCommand(['createsuperuser', '--email', 'grace@example.com', '--update-existing'], update.context), 0, update.output.stderr)
  t.match(update.output.stdout, /existing user made admin: grace@example\.com .*1 session\(s\) ended/)

  await withApp(t, async (app, db) => {
    t.same(await snapshot(db), ada, 'the refused run left the admin untouched')
    t.equal((await login(app, 'ada@example.com', PASSWORD)).statusCode, 200, 'whose password still works')
    const row = await db.prisma.user.findUniqueOrThrow({ where: { id: grace.user.id } })
    t.same({ roles: row.roles, isActive: row.isActive, emailVerified: row.emailVerified }, { roles: ['admin'], isActive: true, emailVerified: true }, 'grace is admin')
    t.equal((await refresh(app, grace.tokens.refresh)).statusCode, 401, 'her old session is over')
    t.equal((await login(app, 'grace@example.com', grace.password)).statusCode, 401, 'her old password no longer works')
    const res = await login(app, 'grace@example.com', newPassword)
    t.equal(res.statusCode, 200, 'the new one does')
    t.same(decodePayload(res.json().tokens.access).roles, ['admin'])
    t.match(await db.prisma.auditEvent.findMany({ where: { userId: grace.user.id, type: 'admin_user_updated' } }), [{ actorId: null, detail: { via: 'createsuperuser', oldRoles: [], newRoles: ['admin'], sessionsRevoked: 1 } }], 'audited')
  })
})
