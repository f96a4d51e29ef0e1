// CORS for browser clients: only the exact origins of CORS_ORIGINS get an answer, and only
// they are told that credentials (the refresh cookie) may be sent. Any other origin gets no
// CORS header at all — not even Allow-Credentials — and its preflight a 404, so the browser
// blocks the call. CORS_ORIGINS never holds a wildcard (config.ts refuses it).
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import fastifyCors from '@fastify/cors'
import { sendProblem } from './error-handler.js'

/**
 * Route config of the public documents (JWKS, discovery): any page may read them —
 * `Access-Control-Allow-Origin: *`, never with credentials — whatever CORS_ORIGINS says, since
 * they hold nothing a session could reveal. A simple GET needs no preflight; the preflight route
 * (`OPTIONS *`) keeps the CORS_ORIGINS rules of every other route.
 */
export const PUBLIC_CORS = { cors: { origin: '*', credentials: false } }

/** Seconds a browser may cache a preflight answer. */
export const PREFLIGHT_MAX_AGE = 600

async function corsPlugin (app: FastifyInstance): Promise<void> {
  const allowed = app.corsOrigins
  // @fastify/cors answers an OPTIONS request of an allowed origin that lacks
  // Access-Control-Request-Method (no real preflight) with a text/plain 400; give it the
  // problem JSON every other 4xx has. Added first, so it runs before the plugin's hook.
  app.addHook('onRequest', async (request, reply) => {
    if (request.method === 'OPTIONS' && request.headers['access-control-request-method'] === undefined && allowed.has(request.headers.origin ?? '')) {
      return sendProblem(request, reply, 'validation_failed', 'A CORS preflight needs Access-Control-Request-Method', [{ field: 'Access-Control-Request-Method', code: 'required', message: 'is required' }])
    }
  })
  await app.register(fastifyCors, {
    // A function (not the list itself): for an origin outside the list the plugin then adds no
    // headers, where with a list it would still send Allow-Credentials and the preflight headers.
    origin: (origin, callback) => { callback(null, origin !== undefined && allowed.has(origin)) },
    credentials: true,
    methods: ['GET', 'HEAD', 'POST', 'PATCH', 'DELETE'],
    allowedHeaders: ['Authorization', 'Content-Type', 'X-CSRF-Token'],
    // Headers a page may read: request id for support, Retry-After on 429, the 401 challenge.
    exposedHeaders: ['X-Request-Id', 'Retry-After', 'WWW-Authenticate'],
    maxAge: PREFLIGHT_MAX_AGE
  })
}

export default fp(corsPlugin, { name: 'cors', dependencies: ['config'] })
