// The admin API: only for callers whose current roles include admin; search with keyset
// pagination; activate/deactivate and roles, with deactivation ending sessions at once;
// no self-lockout; every change in the audit trail.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { assertProblem, buildWithDatabase, login, me, refresh, register, type AppTokens } from '../../helper.js'
import { decodePayload } from '../../jwt-helper.js'

const { app, database } = await buildWithDatabase(t)
const prisma = database.prisma

interface Account { id: string, email: string, password: string, tokens: AppTokens }

/** A registered user, optionally with roles (set in the database, then logged in again so the token carries them). */
async function account (roles: string[] = [], overrides: Parameters<typeof register>[1] = {}): Promise<Account> {
  const s = await register(app, overrides)
  if (roles.length === 0) return { id: s.user.id, email: s.email, password: s.password, tokens: s.tokens }
  await prisma.user.update({ where: { id: s.user.id }, data: { roles } })
  const res = await login(app, s.email, s.password)
  if (res.statusCode !== 200) throw new Error(res.body)
  return { id: s.user.id, email: s.email, password: s.password, tokens: res.json().tokens }
}

async function call (access: string, method: 'GET' | 'PATCH' | 'DELETE', url: string, payload?: unknown): Promise<LightMyRequestResponse> {
  return await app.inject({ method, url, headers: { authorization: `Bearer ${access}` }, ...(payload === undefined ? {} : { payload: payload as object }) })
}

const patch = async (access: string, id: string, body: unknown) => await call(access, 'PATCH', `/v1/admin/users/${id}`, body)

t.test('non-admins get 403 forbidden on every admin route; no token gets 401', async (t) => {
  const user = await account()
  const other = await account()
  const routes: Array<['GET' | 'PATCH' | 'DELETE', string, unknown?]> = [
    ['GET', '/v1/admin/users'],
    ['GET', '/v1/admin/users?q=a&limit=5'],
    ['GET', `/v1/admin/users/${other.id}`],
    ['PATCH', `/v1/admin/users/${other.id}`, { isActive: false }],
    ['PATCH', `/v1/admin/users/${user.id}`, { roles: ['admin'] }],
    ['DELETE', `/v1/admin/users/${other.id}/sessions`],
    ['GET', '/v1/admin/events']
  ]
  for (const [method, url, body] of routes) {
    assertProblem(t, await call(user.tokens.access, method, url, body), 403, 'forbidden')
    const anonymous = await app.inject({ method, url, ...(body === undefined ? {} : { payload: body as object }) })
    assertProblem(t, anonymous, 401, 'authentication_required')
  }
  const row = await prisma.user.findUniqueOrThrow({ where: { id: user.id } })
  t.same(row.roles, [], 'a user cannot make themselves admin')
  t.equal((await refresh(app, other.tokens.refresh)).statusCode, 200, 'nothing happened to the other user')
})

t.test('a token that still says admin is refused once the role is gone from the database', async (t) => {
  const formerAdmin = await account(['admin', 'support'])
  t.same(decodePayload(formerAdmin.tokens.access).roles, ['admin', 'support'], 'the token carries the admin role')
  t.equal((await call(formerAdmin.tokens.access, 'GET', '/v1/admin/users')).statusCode, 200, 'allowed while admin')

  const boss = await account(['admin'])
  const demoted = await patch(boss.tokens.access, formerAdmin.id, { roles: ['support'] })
  t.equal(demoted.statusCode, 200, demoted.body)
  t.same(decodePayload(formerAdmin.tokens.access).roles, ['admin', 'support'], 'the old token still claims admin')
  assertProblem(t, await call(formerAdmin.tokens.access, 'GET', '/v1/admin/users'), 403, 'forbidden')
  assertProblem(t, await patch(formerAdmin.tokens.access, boss.id, { isActive: false }), 403, 'forbidden')
  t.equal((await prisma.user.findUniqueOrThrow({ where: { id: boss.id } })).isActive, true, 'the demoted admin changed nothing')
  t.equal((await me(app, formerAdmin.tokens.access)).statusCode, 200, 'the user is otherwise unaffected')
})

