// The OpenAPI document at /openapi.json describes every route the app serves, is a valid
// OpenAPI 3.1 document (checked by a real validator), and the docs page at /docs loads from
// authd itself.
import { readFileSync } from 'node:fs'
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import Schema from 'typebox/schema'
import { Validator } from '@seriousme/openapi-schema-validator'
import { build } from '../../helper.js'

type Json = Record<string, any>
const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
const PROBLEM_REF = '#/components/schemas/Problem'
const PROBLEM_TYPE = 'application/problem+json'

// With a metrics token, /metrics too is an authenticated route the document must say so about.
const app = await build(t, { METRICS_TOKEN: 'a-metrics-token-of-32-characters', CORS_ORIGINS: 'http://localhost:5173', COOKIE_SECURE: 'false' })
const res = await app.inject({ method: 'GET', url: '/openapi.json' })
const doc = res.json() as Json

/**
 * Every (method, URL template) the app serves, read from Fastify's own route tree
 * (printRoutes), so that the list does not depend on the plugin under test.
 */
function servedRoutes (instance: FastifyInstance): Array<{ method: string, url: string }> {
  const routes: Array<{ method: string, url: string }> = []
  const stack: string[] = []
  for (const line of instance.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^((?:│ {3}| {4})*)[├└]── (.*?)(?: \(([^)]*)\))?$/.exec(line)
    if (match === null) continue
    const depth = (match[1] as string).length / 4
    stack.length = depth
    const url = (stack[depth - 1] ?? '') + (match[2] as string)
    stack.push(url)
    for (const method of (match[3] ?? '').split(',').map((m) => m.trim()).filter((m) => m !== '')) routes.push({ method, url })
  }
  return routes
}

/** Routes the document need not list: the docs page and its assets, HEAD twins, CORS preflights. */
const undocumented = (route: { method: string, url: string }): boolean =>
  route.method === 'HEAD' || route.method === 'OPTIONS' || route.url === '/docs' || route.url.startsWith('/docs/')

const openapiPath = (url: string): string => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')

/** `schema` with `#/components/schemas/…` references replaced by what they point at. */
function inlineRefs (schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(inlineRefs)
  if (schema === null || typeof schema !== 'object') return schema
  const ref = (schema as Json).$ref
  if (typeof ref === 'string' && ref.startsWith('#/components/schemas/')) return inlineRefs(doc.components.schemas[ref.slice('#/components/schemas/'.length)])
  return Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, inlineRefs(v)]))
}

/** Every example of a media object, checked against the media's schema. */
function checkExamples (t: Test, media: Json, what: string): number {
  const examples = [
    ...(media.example === undefined ? [] : [media.example]),
    ...Object.values((media.examples ?? {}) as Record<string, { value: unknown }>).map((e) => e.value)
  ]
  for (const example of examples) {
    const [ok, errors] = Schema.Errors(inlineRefs(media.schema) as Parameters<typeof Schema.Errors>[0], example)
    t.ok(ok, `${what}: example matches the schema ${ok ? '' : JSON.stringify(errors)}`)
  }
  return examples.length
}

t.test('GET /openapi.json is a valid OpenAPI 3.1 document', async (t) => {
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^application\/json/)
  t.equal(doc.openapi, '3.1.0')
  t.equal(doc.info.version, pkg.version, 'version from package.json')
  const result = await new Validator().validate(doc)
  t.ok(result.valid, `valid OpenAPI: ${JSON.stringify(result.errors, null, 2)}`)
  t.ok(doc.components.schemas.Problem, 'components.schemas.Problem')
  t.same(Object.keys(doc.components.securitySchemes).sort(), ['bearerAuth', 'clientBasic', 'csrfHeader', 'metricsToken', 'refreshCookie'])
  t.same((await app.inject({ method: 'GET', url: '/docs/json' })).json(), doc, 'the docs page shows the same document')
})

