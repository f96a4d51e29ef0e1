// GET /v1/users/me/events: the caller's own security events, newest first, paged; never
// another user's, and without the admin-only fields.
import t from 'tap'
import { assertProblem, buildWithDatabase, register } from '../../helper.js'
import { createAuditRepository } from '../../../src/repositories/audit-events.js'

const { app, database } = await buildWithDatabase(t)
const audit = createAuditRepository(database.prisma)

const list = async (access: string, query = '') =>
  await app.inject({ method: 'GET', url: `/v1/users/me/events${query}`, headers: { authorization: `Bearer ${access}` } })

t.test('lists only the caller\'s events, newest first, in the documented shape', async (t) => {
  const alice = await register(app)
  const bob = await register(app)
  await app.emailFlows.idle()
  const before = (await list(alice.tokens.access)).json().events.length
  await audit.record({ type: 'password_changed', userId: alice.user.id, ip: '198.51.100.7', userAgent: 'Laptop/1.0', detail: { sessionsRevoked: 2 } })
  await audit.record({ type: 'login_failed', userId: bob.user.id, ip: '203.0.113.9', detail: { reason: 'wrong_password' } })
  await audit.record({ type: 'admin_user_updated', userId: alice.user.id, actorId: bob.user.id, detail: { changed: ['roles'], oldRoles: [], newRoles: ['support'] } })

  const res = await list(alice.tokens.access)
  t.equal(res.statusCode, 200, res.body)
  t.equal(res.headers['cache-control'], 'no-store')
  const { events, nextCursor } = res.json()
  t.equal(events.length, before + 2, 'alice\'s two new events, not bob\'s')
  t.equal(nextCursor, null, 'one page')
  for (const event of events) t.same(Object.keys(event).sort(), ['createdAt', 'detail', 'id', 'ip', 'type', 'userAgent'], 'exactly the documented fields')
  t.match(events[0], { type: 'admin_user_updated', ip: null, userAgent: null, detail: { changed: ['roles'], newRoles: ['support'] } }, 'newest first')
  t.match(events[1], { type: 'password_changed', ip: '198.51.100.7', userAgent: 'Laptop/1.0', detail: { sessionsRevoked: 2 } })
  t.match(events[0].createdAt, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/)
  t.notOk(res.body.includes(bob.user.id), 'the admin who acted is not named to the user')
  t.notOk(JSON.stringify((await list(bob.tokens.access)).json()).includes('password_changed'), 'bob does not see alice\'s events')
})

t.test('pages with limit and cursor, without gaps or duplicates', async (t) => {
  const s = await register(app)
  // The verification mail (and its event) goes out after the reply: let it land before listing.
  await app.emailFlows.idle()
  for (let i = 0; i < 5; i++) await audit.record({ type: 'logged_out', userId: s.user.id, detail: { n: i } })
  const all = (await list(s.tokens.access)).json().events.map((e: { id: string }) => e.id)
  t.ok(all.length >= 5)
  const seen: string[] = []
  let cursor: string | null = null
  let pages = 0
  do {
    const res = await list(s.tokens.access, `?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`)
    t.equal(res.statusCode, 200, res.body)
    const page = res.json()
    t.ok(page.events.length <= 2, 'at most limit events')
    seen.push(...page.events.map((e: { id: string }) => e.id))
    cursor = page.nextCursor
    pages += 1
  } while (cursor !== null && pages < 20)
  t.same(seen, all, 'the pages together are the whole list, in order')
  t.equal(pages, Math.ceil(all.length / 2))
})

t.test('bad parameters are 400; no or dead token is 401', async (t) => {
  const s = await register(app)
  for (const query of ['?limit=0', '?limit=201', '?limit=x', '?cursor=abc', '?cursor=-1', '?userId=00000000-0000-0000-0000-000000000000', '?type=login_failed']) {
    assertProblem(t, await list(s.tokens.access, query), 400, 'validation_failed')
  }
  assertProblem(t, await app.inject({ method: 'GET', url: '/v1/users/me/events' }), 401, 'authentication_required')
  await app.inject({ method: 'POST', url: '/v1/app/auth/logout', payload: { refresh: s.tokens.refresh } })
  assertProblem(t, await list(s.tokens.access), 401, 'token_invalid')
})