t.test('a role change shows up in the next refreshed access token', async (t) => {
  const boss = await account(['admin'])
  const user = await account()
  t.same(decodePayload(user.tokens.access).roles, [], 'no roles at first')
  const res = await patch(boss.tokens.access, user.id, { roles: ['billing:read', 'support'] })
  t.equal(res.statusCode, 200, res.body)
  t.same(res.json().roles, ['billing:read', 'support'])
  const refreshed = await refresh(app, user.tokens.refresh)
  t.equal(refreshed.statusCode, 200, refreshed.body)
  t.same(decodePayload(refreshed.json().tokens.access).roles, ['billing:read', 'support'], 'the new access token has the new roles')

  await patch(boss.tokens.access, user.id, { roles: [] })
  const again = await refresh(app, refreshed.json().tokens.refresh)
  t.same(decodePayload(again.json().tokens.access).roles, [], 'and loses them when removed')
})

t.test('search: email, username and full name, any case; LIKE wildcards match themselves', async (t) => {
  const tag = randomUUID().slice(0, 8)
  const boss = await account(['admin'])
  const byEmail = await account([], { email: `Needle.${tag}@Example.com` })
  const byUsername = await account([], { username: `nEEdle_${tag}` })
  const byName = await account([], { fullName: `Ada NEEDLE ${tag}` })
  const percent = await account([], { fullName: `100% ${tag}` })
  const underscore = await account([], { fullName: `a_b ${tag}` })
  await account([], { fullName: `1000 ${tag}` })
  await account([], { fullName: `axb ${tag}` })

  const search = async (q: string) => {
    const res = await call(boss.tokens.access, 'GET', `/v1/admin/users?q=${encodeURIComponent(q)}`)
    t.equal(res.statusCode, 200, res.body)
    return (res.json().users as Array<{ id: string }>).map((u) => u.id).sort()
  }
  t.same(await search(`needle.${tag}`), [byEmail.id], 'email, case-insensitive')
  t.same(await search(`NEEDLE_${tag}`), [byUsername.id], 'username, case-insensitive')
  t.same(await search(`needle ${tag}`), [byName.id], 'full name, case-insensitive')
  t.same(await search(`0% ${tag}`), [percent.id], '% matches only a percent sign')
  t.same(await search(`a_b ${tag}`), [underscore.id], '_ matches only an underscore')
  t.same(await search(`\\ ${tag}`), [], 'a backslash is just a character')

  const res = await call(boss.tokens.access, 'GET', `/v1/admin/users?q=${encodeURIComponent(`needle.${tag}`)}`)
  const [user] = res.json().users
  t.same(Object.keys(user).sort(), ['bio', 'birthDate', 'createdAt', 'email', 'emailVerified', 'fullName', 'id', 'isActive', 'lastLoginAt', 'roles', 'updatedAt', 'username'], 'the API.md user shape')
  t.notMatch(res.body, /passwordHash|\$2[aby]\$|bcrypt/, 'no password hash')
  t.equal(res.headers['cache-control'], 'no-store')
})

t.test('pagination: newest first, three pages, no duplicates or gaps, new users do not shift pages', async (t) => {
  const tag = `page${randomUUID().slice(0, 8)}`
  const boss = await account(['admin'])
  const ids: string[] = []
  for (let i = 0; i < 7; i++) ids.push((await account([], { fullName: `${tag} ${i}` })).id)
  // Four of them share one instant: the id must break the tie, across page boundaries too.
  const instant = new Date(Date.now() - 60_000)
  await prisma.user.updateMany({ where: { id: { in: ids.slice(1, 5) } }, data: { createdAt: instant } })
  const rows = await prisma.user.findMany({ where: { id: { in: ids } }, select: { id: true, createdAt: true } })
  const expected = rows.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : -1)).map((r) => r.id)

  const pages: string[][] = []
  let cursor: string | null = null
  do {
    const url: string = `/v1/admin/users?q=${tag}&limit=3${cursor === null ? '' : `&cursor=${cursor}`}`
    const res = await call(boss.tokens.access, 'GET', url)
    t.equal(res.statusCode, 200, res.body)
    pages.push(res.json().users.map((u: { id: string }) => u.id))
    cursor = res.json().nextCursor
    t.ok(cursor === null || /^[A-Za-z0-9_-]+$/.test(cursor), 'an opaque base64url cursor')
    // Someone registers between two pages: newer than everything listed, so never on a later page.
    if (pages.length === 1) await account([], { fullName: `${tag} late` })
  } while (cursor !== null && pages.length < 10)
  t.same(pages.map((p) => p.length), [3, 3, 1], 'three pages: 3, 3, 1')
  t.same(pages.flat(), expected, 'every user once, newest first, ties by id')

  const all = await call(boss.tokens.access, 'GET', `/v1/admin/users?q=${tag}`)
  t.equal(all.json().users.length, 8, 'the default limit (50) holds all, the late one included')
  t.equal(all.json().nextCursor, null, 'and there is no next page')
})

