import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { JWKS_MAX_AGE } from '../keys/key-set.js'

const JwksSchema = Type.Object({
  keys: Type.Array(Type.Object({
    kty: Type.String(),
    kid: Type.String(),
    alg: Type.String(),
    use: Type.String()
  }, { additionalProperties: true }))
})

// Public keys for services that verify access tokens themselves (any JOSE library): every key
// of the set, pending ones included, so a verifier has a new key cached before it signs.
// Empty with ACCESS_TOKEN_ALG=HS256, whose key is a secret.
const jwksRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/.well-known/jwks.json', { schema: { tags: ['tokens'], response: { 200: JwksSchema } } }, async (_request, reply) => {
    // Verifiers may cache the set briefly; `authd keys rotate` publishes a key at least this long before it signs.
    reply.header('cache-control', `public, max-age=${JWKS_MAX_AGE}`)
    return app.tokens.publicJwks()
  })
}

export default jwksRoutes
