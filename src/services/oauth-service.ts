// The OAuth endpoints' rules: the client credentials grant (RFC 6749 §4.4), token
// introspection (RFC 7662) and revocation (RFC 7009). Each one first authenticates the client
// (services/oauth-clients.ts); a disabled client gets invalid_client from all three.
//
// - /oauth/token issues a service its own access token, signed like users' (token-service.ts
//   signClientAccess), with no refresh token: a service simply asks again.
// - /oauth/introspect says `active: true` only for a token that verifies AND is still alive:
//   a user's access token whose session has not ended (the immediate-logout check), a refresh
//   token that is its session's one live token, a service's token whose client is enabled.
//   Anything else is `{ active: false }` and nothing more.
// - /oauth/revoke ends a refresh token's session through logout's own path. An access token is
//   accepted and left alone: it expires within ACCESS_TOKEN_TTL, and introspection already
//   reports it inactive once its session ends. Any token answers 200 (RFC 7009 §2.2).
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { AppError } from '../errors.js'
import type { UnitOfWork } from '../repositories/unit-of-work.js'
import type { Introspection, TokenFormInput, TokenForTokenInput } from '../schemas/oauth.js'
import type { AuthService } from './auth-service.js'
import type { ClientMeta } from './client-meta.js'
import { presentedCredentials, type OauthClientService, type OAuthEndpoint } from './oauth-clients.js'
import type { SessionService } from './session-service.js'
import type { TokenService } from './token-service.js'

export interface OAuthServiceOptions {
  db: UnitOfWork
  clients: OauthClientService
  tokens: TokenService
  sessions: Pick<SessionService, 'liveUser'>
  auth: Pick<AuthService, 'logout'>
}

/** An OAuth request as the route parsed it: the Authorization header and the form. */
export interface OAuthRequest<F> { authorization: string | undefined, form: F, meta: ClientMeta }

export interface TokenResponse { access_token: string, token_type: 'Bearer', expires_in: number, scope: string }

const INACTIVE: Introspection = { active: false }

/** The scopes asked for (space-separated, RFC 6749 §3.3), or null when none were. */
function requestedScopes (scope: string | undefined): string[] | null {
  const asked = (scope ?? '').split(' ').filter((s) => s !== '')
  return asked.length === 0 ? null : [...new Set(asked)]
}

/** Runs `check`; a token it refuses (AppError) is null. Anything else (the database down) is thrown. */
async function unlessRefused<T> (check: () => Promise<T> | T): Promise<T | null> {
  try {
    return await check()
  } catch (error) {
    if (error instanceof AppError) return null
    throw error
  }
}

export function createOAuthService ({ db, clients, tokens, sessions, auth }: OAuthServiceOptions) {
  async function authenticate (request: OAuthRequest<{ client_id?: string, client_secret?: string }>, endpoint: OAuthEndpoint) {
    return await clients.authenticate(presentedCredentials(request.authorization, request.form), request.meta, endpoint)
  }

  /** What introspection says of a token, the client having authenticated. */
  async function inspect (token: string): Promise<Introspection> {
    // A user's access token: alive while its session is (and its user active).
    const user = await unlessRefused(() => tokens.verifyAccess(token))
    if (user !== null) {
      return await unlessRefused(() => sessions.liveUser(user)) === null ? INACTIVE : { active: true, token_type: 'access_token', ...user }
    }
    // A service's token: alive while its client is enabled.
    const service = await unlessRefused(() => tokens.verifyClientAccess(token))
    if (service !== null) {
      const client = await db.repos.oauthClients.find({ clientId: service.client_id })
      return client === null || client.disabledAt !== null ? INACTIVE : { active: true, token_type: 'access_token', ...service }
    }
    // A refresh token: alive while it is its session's one live token (not rotated, not
    // revoked) and the session and its user are.
    const refresh = await unlessRefused(() => tokens.verifyRefresh(token))
    if (refresh === null) return INACTIVE
    const found = await db.repos.sessions.findTokenSession(refresh.jti, refresh.sid)
    if (found === null || found.revoked || found.blacklistReason !== null) return INACTIVE
    if (await unlessRefused(() => sessions.liveUser(refresh)) === null) return INACTIVE
    return { active: true, token_type: 'refresh_token', ...refresh }
  }

  return {
    async token (request: OAuthRequest<TokenFormInput>): Promise<TokenResponse> {
      const client = await authenticate(request, 'token')
      if (request.form.grant_type !== 'client_credentials') throw new AppError('unsupported_grant_type', 'The only grant_type is client_credentials')
      const asked = requestedScopes(request.form.scope)
      const scope = asked ?? client.scopes
      const refused = scope.filter((s) => !client.scopes.includes(s))
      if (refused.length > 0) throw new AppError('invalid_scope', `This client may not ask for: ${refused.join(' ')}`)
      const accessToken = await tokens.signClientAccess(client, scope)
      await db.repos.audit.record({ type: 'client_token_issued', ...request.meta, detail: { clientId: client.clientId, scope } })
      return { access_token: accessToken, token_type: 'Bearer', expires_in: tokens.accessTtl, scope: scope.join(' ') }
    },

    async introspect (request: OAuthRequest<TokenForTokenInput>): Promise<Introspection> {
      await authenticate(request, 'introspect')
      return await inspect(request.form.token)
    },

    async revoke (request: OAuthRequest<TokenForTokenInput>): Promise<void> {
      await authenticate(request, 'revoke')
      // logout's path: verifies the refresh token, ends its session and records `logged_out`.
      // Not a refresh token authd knows (an access token, garbage): nothing to do.
      await unlessRefused(async () => { await auth.logout(request.form.token, request.meta) })
    }
  }
}

export type OAuthService = ReturnType<typeof createOAuthService>

declare module 'fastify' {
  interface FastifyInstance {
    /** /oauth/token, /oauth/introspect, /oauth/revoke. */
    oauth: OAuthService
  }
}

async function oauthServicePlugin (app: FastifyInstance): Promise<void> {
  app.decorate('oauth', createOAuthService({ db: app.db, clients: app.oauthClients, tokens: app.tokens, sessions: app.sessions, auth: app.auth }))
}

export default fp(oauthServicePlugin, { name: 'oauth-service', dependencies: ['database', 'tokens', 'session-service', 'auth-service', 'oauth-client-service'] })
