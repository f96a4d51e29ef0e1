// Response headers for a JSON API: nothing authd sends is meant to be rendered, framed or
// cached.
//
// The header values come from helmet, computed once at start-up: with these options they are
// the same for every reply (no CSP nonces). @fastify/helmet, used before, rebuilt the helmet
// middleware from its options on every request, which cost ~10 % of the event loop on
// JWKS and ~5 % on /users/me under load (bench/README.md, CPU profiles).
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import helmet, { type HelmetOptions } from 'helmet'

const OPTIONS: HelmetOptions = {
  // JSON is never a document: if a reply is ever rendered (opened directly, or a sniffing
  // mistake), it may load nothing and be framed by nobody. The API docs page (openapi.ts)
  // sets its own policy on its routes.
  contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
  // X-Frame-Options for browsers that predate frame-ancestors.
  frameguard: { action: 'deny' },
  // HSTS on (180 days): browsers ignore it over plain HTTP, so development on http://localhost
  // is unaffected; behind TLS it keeps later calls off plain HTTP, where passwords and tokens
  // in bodies would travel in clear. Not includeSubDomains: authd does not speak for other hosts.
  strictTransportSecurity: { maxAge: 15_552_000, includeSubDomains: false }
}

/** The headers helmet sets with `options`, captured by running its middleware once. */
function helmetHeaders (options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {}
  const response = {
    setHeader (name: string, value: string | number | readonly string[]) { headers[name.toLowerCase()] = String(value) },
    removeHeader (name: string) { delete headers[name.toLowerCase()] }
  }
  let finished = false
  helmet(options)({} as IncomingMessage, response as unknown as ServerResponse, (error?: unknown) => {
    if (error !== undefined && error !== null) throw error
    finished = true
  })
  // helmet's middleware is synchronous; if a later version were not, fail at start-up, not silently.
  if (!finished) throw new Error('helmet did not finish synchronously')
  return headers
}

async function securityHeadersPlugin (app: FastifyInstance): Promise<void> {
  const headers = helmetHeaders(OPTIONS)
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(headers)
    done()
  })

  // Replies carry tokens, users and sessions: no browser or proxy may keep them. A route that
  // is meant to be cached (the JWKS) sets its own Cache-Control, which this leaves alone.
  app.addHook('onSend', async (_request, reply) => {
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store')
  })
}

export default fp(securityHeadersPlugin, { name: 'security-headers' })
