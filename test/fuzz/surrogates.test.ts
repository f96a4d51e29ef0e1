// Lone UTF-16 surrogates in JSON bodies, on every route that takes one. `"x\udc00y"` is valid
// JSON but not Unicode; it reached Prisma, which refused the query, and app/browser login and
// register and PATCH /v1/users/me answered 500 (found by an independent fuzz driven by the
// OpenAPI document). The text guard (src/plugins/text-guard.ts) now refuses it before
// validation: 400 validation_failed with a field error naming where it is.
//
// The routes, their bodies and examples come from the OpenAPI document, so a route added later
// is covered. Each body is the route's own example (valid, so that before the guard the text
// went on to the handler and the database) with one string, or one key, given a lone high or
// low surrogate at its start, middle or end.
import { randomUUID } from 'node:crypto'
import { Writable } from 'node:stream'
import t from 'tap'
import { buildWithDatabase, register } from '../helper.js'
import { fillPath, listOperations, type JsonSchema, type Operation } from './routes.js'

const ORIGIN = 'https://app.example.com'
const SURROGATE_MESSAGE = 'must be valid Unicode (contains a lone UTF-16 surrogate)'
const LONE = ['\ud800', '\udbff', '\udc00', '\udfff']

const errorLines: string[] = []
const logStream = new Writable({ write (chunk, _encoding, done) { errorLines.push(String(chunk)); done() } })
const { app, database } = await buildWithDatabase(t, { CORS_ORIGINS: ORIGIN }, { fastify: { logger: { level: 'error', stream: logStream } } })
// An admin's token opens every secured route (admin ones included).
const admin = await register(app)
await database.prisma.user.update({ where: { id: admin.user.id }, data: { roles: ['admin'] } })

/** `text` with `lone` put at its start, middle or end. */
const placed = (text: string, lone: string): string[] => {
  const middle = Math.floor(text.length / 2)
  return [`${lone}${text}`, `${text.slice(0, middle)}${lone}${text.slice(middle)}`, `${text}${lone}`]
}

const takesString = (schema: JsonSchema | undefined): boolean =>
  schema !== undefined && (schema.type === 'string' || (schema.anyOf ?? []).some((s) => s.type === 'string'))

type Path = Array<string | number>
const fieldName = (path: Path): string => path.map((p, i) => typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`).join('')

/**
 * The operation's example body, completed with every string property the schema has and the
 * example leaves out, and the paths of all its strings.
 */
function baseBody (op: Operation): { body: Record<string, unknown>, strings: Path[] } {
  const schema = op.body?.schema ?? {}
  const body: Record<string, unknown> = { ...(op.body?.example as Record<string, unknown> | undefined) }
  for (const [name, property] of Object.entries(schema.properties ?? {})) {
    if (!(name in body) && takesString(property)) body[name] = 'Ada'
  }
  return { body, strings: stringPaths(body) }
}

/** The paths of every string in `value`, however deep (a passkey response nests its strings). */
function stringPaths (value: unknown, path: Path = []): Path[] {
  if (typeof value === 'string') return path.length === 0 ? [] : [path]
  if (Array.isArray(value)) return value.flatMap((item, i) => stringPaths(item, [...path, i]))
  if (value !== null && typeof value === 'object') return Object.entries(value).flatMap(([key, item]) => stringPaths(item, [...path, key]))
  return []
}

function withString (body: Record<string, unknown>, path: Path, text: string): Record<string, unknown> {
  const copy = structuredClone(body)
  const parent = path.slice(0, -1).reduce<unknown>((value, key) => (value as Record<string | number, unknown>)[key], copy) as Record<string | number, unknown>
  parent[path[path.length - 1] as string | number] = text
  return copy
}

const operations = (await listOperations(app)).filter((op) => op.body !== undefined)

t.test('the routes with a JSON body are read from the document', async (t) => {
  const names = operations.map((op) => `${op.method} ${op.path}`)
  for (const known of ['POST /v1/app/auth/login', 'POST /v1/browser/auth/login', 'POST /v1/app/auth/register', 'POST /v1/browser/auth/register', 'PATCH /v1/users/me', 'PATCH /v1/admin/users/{id}']) {
    t.ok(names.includes(known), `${known} is listed`)
  }
  for (const op of operations) t.ok(baseBody(op).strings.length > 0, `${op.method} ${op.path} has strings to spoil`)
})

t.test('a lone surrogate in any string or key of any JSON body: 400 validation_failed naming it', async (t) => {
  let sent = 0
  const failures: string[] = []
  for (const op of operations) {
    const { body, strings } = baseBody(op)
    const cases: Array<{ payload: Record<string, unknown>, field: string }> = []
    for (const path of strings) {
      const text = String(path.reduce<unknown>((value, key) => (value as Record<string | number, unknown>)[key], body))
      for (const lone of LONE) for (const spoilt of placed(text, lone)) cases.push({ payload: withString(body, path, spoilt), field: fieldName(path) })
    }
    for (const lone of LONE) {
      for (const key of placed('note', lone)) {
        // Named in the reply with the surrogate written as an escape, so the reply is valid Unicode.
        cases.push({ payload: { ...body, [key]: 'x' }, field: key.replace(lone, `\\u${lone.charCodeAt(0).toString(16)}`) })
      }
    }
    for (const { payload, field } of cases) {
      sent += 1
      const res = await app.inject({
        method: op.method as 'POST',
        url: fillPath(op.path, () => randomUUID()),
        headers: { 'content-type': 'application/json', origin: ORIGIN, ...(op.secured ? { authorization: `Bearer ${admin.tokens.access}` } : {}) },
        // JSON.stringify writes a lone surrogate as the escape "\udXXX": what an attacker sends.
        payload: JSON.stringify(payload)
      })
      const problem = res.json() as { code?: string, errors?: unknown }
      const expected = [{ field, code: 'invalid_character', message: SURROGATE_MESSAGE }]
      if (res.statusCode !== 400 || problem.code !== 'validation_failed' || JSON.stringify(problem.errors) !== JSON.stringify(expected)) {
        failures.push(`${op.method} ${op.path} ${JSON.stringify(payload).slice(0, 160)} → ${res.statusCode} ${res.body.slice(0, 240)}`)
      }
    }
  }
  t.same(failures, [], `${sent} requests, each refused with the field named`)
  t.ok(sent >= operations.length * 24, `${sent} requests over ${operations.length} routes`)
})

t.test('nothing was logged at error level', async (t) => {
  t.same(errorLines, [])
})
