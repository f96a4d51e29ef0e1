// What the fuzz files send requests to, read from the app itself so that a route added later
// is fuzzed without touching them: the router's route list, and the OpenAPI document's
// operations (request bodies, path and query parameters with their schemas).
// test/store-independent/routes/openapi.test.ts checks that the document lists every route the router serves.
import type { FastifyInstance } from 'fastify'

export interface Route { method: string, url: string }

/**
 * Every method+path the router knows, from `printRoutes({ commonPrefix: false })`: a tree whose
 * lines are `<indent>├── <rest of the path> (<METHODS>)`, four characters of indent per level;
 * a child's text continues its parent's path.
 */
export function listRoutes (instance: FastifyInstance): Route[] {
  const stack: string[] = []
  const routes: Route[] = []
  for (const line of instance.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^((?:│ {3}| {4})*)(?:├── |└── )(.*?)(?: \(([A-Z]+(?:, [A-Z]+)*)\))?$/.exec(line)
    if (m === null) continue
    const depth = (m[1] ?? '').length / 4
    const path = (depth === 0 ? '' : stack[depth - 1] ?? '') + (m[2] ?? '')
    stack[depth] = path
    stack.length = depth + 1
    for (const method of m[3]?.split(', ') ?? []) routes.push({ method, url: path })
  }
  return routes
}

export type JsonSchema = Record<string, unknown> & { type?: string, properties?: Record<string, JsonSchema>, items?: JsonSchema, anyOf?: JsonSchema[], pattern?: string, format?: string }

export interface Parameter { name: string, in: 'path' | 'query' | 'header' | 'cookie', schema: JsonSchema }

export interface Operation {
  method: string
  /** The OpenAPI path, `{id}` style. */
  path: string
  /** True when the operation names a security scheme (a bearer token is sent). */
  secured: boolean
  parameters: Parameter[]
  /** The JSON request body's schema and its first example, when the operation takes one. */
  body?: { schema: JsonSchema, example: unknown }
}

/** The operations of the app's OpenAPI document (GET /openapi.json). */
export async function listOperations (app: FastifyInstance): Promise<Operation[]> {
  const res = await app.inject({ method: 'GET', url: '/openapi.json' })
  if (res.statusCode !== 200) throw new Error(`GET /openapi.json: ${res.statusCode}`)
  const doc = res.json() as { paths: Record<string, Record<string, { security?: unknown[], parameters?: Parameter[], requestBody?: { content?: Record<string, { schema: JsonSchema, example?: unknown, examples?: Record<string, { value: unknown }> }> } }>> }
  const operations: Operation[] = []
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const json = op.requestBody?.content?.['application/json']
      operations.push({
        method: method.toUpperCase(),
        path,
        secured: (op.security ?? []).length > 0,
        parameters: op.parameters ?? [],
        ...(json === undefined ? {} : { body: { schema: json.schema, example: json.example ?? Object.values(json.examples ?? {})[0]?.value } })
      })
    }
  }
  return operations
}

/** `/v1/things/{id}` with each `{param}` replaced by `value(param)`, percent-encoded. */
export const fillPath = (path: string, value: (name: string) => string): string =>
  path.replace(/\{([^}]+)\}/g, (_all, name: string) => encodeURIComponent(value(name)))
