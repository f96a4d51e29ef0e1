import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { JWKS_MAX_AGE } from '../keys/key-set.js'
import { PUBLIC_CORS } from '../plugins/cors.js'

const JwksSchema = Type.Object({
  keys: Type.Array(Type.Object({
    kty: Type.String(),
    kid: Type.String(),
    alg: Type.String(),
    use: Type.String()
  }, { additionalProperties: true }))
}, {
  examples: [{
    keys: [{ kty: 'RSA', kid: '4f1c9b2e', alg: 'RS256', use: 'sig', n: 'sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1Wl…', e: 'AQAB' }]
  }]
})

// Public keys for services that verify access tokens themselves (any JOSE library): every key
// of the set, pending ones included, so a verifier has a new key cached before it signs.
// Empty with ACCESS_TOKEN_ALG=HS256, whose key is a secret.
const jwksRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/.well-known/jwks.json', {
    // Any page may read it (`Access-Control-Allow-Origin: *`), whatever CORS_ORIGINS says.
    config: PUBLIC_CORS,
    schema: {
      tags: ['tokens'],
      summary: 'Public keys that verify access tokens (JWKS)',
      description: 'Every key that may have signed a live access token, and the next one before it signs; match a token\'s `kid`. ' +
        `Public (\`Access-Control-Allow-Origin: *\`), cacheable for ${JWKS_MAX_AGE} s. Empty with ACCESS_TOKEN_ALG=HS256.`,
      response: { 200: JwksSchema }
    }
  }, async (_request, reply) => {
    // Verifiers may cache the set briefly; `authd keys rotate` publishes a key at least this long before it signs.
    reply.header('cache-control', `public, max-age=${JWKS_MAX_AGE}`)
    return app.tokens.publicJwks()
  })
}

export default jwksRoutes
