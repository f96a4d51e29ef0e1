// The unit of work (src/repositories/unit-of-work.ts): every repository handed to a
// transaction runs on that transaction's connection — the hot-path prepared statements too —
// so what a transaction writes is what its own reads see, and a rollback leaves nothing.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { buildWithDatabase } from '../helper.js'

const refresh = () => ({ jti: randomUUID(), issuedAt: new Date(), expiresAt: new Date(Date.now() + 86_400_000) })

t.test('a prepared statement inside a transaction sees the rows the transaction wrote, and a rollback keeps none', async (t) => {
  const { app } = await buildWithDatabase(t)
  const id = randomUUID()
  const sessionId = randomUUID()
  const rolledBack = new Error('roll back')
  // Outside the transaction the statement would run on another connection: on PostgreSQL it
  // would not see the uncommitted rows (null), on PGlite it would wait for the transaction to
  // end, which waits for it (the test would time out).
  const seen = await app.db.transaction(async (repos) => {
    await repos.users.create({ id, email: 'uow@example.com', passwordHash: 'bcrypt_sha256$x' })
    await repos.sessions.create({ id: sessionId, userId: id, userAgent: null, ip: null, refresh: refresh(), maxLifetimeSeconds: 3600, amr: ['pwd'] })
    return await repos.users.findLive(id, sessionId, 3600)
  })
  t.equal(seen?.email, 'uow@example.com', 'the live-session statement ran inside the transaction')
  t.equal((await app.db.repos.users.findLive(id, sessionId, 3600))?.id, id, 'committed: visible outside too')

  const other = randomUUID()
  await t.rejects(app.db.transaction(async (repos) => {
    await repos.users.create({ id: other, email: 'gone@example.com', passwordHash: 'bcrypt_sha256$x' })
    await repos.sessions.create({ id: randomUUID(), userId: other, userAgent: null, ip: null, refresh: refresh(), maxLifetimeSeconds: 3600, amr: ['pwd'] })
    t.ok(await repos.users.findByLogin('gone@example.com'), 'seen inside before the failure')
    throw rolledBack
  }), rolledBack, 'the error comes back to the caller')
  t.equal(await app.db.repos.users.findByLogin('gone@example.com'), null, 'rolled back: no user')
  t.same(await app.db.repos.sessions.listLive(other), [], 'rolled back: no session')
})

t.test('a unique violation inside a transaction is the API\'s 409 code and rolls the rest back', async (t) => {
  const { app } = await buildWithDatabase(t)
  await app.db.repos.users.create({ id: randomUUID(), email: 'taken@example.com', username: 'taken', passwordHash: 'x' })
  const id = randomUUID()
  await t.rejects(app.db.transaction(async (repos) => {
    await repos.audit.record({ type: 'user_registered', userId: id })
    await repos.users.create({ id, email: 'TAKEN@example.com', passwordHash: 'x' })
  }), { code: 'email_taken', errors: [{ field: 'email', code: 'email_taken' }] })
  t.same((await app.db.repos.audit.list({ userId: id, limit: 10 })).events, [], 'the event written before it was rolled back')
  await t.rejects(app.db.repos.users.create({ id: randomUUID(), email: 'new@example.com', username: 'TAKEN', passwordHash: 'x' }), { code: 'username_taken' }, 'usernames too, case-insensitively')
})
