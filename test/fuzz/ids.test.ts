// One id rule everywhere (schemas/common.ts, Uuid): every id a client sends, on every route, is a
// UUID in its canonical 8-4-4-4-12 form or it names nothing. Found by a fuzz driven by the
// OpenAPI document: `DELETE /v1/sessions/urn:uuid:<uuid>` passed Ajv's `format: 'uuid'` (which
// allows the URN prefix) and failed in PostgreSQL as a 500, while the admin routes answered 404.
//
// The id parameters are read from the OpenAPI document, so a route added later is covered:
// every path id answers 404 `not_found` to an odd spelling of a UUID (also of a real id, which
// must not reach the row), every query id 400 `validation_failed` naming the parameter; never a
// 5xx, nothing logged at error level.
import { randomUUID } from 'node:crypto'
import { Writable } from 'node:stream'
import t from 'tap'
import { assertProblem, buildWithDatabase, register } from '../helper.js'
import { decodePayload } from '../jwt-helper.js'
import { fillPath, listOperations, listRoutes, type JsonSchema } from './routes.js'
import { PROVIDER_ID_PATTERN } from '../../src/services/provider-config.js'

const errorLines: string[] = []
const logStream = new Writable({ write (chunk, _encoding, done) { errorLines.push(String(chunk)); done() } })
const { app, database } = await buildWithDatabase(t, {}, { fastify: { logger: { level: 'error', stream: logStream } } })

// An admin (the admin routes need one; its token also serves the user routes) and a user whose
// id and session id are the real ids dressed up below.
const admin = await register(app)
await database.prisma.user.update({ where: { id: admin.user.id }, data: { roles: ['admin'] } })
const auth = { authorization: `Bearer ${admin.tokens.access}` }
const other = await register(app)
const realIds = [other.user.id, String(decodePayload(other.tokens.access).sid), admin.user.id]

/** Spellings of `uuid` that are not the canonical form. */
function oddSpellings (uuid: string): string[] {
  const hex = uuid.replaceAll('-', '')
  return [
    `urn:uuid:${uuid}`, `URN:UUID:${uuid}`, `{${uuid}}`, `(${uuid})`, hex, hex.toUpperCase(),
    ` ${uuid}`, `${uuid} `, `${uuid}\n`, `${uuid}x`, uuid.slice(1), `0${uuid}`,
    `${uuid.slice(0, 8)}${uuid.slice(9)}`, `${uuid.slice(0, 13)}-${uuid.slice(13)}`, uuid.replace(/[0-9]/, 'g'),
    `${uuid}%00`, `${uuid}\u0000`, `${uuid}\u00e9`, `${uuid.slice(0, 35)}\u0663`
  ]
}

const isIdSchema = (schema: JsonSchema): boolean => schema.format === 'uuid' || (typeof schema.pattern === 'string' && schema.pattern.includes('[0-9a-fA-F]{8}'))
// The other kind of path parameter: an identity provider's id (AUTH_PROVIDERS), fuzzed below.
const isProviderIdSchema = (schema: JsonSchema): boolean => schema.pattern === PROVIDER_ID_PATTERN
const operations = await listOperations(app)
const pathOps = operations.filter((op) => op.parameters.some((p) => p.in === 'path'))
const pathIdOps = pathOps.filter((op) => op.parameters.some((p) => p.in === 'path' && !isProviderIdSchema(p.schema)))
const providerIdOps = pathOps.filter((op) => op.parameters.some((p) => p.in === 'path' && isProviderIdSchema(p.schema)))
const queryIdOps = operations.filter((op) => op.parameters.some((p) => p.in === 'query' && isIdSchema(p.schema)))

t.test('the id parameters are read from the document', async (t) => {
  const byName = pathIdOps.map((op) => `${op.method} ${op.path}`)
  for (const known of ['DELETE /v1/sessions/{id}', 'GET /v1/admin/users/{id}', 'PATCH /v1/admin/users/{id}', 'DELETE /v1/admin/users/{id}/sessions']) {
    t.ok(byName.includes(known), `${known} is listed`)
  }
  t.ok(queryIdOps.some((op) => op.path === '/v1/admin/events'), 'GET /v1/admin/events (userId) is listed')
  // Every path parameter of the router is an id, documented with the one id schema: a route
  // with another kind of parameter needs its own fuzz, and this test says so.
  const routed = listRoutes(app).filter((r) => r.url.includes('/:')).map((r) => `${r.method} ${r.url.replace(/:(\w+)/g, '{$1}')}`)
  const documented = new Set(pathOps.map((op) => `${op.method} ${op.path}`))
  t.same(routed.filter((r) => !r.startsWith('HEAD ') && !documented.has(r)), [], 'every routed path parameter is documented')
  for (const op of pathIdOps) {
    for (const p of op.parameters.filter((p) => p.in === 'path')) {
      t.ok((isIdSchema(p.schema) || isProviderIdSchema(p.schema)) && p.schema.pattern !== undefined, `${op.method} ${op.path}: {${p.name}} has the id schema`)
    }
  }
})

