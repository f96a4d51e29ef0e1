// Response headers for a JSON API (@fastify/helmet): nothing authd sends is meant to be
// rendered, framed or cached.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import helmet from '@fastify/helmet'

async function securityHeadersPlugin (app: FastifyInstance): Promise<void> {
  await app.register(helmet, {
    // JSON is never a document: if a reply is ever rendered (opened directly, or a sniffing
    // mistake), it may load nothing and be framed by nobody. An HTML page served here later
    // (API docs) needs its own policy through the route's `helmet` option.
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    // X-Frame-Options for browsers that predate frame-ancestors.
    frameguard: { action: 'deny' },
    // HSTS on (180 days): browsers ignore it over plain HTTP, so development on http://localhost
    // is unaffected; behind TLS it keeps later calls off plain HTTP, where passwords and tokens
    // in bodies would travel in clear. Not includeSubDomains: authd does not speak for other hosts.
    hsts: { maxAge: 15_552_000, includeSubDomains: false }
  })

  // Replies carry tokens, users and sessions: no browser or proxy may keep them. A route that
  // is meant to be cached (the JWKS) sets its own Cache-Control, which this leaves alone.
  app.addHook('onSend', async (_request, reply) => {
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store')
  })
}

export default fp(securityHeadersPlugin, { name: 'security-headers' })
