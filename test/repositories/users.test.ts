// The live-session read is a prepared statement (users.findLive, src/repositories/users.ts)
// whose rows must be exactly the `User` Prisma returns: every route that acts for a token
// holder answers from that row.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { buildWithDatabase } from '../helper.js'
import { createSessionRepository } from '../../src/repositories/sessions.js'
import { createUserRepository } from '../../src/repositories/users.js'
import type { Database } from '../../src/db/database.js'

/** findLive through the driver's prepared statement, with SESSION_MAX_LIFETIME 3600 s. */
const live = (database: Database) => {
  const users = createUserRepository(database.prisma, database.sql)
  return { findLive: async (userId: string, sessionId: string) => await users.findLive(userId, sessionId, 3600) }
}

async function userWithSession (database: Database, fields: { email: string, username?: string }) {
  const users = createUserRepository(database.prisma)
  const id = randomUUID()
  const sessionId = randomUUID()
  await users.create({ id, passwordHash: 'bcrypt_sha256$x', ...fields })
  await createSessionRepository(database.prisma).create({ id: sessionId, userId: id, userAgent: 'ua', ip: '127.0.0.1', refresh: { jti: randomUUID(), issuedAt: new Date(), expiresAt: new Date(Date.now() + 86_400_000) }, maxLifetimeSeconds: 86_400, amr: ['pwd'] })
  return { id, sessionId }
}

t.test('the row is the User Prisma reads, field for field', async (t) => {
  const { database } = await buildWithDatabase(t)
  const liveUsers = live(database)

  // Every field set, the date one included (a SQL date: Prisma gives midnight UTC).
  const full = await userWithSession(database, { email: 'full@example.com', username: 'Full_Name' })
  await database.prisma.user.update({
    where: { id: full.id },
    data: { fullName: 'Ada Lovelace', bio: 'Analyst', birthDate: new Date('1815-12-10T00:00:00Z'), roles: ['admin', 'staff'], emailVerified: true, lastLoginAt: new Date('2026-01-02T03:04:05.678Z') }
  })
  const viaPrisma = await database.prisma.user.findUnique({ where: { id: full.id } })
  const viaSql = await liveUsers.findLive(full.id, full.sessionId)
  t.strictSame(viaSql, viaPrisma, 'every column, same names, same values and types')
  t.equal(viaSql?.birthDate?.toISOString(), '1815-12-10T00:00:00.000Z')
  t.strictSame(Object.keys(viaSql ?? {}).sort(), Object.keys(viaPrisma ?? {}).sort(), 'no column missing or extra')

  // The nullable fields empty.
  const bare = await userWithSession(database, { email: 'bare@example.com' })
  t.strictSame(await liveUsers.findLive(bare.id, bare.sessionId), await database.prisma.user.findUnique({ where: { id: bare.id } }))
})

t.test('null unless the user is active and the session is theirs and alive', async (t) => {
  const { database } = await buildWithDatabase(t)
  const liveUsers = live(database)
  const a = await userWithSession(database, { email: 'a@example.com' })
  const b = await userWithSession(database, { email: 'b@example.com' })

  t.equal((await liveUsers.findLive(a.id, a.sessionId))?.email, 'a@example.com')
  t.equal(await liveUsers.findLive(a.id, b.sessionId), null, 'another user\'s session')
  t.equal(await liveUsers.findLive(randomUUID(), a.sessionId), null, 'unknown user')
  t.equal(await liveUsers.findLive(a.id, randomUUID()), null, 'unknown session')

  await createSessionRepository(database.prisma).revoke(a.sessionId, 'logout')
  t.equal(await liveUsers.findLive(a.id, a.sessionId), null, 'revoked session')

  t.ok(await liveUsers.findLive(b.id, b.sessionId))
  await database.prisma.user.update({ where: { id: b.id }, data: { isActive: false } })
  t.equal(await liveUsers.findLive(b.id, b.sessionId), null, 'deactivated user')

  // SESSION_MAX_LIFETIME (3600 s here) counts from the login, however recent the last refresh.
  const c = await userWithSession(database, { email: 'c@example.com' })
  await database.prisma.session.update({ where: { id: c.sessionId }, data: { createdAt: new Date(Date.now() - 3_599_000), lastUsedAt: new Date() } })
  t.ok(await liveUsers.findLive(c.id, c.sessionId), 'a second before the session\'s maximum lifetime')
  await database.prisma.session.update({ where: { id: c.sessionId }, data: { createdAt: new Date(Date.now() - 3_601_000) } })
  t.equal(await liveUsers.findLive(c.id, c.sessionId), null, 'past the session\'s maximum lifetime')
})