t.test('bad query parameters are 400 validation_failed', async (t) => {
  const boss = await account(['admin'])
  const forged = Buffer.from('not a date|nope').toString('base64url')
  for (const query of ['limit=0', 'limit=201', 'limit=abc', 'limit=-1', 'cursor=%25%25', `cursor=${forged}`, 'sort=email', `q=${'x'.repeat(255)}`, 'q=%00', 'q=a%00b']) {
    assertProblem(t, await call(boss.tokens.access, 'GET', `/v1/admin/users?${query}`), 400, 'validation_failed')
  }
  t.equal((await call(boss.tokens.access, 'GET', '/v1/admin/users?limit=200')).statusCode, 200, 'limit 200 is allowed')
})

t.test('GET /v1/admin/users/{id}: the user; unknown or malformed id → 404', async (t) => {
  const boss = await account(['admin'])
  const user = await account([], { fullName: 'Grace Hopper' })
  const res = await call(boss.tokens.access, 'GET', `/v1/admin/users/${user.id}`)
  t.equal(res.statusCode, 200, res.body)
  t.match(res.json(), { id: user.id, email: user.email.toLowerCase(), fullName: 'Grace Hopper', isActive: true, roles: [] })
  t.equal((await call(boss.tokens.access, 'GET', `/v1/admin/users/${user.id.toUpperCase()}`)).json().id, user.id, 'an upper-case id is the same user')
  assertProblem(t, await call(boss.tokens.access, 'GET', `/v1/admin/users/${randomUUID()}`), 404, 'not_found')
  for (const bad of ['123', 'not-a-uuid', `${user.id}x`, "1'; DROP TABLE users; --"]) {
    assertProblem(t, await call(boss.tokens.access, 'GET', `/v1/admin/users/${encodeURIComponent(bad)}`), 404, 'not_found')
  }
})

t.test('PATCH: roles and isActive change; anything else is 400 and changes nothing', async (t) => {
  const boss = await account(['admin'])
  const user = await account()
  const before = await prisma.user.findUniqueOrThrow({ where: { id: user.id } })

  const bodies: unknown[] = [
    { email: 'x@example.com' },
    { roles: ['support'], passwordHash: 'x' },
    { emailVerified: true },
    { isActive: 'false' },
    { isActive: null },
    { roles: 'admin' },
    { roles: ['Admin'] },
    { roles: ['1st'] },
    { roles: ['has space'] },
    { roles: ['support', 'support'] },
    { roles: [`a${'b'.repeat(64)}`] },
    { roles: Array.from({ length: 33 }, (_, i) => `role${i}`) }
  ]
  for (const body of bodies) {
    assertProblem(t, await patch(boss.tokens.access, user.id, body), 400, 'validation_failed')
  }
  const unknown = await patch(boss.tokens.access, user.id, { isActive: false, isAdmin: true })
  t.match(unknown.json().errors, [{ field: 'isAdmin', code: 'unknown_field' }], 'the unknown field is named')
  const after = await prisma.user.findUniqueOrThrow({ where: { id: user.id } })
  t.same({ roles: after.roles, isActive: after.isActive, updatedAt: after.updatedAt }, { roles: before.roles, isActive: before.isActive, updatedAt: before.updatedAt }, 'nothing changed')

  assertProblem(t, await patch(boss.tokens.access, randomUUID(), { isActive: false }), 404, 'not_found')
  assertProblem(t, await patch(boss.tokens.access, 'nope', { isActive: false }), 404, 'not_found')

  const ok = await patch(boss.tokens.access, user.id, { roles: ['support', 'billing:read'] })
  t.equal(ok.statusCode, 200, ok.body)
  t.same(ok.json().roles, ['support', 'billing:read'])
  t.equal(ok.json().isActive, true)
  const max = Array.from({ length: 32 }, (_, i) => `r${i}`)
  t.same((await patch(boss.tokens.access, user.id, { roles: max })).json().roles, max, '32 roles are allowed')
  t.equal((await patch(boss.tokens.access, user.id, {})).statusCode, 200, 'an empty patch changes nothing and is fine')
})

