import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'

const JwksSchema = Type.Object({
  keys: Type.Array(Type.Object({
    kty: Type.String(),
    kid: Type.String(),
    alg: Type.String(),
    use: Type.String()
  }, { additionalProperties: true }))
})

// Public keys for services that verify access tokens themselves (any JOSE library).
const jwksRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/.well-known/jwks.json', { schema: { tags: ['tokens'], response: { 200: JwksSchema } } }, async (_request, reply) => {
    // Verifiers may cache the set briefly; a new key is published before it signs anything.
    reply.header('cache-control', 'public, max-age=300')
    return app.tokens.publicJwks()
  })
}

export default jwksRoutes