t.test('every route is in the document, tagged, summarised, with examples and its errors', async (t) => {
  const routes = servedRoutes(app).filter((route) => !undocumented(route))
  t.ok(routes.length >= 20, `found the app's routes (${routes.length})`)
  const declaredTags = new Set((doc.tags as Array<{ name: string, description: string }>).map((tag) => tag.name))
  for (const tag of doc.tags) t.ok(tag.description, `tag ${tag.name} has a description`)

  for (const route of routes) {
    const name = `${route.method} ${route.url}`
    const op = doc.paths[openapiPath(route.url)]?.[route.method.toLowerCase()] as Json | undefined
    if (op === undefined) {
      t.fail(`${name} is missing from the document`)
      continue
    }
    t.ok(Array.isArray(op.tags) && op.tags.length > 0, `${name}: tags`)
    for (const tag of op.tags ?? []) t.ok(declaredTags.has(tag), `${name}: tag "${tag}" is declared with a description`)
    t.ok(typeof op.summary === 'string' && op.summary.length > 0, `${name}: summary`)

    const responses = Object.entries(op.responses as Record<string, Json>)
    // A page navigation's success is a redirect (the provider sign-in's start and callback).
    t.ok(responses.some(([status]) => /^[23]/.test(status)), `${name}: a success response`)
    const errors = responses.filter(([status]) => /^[45]/.test(status))
    t.ok(errors.length > 0, `${name}: its errors are documented`)
    // A route that reads nothing from the request (/healthz, the JWKS) has no 4xx to document;
    // one that takes a body, parameters or credentials has.
    if (op.requestBody !== undefined || op.parameters !== undefined || op.security !== undefined) {
      t.ok(errors.some(([status]) => status.startsWith('4')), `${name}: at least one 4xx response`)
    }
    // The OAuth endpoints answer RFC 6749 §5.2 JSON, and every body problem there is a 400 invalid_request.
    const oauth = route.url.startsWith('/oauth/')
    for (const [status, response] of errors) {
      if (oauth && status !== '500') {
        t.match(response.content?.['application/json']?.schema, { properties: { error: Object, error_description: Object } }, `${name} ${status}: RFC 6749 §5.2 JSON`)
        continue
      }
      const media = response.content?.[PROBLEM_TYPE]
      t.equal(media?.schema?.$ref, PROBLEM_REF, `${name} ${status}: application/problem+json of the Problem schema`)
      t.not(response.description, 'Default Response', `${name} ${status}: described`)
    }
    for (const [status, response] of responses) {
      for (const [type, media] of Object.entries((response.content ?? {}) as Record<string, Json>)) {
        const count = checkExamples(t, media, `${name} ${status} ${type}`)
        if (status.startsWith('2')) t.ok(count > 0, `${name} ${status}: an example reply`)
      }
    }
    if (op.requestBody !== undefined) {
      for (const [type, media] of Object.entries(op.requestBody.content as Record<string, Json>)) {
        t.ok(checkExamples(t, media, `${name} body ${type}`) > 0, `${name}: an example request body`)
      }
      for (const status of oauth ? ['400'] : ['400', '413', '415']) t.ok(op.responses[status], `${name}: takes a body, so documents ${status}`)
    }
    for (const requirement of op.security ?? []) {
      for (const scheme of Object.keys(requirement)) t.ok(doc.components.securitySchemes[scheme], `${name}: security scheme ${scheme} exists`)
    }
  }
})

t.test('the routes that need credentials, and only they, declare security', async (t) => {
  // Asked without any credentials, a route that needs them answers 401 authentication_required
  // before looking at anything else (the authenticate hook, the browser session cookie, the
  // metrics token); whatever the mechanism, the document must say so.
  for (const route of servedRoutes(app).filter((r) => !undocumented(r))) {
    const name = `${route.method} ${route.url}`
    const url = route.url.replace(/:[A-Za-z0-9_]+/g, '5f0c6d1e-9a43-4b8e-8a55-2b1c3f7e9d10')
    // The OAuth endpoints check a well-formed form's client credentials: 401 invalid_client.
    const oauth = route.url.startsWith('/oauth/')
    const reply = await app.inject({ method: route.method as 'GET', url, ...(oauth ? { headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'grant_type=client_credentials&token=x' } : {}) })
    const needsCredentials = reply.statusCode === 401 && (oauth ? reply.json().error === 'invalid_client' : reply.json().code === 'authentication_required')
    const op = doc.paths[openapiPath(route.url)]?.[route.method.toLowerCase()] as Json | undefined
    const declared = Array.isArray(op?.security) && op.security.length > 0 && op.security.every((r: Json) => Object.keys(r).length > 0)
    t.equal(declared, needsCredentials, `${name}: security ${declared ? 'declared' : 'not declared'}, and ${needsCredentials ? 'it needs' : 'it does not need'} credentials`)
    if (needsCredentials) t.ok(op?.responses?.['401'], `${name}: documents its 401`)
  }
})

t.test('GET /docs serves the interactive docs from authd itself', async (t) => {
  const page = await app.inject({ method: 'GET', url: '/docs' })
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /^text\/html/)
  t.notMatch(page.body, /(src|href)="(https?:)?\/\//, 'no asset from another host (no CDN)')
  const csp = String(page.headers['content-security-policy'])
  t.match(csp, /script-src 'self'(;|$)/, 'scripts only from authd')
  t.notMatch(csp, /unsafe-inline|unsafe-eval/, 'no inline or eval scripts allowed')
  t.match(csp, /frame-ancestors 'none'/, 'never framed')
  const assets = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] as string)
  t.ok(assets.some((a) => a.endsWith('swagger-ui-bundle.js')), 'loads Swagger UI')
  for (const asset of assets) {
    const reply = await app.inject({ method: 'GET', url: asset })
    t.equal(reply.statusCode, 200, `${asset} answers 200`)
    t.ok(reply.body.length > 0, `${asset} is not empty`)
  }
  const initializer = await app.inject({ method: 'GET', url: '/docs/static/swagger-initializer.js' })
  t.match(initializer.body, /resolveUrl\('\.\/json'\)/, 'the page loads the document from /docs/json')
  // The API's own replies keep their "load nothing" policy.
  t.match((await app.inject({ method: 'GET', url: '/healthz' })).headers['content-security-policy'], /default-src 'none'/)
})