t.test('deactivation ends every session at once: refresh, /users/me and login fail; reactivation allows login again', async (t) => {
  const boss = await account(['admin'])
  const user = await account()
  const second = (await login(app, user.email, user.password)).json().tokens as AppTokens

  const res = await patch(boss.tokens.access, user.id, { isActive: false })
  t.equal(res.statusCode, 200, res.body)
  t.equal(res.json().isActive, false)

  assertProblem(t, await me(app, user.tokens.access), 401, 'token_invalid')
  assertProblem(t, await me(app, second.access), 401, 'token_invalid')
  assertProblem(t, await refresh(app, user.tokens.refresh), 401, 'token_invalid')
  assertProblem(t, await refresh(app, second.refresh), 401, 'token_invalid')
  assertProblem(t, await login(app, user.email, user.password), 401, 'invalid_credentials')
  const sessions = await prisma.session.findMany({ where: { userId: user.id } })
  t.equal(sessions.length, 2)
  t.ok(sessions.every((s) => s.revokedAt !== null && s.revokeReason === 'deactivated'), 'both sessions revoked (deactivated)')

  const back = await patch(boss.tokens.access, user.id, { isActive: true })
  t.equal(back.json().isActive, true)
  t.equal((await login(app, user.email, user.password)).statusCode, 200, 'can log in again')
  assertProblem(t, await refresh(app, second.refresh), 401, 'token_invalid')
})

t.test('an admin cannot deactivate themselves or drop their own admin role (409 self_lockout)', async (t) => {
  const boss = await account(['admin', 'support'])
  for (const id of [boss.id, boss.id.toUpperCase()]) {
    assertProblem(t, await patch(boss.tokens.access, id, { isActive: false }), 409, 'self_lockout')
    assertProblem(t, await patch(boss.tokens.access, id, { roles: ['support'] }), 409, 'self_lockout')
    assertProblem(t, await patch(boss.tokens.access, id, { roles: [] }), 409, 'self_lockout')
  }
  const row = await prisma.user.findUniqueOrThrow({ where: { id: boss.id } })
  t.same({ isActive: row.isActive, roles: row.roles }, { isActive: true, roles: ['admin', 'support'] }, 'unchanged')
  const own = await patch(boss.tokens.access, boss.id, { roles: ['admin'] })
  t.equal(own.statusCode, 200, 'other changes to their own roles are fine')
  t.same(own.json().roles, ['admin'])
  t.equal((await me(app, boss.tokens.access)).statusCode, 200, 'still signed in')
})

t.test('DELETE /v1/admin/users/{id}/sessions ends every session of that user', async (t) => {
  const boss = await account(['admin'])
  const user = await account()
  const second = (await login(app, user.email, user.password)).json().tokens as AppTokens
  const res = await call(boss.tokens.access, 'DELETE', `/v1/admin/users/${user.id}/sessions`)
  t.equal(res.statusCode, 204, res.body)
  t.equal(res.body, '')
  assertProblem(t, await refresh(app, user.tokens.refresh), 401, 'token_invalid')
  assertProblem(t, await refresh(app, second.refresh), 401, 'token_invalid')
  assertProblem(t, await me(app, second.access), 401, 'token_invalid')
  t.equal((await login(app, user.email, user.password)).statusCode, 200, 'the account itself stays active')
  t.equal((await refresh(app, boss.tokens.refresh)).statusCode, 200, 'the admin\'s own session is untouched')
  assertProblem(t, await call(boss.tokens.access, 'DELETE', `/v1/admin/users/${randomUUID()}/sessions`), 404, 'not_found')
  assertProblem(t, await call(boss.tokens.access, 'DELETE', '/v1/admin/users/42/sessions'), 404, 'not_found')
})

