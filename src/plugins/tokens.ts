// Signing keys (the access-key set, reloaded when `authd keys` changes it; the refresh secret)
// and the token service that issues and verifies both kinds of token.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import fastifyJwt from '@fastify/jwt'
import { openKeyStore, staticKeyStore } from '../keys/key-store.js'
import { keySourceOf } from '../keys/key-sources.js'
import { loadRefreshSecret, type KeyMaterial } from '../services/keys.js'
import { createTokenService, refreshJwtOptions, type TokenService } from '../services/token-service.js'
import { createCsrf, type Csrf } from '../services/csrf.js'
import { createProviderStateBox, providerStateKey, type ProviderStateBox } from '../services/provider-state.js'
import { createDeviceTokens, type DeviceTokens } from '../services/device-tokens.js'
import { mfaKey } from '../services/secret-box.js'
import { acceptedIssuers, tokenAudiences, tokenIssuer } from '../config.js'

declare module 'fastify' {
  interface FastifyInstance {
    tokens: TokenService
    /** CSRF tokens of browser sessions (keyed from the refresh secret, which stays here). */
    csrf: Csrf
    /** Known-device tokens for the lockout (keyed from the refresh secret too). */
    devices: DeviceTokens
    /** Seals the state cookie of a provider sign-in (services/provider-state.ts). */
    providerState: ProviderStateBox
    /** The MFA key: MFA_ENCRYPTION_KEY, or derived from the refresh secret (secret-box.ts). */
    mfaKey: Buffer
  }
}

export interface TokensPluginOptions {
  /** Fixed keys (tests); otherwise from config or DATA_DIR. */
  keys?: KeyMaterial
}

async function tokensPlugin (app: FastifyInstance, options: TokensPluginOptions): Promise<void> {
  const { config } = app
  const production = config.NODE_ENV === 'production'
  // Key files others may read stop a production start; elsewhere they are warned about.
  const fileModes = production ? 'refuse' : 'warn'
  const source = keySourceOf(config)
  const accessKeys = options.keys !== undefined
    ? staticKeyStore([options.keys.access])
    : await openKeyStore({
      source,
      alg: config.ACCESS_TOKEN_ALG,
      reloadInterval: config.SIGNING_KEYS_RELOAD_INTERVAL,
      log: app.log,
      fileModes
    })
  app.addHook('onClose', async () => { accessKeys.close() })
  const refreshSecret = options.keys?.refreshSecret ?? await loadRefreshSecret({ dataDir: config.DATA_DIR, refreshSecret: config.REFRESH_TOKEN_SECRET, fileModes, log: app.log })
  // Only reachable with ALLOW_GENERATED_KEYS=true (config.ts refuses it otherwise): say what it costs.
  if (production && options.keys === undefined && (source.kind === 'directory' || config.REFRESH_TOKEN_SECRET === '')) {
    app.log.warn(`ALLOW_GENERATED_KEYS=true: signing keys generated into ${config.DATA_DIR}/keys are in use; every instance needs the same ones, and losing that directory logs everyone out (docs/keys.md "Keys and rotation")`)
  }

  // @fastify/jwt handles refresh tokens (one internal HS256 secret); access tokens, signed by a
  // rotating key set, are handled by the token service itself (see token-service.ts).
  // The issuer is PUBLIC_URL (or JWT_ISSUER); tokens of the previous issuers (JWT_PREVIOUS_ISSUERS)
  // are still accepted, and a refresh gives the session tokens with the new one.
  const issuer = tokenIssuer(config)
  const issuers = acceptedIssuers(config)
  const audiences = tokenAudiences(config)
  const ownAudience = audiences[0] as string
  await app.register(fastifyJwt, refreshJwtOptions({ secret: refreshSecret, issuer, acceptedIssuers: issuers, audience: ownAudience }))

  app.decorate('tokens', createTokenService({
    accessKeys,
    refreshJwt: app.jwt,
    issuer,
    acceptedIssuers: issuers,
    audiences,
    accessTtl: config.ACCESS_TOKEN_TTL,
    refreshTtl: config.REFRESH_TOKEN_TTL
  }))
  app.decorate('csrf', createCsrf(refreshSecret))
  app.decorate('mfaKey', mfaKey({ configured: config.MFA_ENCRYPTION_KEY, refreshSecret }))
  if (production && config.MFA_ENCRYPTION_KEY.trim() === '') {
    app.log.warn('MFA_ENCRYPTION_KEY is not set: TOTP secrets are encrypted with a key derived from the refresh secret, so rotating that secret would void every enrolled authenticator (docs/accounts.md "Second factor")')
  }
  app.decorate('providerState', createProviderStateBox(providerStateKey(refreshSecret)))
  app.decorate('devices', createDeviceTokens({ refreshSecret, issuer, acceptedIssuers: issuers, audience: ownAudience, ttlSeconds: config.DEVICE_TOKEN_TTL }))
}

export default fp(tokensPlugin, { name: 'tokens', dependencies: ['config'] })