t.test('every path id: an odd spelling of a UUID is 404 not_found, never a 5xx', async (t) => {
  const statuses = new Map<number, number>()
  for (const op of pathIdOps) {
    for (const id of [...realIds, randomUUID()]) {
      for (const odd of oddSpellings(id)) {
        const res = await app.inject({
          method: op.method as 'GET',
          url: fillPath(op.path, () => odd),
          headers: { ...auth, ...(op.body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(op.body === undefined ? {} : { payload: '{}' })
        })
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)
        if (res.statusCode !== 404 || res.json().code !== 'not_found') {
          t.fail(`${op.method} ${op.path} with ${JSON.stringify(odd)}: ${res.statusCode} ${res.body.slice(0, 200)}`)
        }
      }
    }
  }
  t.same([...statuses.keys()], [404], `${[...statuses.values()].reduce((a, b) => a + b, 0)} requests, all 404`)
  // Upper case is the same UUID (RFC 9562): an unknown one is simply not found. With the route's
  // own example body, so that a route whose body has required fields gets past validation.
  for (const op of pathIdOps) {
    const res = await app.inject({ method: op.method as 'GET', url: fillPath(op.path, () => randomUUID().toUpperCase()), headers: { ...auth, ...(op.body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(op.body === undefined ? {} : { payload: JSON.stringify(op.body.example ?? {}) }) })
    assertProblem(t, res, 404, 'not_found')
  }
})

t.test('the real ids still work in canonical form (either case)', async (t) => {
  const user = await app.inject({ method: 'GET', url: `/v1/admin/users/${other.user.id.toUpperCase()}`, headers: auth })
  t.equal(user.json().id, other.user.id, 'an upper-case user id is the same user')
  const sid = String(decodePayload(other.tokens.access).sid)
  const own = { authorization: `Bearer ${other.tokens.access}` }
  const ended = await app.inject({ method: 'DELETE', url: `/v1/sessions/${sid.toUpperCase()}`, headers: own })
  t.equal(ended.statusCode, 204, 'an upper-case session id ends that session')
  const events = await app.inject({ method: 'GET', url: `/v1/admin/events?userId=${other.user.id}&type=session_revoked`, headers: auth })
  t.match(events.json().events, [{ detail: { sessionId: sid, current: true } }], 'recorded under the session\'s own (lower-case) id')
})

t.test('every query id: an odd spelling is 400 validation_failed naming the parameter', async (t) => {
  for (const op of queryIdOps) {
    for (const p of op.parameters.filter((p) => p.in === 'query' && isIdSchema(p.schema))) {
      for (const odd of oddSpellings(realIds[0] as string)) {
        const res = await app.inject({ method: op.method as 'GET', url: `${fillPath(op.path, () => randomUUID())}?${p.name}=${encodeURIComponent(odd)}`, headers: auth })
        assertProblem(t, res, 400, 'validation_failed')
        t.equal(res.json().errors?.[0]?.field, p.name, `${op.path}?${p.name}=${JSON.stringify(odd)} names the parameter`)
      }
    }
  }
})

t.test('every provider id: one no provider could have is 404 not_found, an unknown one provider_unknown; never a 5xx', async (t) => {
  t.ok(providerIdOps.length >= 4, 'the provider routes are listed')
  for (const op of providerIdOps) {
    const send = async (id: string) => await app.inject({
      method: op.method as 'GET',
      url: fillPath(op.path, () => id),
      headers: { ...auth, ...(op.body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(op.body === undefined ? {} : { payload: JSON.stringify(op.body.example ?? {}) })
    })
    for (const odd of ['Google', 'google ', ';a=b', '..', 'a%00', 'a%2Fb', '-x', 'x'.repeat(33), '\u00e9', '%E2%80%AE']) {
      const res = await send(odd)
      if (res.statusCode !== 404 || res.json().code !== 'not_found') t.fail(`${op.method} ${op.path} with ${JSON.stringify(odd)}: ${res.statusCode} ${res.body.slice(0, 200)}`)
    }
    const unknown = await send('nope')
    // The browser's page navigations land on the frontend's error page instead.
    if (op.method === 'GET') t.match(unknown.headers.location, /\?error=provider_unknown$/, `${op.method} ${op.path}: unknown provider`)
    else assertProblem(t, unknown, 404, 'provider_unknown')
  }
})

t.test('nothing was logged at error level', async (t) => {
  t.same(errorLines, [])
})