t.test('admin changes are audited with the admin as actor; GET /v1/admin/events lists and filters them', async (t) => {
  const boss = await account(['admin'])
  const user = await account()
  const agent = 'AdminConsole/1.0'
  await app.inject({ method: 'PATCH', url: `/v1/admin/users/${user.id}`, headers: { authorization: `Bearer ${boss.tokens.access}`, 'user-agent': agent }, payload: { roles: ['support'] } })
  await app.inject({ method: 'PATCH', url: `/v1/admin/users/${user.id}`, headers: { authorization: `Bearer ${boss.tokens.access}`, 'user-agent': agent }, payload: { isActive: false } })
  await call(boss.tokens.access, 'DELETE', `/v1/admin/users/${user.id}/sessions`)
  await patch(boss.tokens.access, user.id, { isActive: false, roles: ['support'] })

  const res = await call(boss.tokens.access, 'GET', `/v1/admin/events?userId=${user.id}&type=admin_user_updated`)
  t.equal(res.statusCode, 200, res.body)
  const events = res.json().events
  t.equal(events.length, 2, 'two updates recorded (the no-op patch is not an event)')
  t.same(Object.keys(events[0]).sort(), ['actorId', 'createdAt', 'detail', 'id', 'ip', 'type', 'userAgent', 'userId'])
  t.match(events[0], {
    type: 'admin_user_updated',
    userId: user.id,
    actorId: boss.id,
    userAgent: agent,
    ip: String,
    detail: { changed: ['isActive'], oldIsActive: true, newIsActive: false, oldRoles: ['support'], newRoles: ['support'], sessionsRevoked: 1 }
  }, 'newest first: the deactivation')
  t.match(events[1], { detail: { changed: ['roles'], oldRoles: [], newRoles: ['support'], sessionsRevoked: 0 } }, 'then the role change')

  const revoked = (await call(boss.tokens.access, 'GET', `/v1/admin/events?userId=${user.id}&type=admin_sessions_revoked`)).json().events
  t.match(revoked, [{ type: 'admin_sessions_revoked', userId: user.id, actorId: boss.id, detail: { sessionsRevoked: 0 } }], 'the revocation (nothing left to end)')

  const byUser = (await call(boss.tokens.access, 'GET', `/v1/admin/events?userId=${user.id}`)).json().events as Array<{ userId: string }>
  t.ok(byUser.length >= 3 && byUser.every((e) => e.userId === user.id), 'userId narrows to that user')

  // Paging through everything of this user one by one gives the same list.
  const paged: string[] = []
  let cursor: string | null = null
  do {
    const page: LightMyRequestResponse = await call(boss.tokens.access, 'GET', `/v1/admin/events?userId=${user.id}&limit=1${cursor === null ? '' : `&cursor=${cursor}`}`)
    paged.push(...page.json().events.map((e: { id: string }) => e.id))
    cursor = page.json().nextCursor
  } while (cursor !== null && paged.length < 50)
  t.same(paged, byUser.map((e) => (e as unknown as { id: string }).id), 'one per page, no gaps or duplicates')

  for (const query of ['userId=nope', 'type=no_such_event', 'limit=0', 'cursor=abc', 'cursor=99999999999999999999', 'extra=1']) {
    assertProblem(t, await call(boss.tokens.access, 'GET', `/v1/admin/events?${query}`), 400, 'validation_failed')
  }
  t.notMatch(res.body, /password|\$2[aby]\$|eyJ/i, 'no password, hash or token in the events')
})
