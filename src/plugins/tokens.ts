// Signing keys, @fastify/jwt (access-token verification, with its verified-token cache)
// and the token service that issues both kinds of token.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import fastifyJwt from '@fastify/jwt'
import { loadKeyMaterial, type KeyMaterial } from '../services/keys.js'
import { ACCESS_TYP, createTokenService, type TokenService } from '../services/token-service.js'

declare module 'fastify' {
  interface FastifyInstance {
    tokens: TokenService
  }
}

export interface TokensPluginOptions {
  /** Ready keys (tests); otherwise read from config or created in DATA_DIR. */
  keys?: KeyMaterial
}

async function tokensPlugin (app: FastifyInstance, options: TokensPluginOptions): Promise<void> {
  const { config } = app
  const keys = options.keys ?? await loadKeyMaterial({
    dataDir: config.DATA_DIR,
    signingKeyFile: config.SIGNING_KEY_FILE,
    refreshSecret: config.REFRESH_TOKEN_SECRET
  })

  await app.register(fastifyJwt, {
    secret: { public: keys.access.publicKeyPem },
    verify: {
      algorithms: ['RS256'],
      allowedIss: config.JWT_ISSUER,
      allowedAud: config.JWT_AUDIENCE,
      checkTyp: ACCESS_TYP,
      requiredClaims: ['iss', 'aud', 'sub', 'sid', 'jti', 'iat', 'exp'],
      // Verified tokens are remembered (until they expire), so /users/me skips the RSA check.
      cache: 10_000
    }
  })

  app.decorate('tokens', createTokenService({
    keys,
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
    accessTtl: config.ACCESS_TOKEN_TTL,
    refreshTtl: config.REFRESH_TOKEN_TTL,
    verifyAccessJwt: (token) => app.jwt.verify(token)
  }))
}

export default fp(tokensPlugin, { name: 'tokens', dependencies: ['config'] })
