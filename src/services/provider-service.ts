// The `providers` service: sign in with other identity providers (any OpenID provider by its
// issuer, Google, GitHub) and the identities linked to accounts (docs/accounts.md "Sign in with
// other providers"). openid-client does the OAuth 2 / OpenID Connect work (authorization code
// flow with PKCE S256, state, nonce, ID-token validation); jose verifies an ID token an app
// brings. This file adds what they leave to their caller:
// - which account an identity opens: a known (provider, subject) its user; otherwise an account
//   with the same address only when both the provider and the account say it is verified; else
//   a new account without a password. Never an account found by email alone.
// - linking an identity to the signed-in user, and unlinking it unless it is the last way in;
// - the audit trail of each (in the transaction of the change), and of every refused sign-in.
// The session itself is opened by the auth service, as for any login (second factor included).
import { randomUUID, timingSafeEqual } from 'node:crypto'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { CookieSerializeOptions } from '@fastify/cookie'
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose'
import * as oidc from 'openid-client'
import { prefixedCookieName, publicBaseUrl } from '../config.js'
import { AppError } from '../errors.js'
import type { Repositories, UnitOfWork } from '../repositories/unit-of-work.js'
import type { User } from '../repositories/users.js'
import type { AuthService, LoginResult } from './auth-service.js'
import type { ClientMeta } from './client-meta.js'
import type { Passwords } from './passwords.js'
import { readProviders, type ProviderEntry } from './provider-config.js'
import { PROVIDER_STATE_TTL, safeNext, type ProviderStateBox } from './provider-state.js'

/** What a provider asserts about the person who signed in there. */
export interface ProviderIdentity {
  subject: string
  /** Lower-cased; null when the provider gives none. */
  email: string | null
  /** The provider says it checked the address (OIDC `email_verified === true`; GitHub's `verified`). */
  emailVerified: boolean
}

/** What GET /users/me/identities shows of an identity. */
export interface IdentitySummary { id: string, provider: string, subject: string, email: string, createdAt: string }

/** The body of POST /v1/app/auth/providers/{id}/token. */
export interface AppProviderInput { idToken?: string, nonce?: string, code?: string, codeVerifier?: string, redirectUri?: string }

/** The state cookie of one provider's flow: its name and attributes (Path = that provider's callback). */
export interface StateCookie { name: string, options: CookieSerializeOptions }

export interface ProviderServiceOptions {
  db: UnitOfWork
  auth: AuthService
  passwords: Passwords
  providers: ProviderEntry[]
  /** authd's public base URL (PUBLIC_URL): the callbacks live under it. */
  publicUrl: string
  stateBox: ProviderStateBox
  /** http:// providers are allowed (outside production). */
  allowInsecure: boolean
  cookieSecure: boolean
  emailVerification: 'none' | 'optional' | 'mandatory'
  /** A new account whose address the provider did not verify gets the usual verification mail. */
  onRegistered?: (user: User, meta: ClientMeta) => void
  log: FastifyBaseLogger
  /** Seconds each request to a provider may take. */
  timeoutSeconds?: number
}

const unknown = () => new AppError('provider_unknown', 'No identity provider has this id')
const tokenInvalid = (detail = 'The provider\'s token or code did not verify') => new AppError('provider_token_invalid', detail)
const providerFailed = () => new AppError('provider_failed', 'The identity provider could not be reached or gave an unusable answer; try again later')
const stateInvalid = () => new AppError('provider_state_invalid', 'This sign-in was not started here, expired, or was already used: start again')

/** A failure to reach the provider at all (network, timeout), as opposed to an answer that does not verify. */
function unreachable (error: unknown): boolean {
  const { name, code } = error as { name?: string, code?: string }
  if (error instanceof TypeError || name === 'AbortError' || name === 'TimeoutError' || code === 'ERR_JWKS_TIMEOUT') return true
  const cause = (error as { cause?: unknown })?.cause
  return cause !== undefined && cause !== error && unreachable(cause)
}

const sameString = (a: string, b: string): boolean => {
  const left = Buffer.from(a)
  const right = Buffer.from(b)
  return left.length === right.length && timingSafeEqual(left, right)
}

const summary = (identity: { id: string, provider: string, subject: string, email: string, createdAt: Date }): IdentitySummary => ({
  id: identity.id, provider: identity.provider, subject: identity.subject, email: identity.email, createdAt: identity.createdAt.toISOString()
})

/** An address as the users table keeps it; null unless it looks like one. */
function addressOf (value: unknown): string | null {
  if (typeof value !== 'string' || value.length > 254 || !/^[^\s@]+@[^\s@]+$/.test(value)) return null
  return value.toLowerCase()
}

export function createProviderService (options: ProviderServiceOptions) {
  const { db, auth, passwords, log } = options
  const timeout = options.timeoutSeconds ?? 10
  const byId = new Map(options.providers.map((entry) => [entry.id, entry]))
  const configurations = new Map<string, Promise<oidc.Configuration>>()
  const keySets = new Map<string, JWTVerifyGetKey>()
  const verifiedOnly = options.emailVerification === 'mandatory'

  const provider = (id: string): ProviderEntry => {
    const entry = byId.get(id)
    if (entry === undefined) throw unknown()
    return entry
  }
  const callbackUrl = (id: string): string => `${options.publicUrl}/v1/browser/auth/providers/${id}/callback`

  /** The provider's openid-client configuration: discovered once (OpenID), or GitHub's endpoints. */
  async function configuration (entry: ProviderEntry): Promise<oidc.Configuration> {
    let found = configurations.get(entry.id)
    if (found === undefined) {
      const execute = options.allowInsecure ? [oidc.allowInsecureRequests] : []
      found = (async () => {
        if (entry.github !== null) {
          const config = new oidc.Configuration({
            issuer: new URL(entry.github.authorizationEndpoint).origin,
            authorization_endpoint: entry.github.authorizationEndpoint,
            token_endpoint: entry.github.tokenEndpoint
          }, entry.clientId, entry.clientSecret)
          for (const apply of execute) apply(config)
          config.timeout = timeout
          return config
        }
        const config = await oidc.discovery(new URL(entry.issuer), entry.clientId, entry.clientSecret, undefined, { execute, timeout })
        config.timeout = timeout
        return config
      })()
      configurations.set(entry.id, found)
    }
    try {
      return await found
    } catch (error) {
      // Not cached: the next sign-in tries the discovery again.
      configurations.delete(entry.id)
      log.warn({ provider: entry.id, err: { message: (error as Error).message } }, 'identity provider discovery failed')
      throw providerFailed()
    }
  }

  /** Runs a request to the provider; an answer that does not verify is provider_token_invalid, no answer provider_failed. */
  async function askProvider<T> (entry: ProviderEntry, what: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work()
    } catch (error) {
      if (error instanceof AppError) throw error
      // The message names what failed (a claim, an HTTP status), never a token.
      log.warn({ provider: entry.id, err: { message: (error as Error).message } }, `identity provider ${what} failed`)
      throw unreachable(error) ? providerFailed() : tokenInvalid()
    }
  }

  /** GitHub's REST API, as documented: GET /user and GET /user/emails with the user's token. */
  async function githubIdentity (entry: ProviderEntry & { github: NonNullable<ProviderEntry['github']> }, accessToken: string): Promise<ProviderIdentity> {
    const get = async (path: string): Promise<unknown> => {
      const response = await fetch(`${entry.github.apiBaseUrl}${path}`, {
        headers: { authorization: `Bearer ${accessToken}`, accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28', 'user-agent': 'authd' },
        signal: AbortSignal.timeout(timeout * 1000)
      })
      if (response.status !== 200) throw new Error(`GitHub API ${path} answered ${response.status}`)
      return await response.json()
    }
    const user = await get('/user') as { id?: unknown }
    if (!Number.isSafeInteger(user?.id) || (user.id as number) <= 0) throw new Error('GitHub API /user gave no numeric id')
    const emails = await get('/user/emails')
    const list = Array.isArray(emails) ? emails as Array<{ email?: unknown, primary?: unknown, verified?: unknown }> : []
    // The primary address, and whether GitHub verified it (/user's own `email` is only the public one).
    const primary = list.find((item) => item?.primary === true && addressOf(item.email) !== null)
    return { subject: String(user.id), email: addressOf(primary?.email), emailVerified: primary?.verified === true }
  }

  /** An OpenID provider's identity: the ID token's claims, and userinfo when they hold no address. */
  async function oidcIdentity (config: oidc.Configuration, tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers): Promise<ProviderIdentity> {
    const claims = tokens.claims()
    if (claims === undefined) throw new Error('no ID token')
    let source: Record<string, unknown> = claims
    if (claims.email === undefined) source = { ...await oidc.fetchUserInfo(config, tokens.access_token, claims.sub), sub: claims.sub }
    return { subject: claims.sub, email: addressOf(source.email), emailVerified: source.email_verified === true }
  }

  /** The authorization code exchange (PKCE; state and nonce checked when given), then who signed in. */
  async function exchange (entry: ProviderEntry, currentUrl: URL, checks: { codeVerifier: string, state?: string, nonce?: string | null }): Promise<ProviderIdentity> {
    const config = await configuration(entry)
    return await askProvider(entry, 'code exchange', async () => {
      const tokens = await oidc.authorizationCodeGrant(config, currentUrl, {
        pkceCodeVerifier: checks.codeVerifier,
        expectedState: checks.state,
        expectedNonce: checks.nonce ?? undefined,
        idTokenExpected: entry.github === null
      })
      if (entry.github !== null) return await githubIdentity({ ...entry, github: entry.github }, tokens.access_token)
      return await oidcIdentity(config, tokens)
    })
  }

  /** An ID token an app got from the provider itself: signature (the provider's JWKS), issuer, audience, expiry, nonce. */
  async function verifyIdToken (entry: ProviderEntry, idToken: string, nonce: string | undefined): Promise<ProviderIdentity> {
    if (entry.github !== null) throw new AppError('validation_failed', 'GitHub issues no ID tokens: send the code exchange', { errors: [{ field: 'idToken', code: 'invalid_value', message: 'not accepted by this provider' }] })
    // A value that is not even a JWS is refused before the provider is asked for anything.
    if (!/^[\w-]+\.[\w-]+\.[\w-]+$/.test(idToken)) throw tokenInvalid('The ID token is malformed')
    const server = (await configuration(entry)).serverMetadata()
    let keys = keySets.get(entry.id)
    if (keys === undefined) {
      if (server.jwks_uri === undefined) throw providerFailed()
      keys = createRemoteJWKSet(new URL(server.jwks_uri), { timeoutDuration: timeout * 1000 })
      keySets.set(entry.id, keys)
    }
    const verifier = keys
    // jose's refusals (signature, claims, no matching key) are the token's fault (askProvider).
    const { payload } = await askProvider(entry, 'ID token check', async () =>
      await jwtVerify(idToken, verifier, { issuer: server.issuer, audience: [entry.clientId, ...entry.appClientIds], requiredClaims: ['sub', 'exp', 'iat'] }))
    if (nonce !== undefined && (typeof payload.nonce !== 'string' || !sameString(payload.nonce, nonce))) throw tokenInvalid('The ID token\'s nonce is not the one given')
    return { subject: payload.sub as string, email: addressOf(payload.email), emailVerified: payload.email_verified === true }
  }

  /**
   * The account an identity signs in to (linking rules, docs/accounts.md): its linked user; else
   * the account with its address, only when both sides say the address is verified (linked
   * now); else a new account without a usable password.
   */
  async function accountFor (entry: ProviderEntry, identity: ProviderIdentity, meta: ClientMeta): Promise<{ user: User, how: 'known' | 'linked' | 'created' }> {
    const known = await db.repos.identities.find(entry.id, identity.subject)
    if (known !== null) {
      const user = await db.repos.users.findById(known.userId)
      if (user !== null) return { user, how: 'known' }
    }
    if (identity.email === null) throw new AppError('provider_email_unverified', 'The provider gave no email address: an account cannot be created from it')
    const existing = await db.repos.users.findByLogin(identity.email)
    if (existing !== null) {
      if (!identity.emailVerified || !existing.emailVerified) {
        throw new AppError('identity_link_required', 'An account with this email address exists: log in to it and link this provider from your account settings')
      }
      await db.transaction(async (repos) => { await link(repos, existing.id, entry, identity, meta, true) })
      return { user: existing, how: 'linked' }
    }
    if (verifiedOnly && !identity.emailVerified) throw new AppError('provider_email_unverified', 'The provider does not say this email address is verified')
    const user = await db.transaction(async (repos) => {
      const created = await repos.users.create({ id: randomUUID(), email: identity.email as string, passwordHash: passwords.unusableHash(), emailVerified: identity.emailVerified })
      await repos.audit.record({ type: 'user_registered', userId: created.id, ...meta, detail: { provider: entry.id, sessionId: null } })
      await link(repos, created.id, entry, identity, meta, true)
      return created
    })
    if (!user.emailVerified) options.onRegistered?.(user, meta)
    return { user, how: 'created' }
  }

  /** Links the identity to `userId` in the caller's transaction; identity_in_use when another user has it. */
  async function link (repos: Repositories, userId: string, entry: ProviderEntry, identity: ProviderIdentity, meta: ClientMeta, automatic: boolean): Promise<void> {
    const created = await repos.identities.create({ id: randomUUID(), userId, provider: entry.id, subject: identity.subject, email: identity.email ?? '' })
    if (created === null) {
      const holder = await repos.identities.find(entry.id, identity.subject)
      if (holder?.userId === userId) return
      throw new AppError('identity_in_use', 'This identity is linked to another account')
    }
    await repos.audit.record({ type: 'identity_linked', userId, ...meta, detail: { provider: entry.id, identityId: created.id, automatic } })
  }

  /** A provider sign-in, as a login; a refusal is audited (with its code, never a token) and rethrown. */
  async function signIn (entry: ProviderEntry, identity: () => Promise<ProviderIdentity>, meta: ClientMeta): Promise<LoginResult> {
    let userId: string | null = null
    try {
      const { user, how } = await accountFor(entry, await identity(), meta)
      userId = user.id
      return await auth.loginWithProvider(user, entry.id, meta, async (repos) => {
        await repos.audit.record({ type: 'provider_login', userId: user.id, ...meta, detail: { provider: entry.id, account: how } })
      })
    } catch (error) {
      if (error instanceof AppError) await db.repos.audit.record({ type: 'provider_login_failed', userId, ...meta, detail: { provider: entry.id, reason: error.code } })
      throw error
    }
  }

  return {
    /** The providers, for the sign-in page. */
    list (): Array<{ id: string, name: string }> {
      return options.providers.map((entry) => ({ id: entry.id, name: entry.name }))
    },

    /** The state cookie of a provider's flow: HttpOnly, SameSite=Lax (it must come back with the provider's redirect), only sent to that callback. */
    stateCookie (providerId: string): StateCookie {
      const path = new URL(callbackUrl(provider(providerId).id)).pathname
      return {
        name: prefixedCookieName('authd_provider_state', { secure: options.cookieSecure, path, domain: '' }),
        options: { httpOnly: true, secure: options.cookieSecure, sameSite: 'lax', path, maxAge: PROVIDER_STATE_TTL }
      }
    },

    /**
     * Starts a browser sign-in (or, with `userId`, the linking of a provider to that user): the
     * provider's authorization URL and the sealed state its callback must bring back.
     */
    async start (providerId: string, input: { next?: string, userId?: string }): Promise<{ url: string, sealedState: string }> {
      const entry = provider(providerId)
      const config = await configuration(entry)
      const codeVerifier = oidc.randomPKCECodeVerifier()
      const state = oidc.randomState()
      const nonce = entry.github === null ? oidc.randomNonce() : null
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: callbackUrl(entry.id),
        scope: entry.scopes.join(' '),
        code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
        code_challenge_method: 'S256',
        state,
        ...(nonce === null ? {} : { nonce })
      })
      const sealedState = options.stateBox.seal({ provider: entry.id, state, nonce, codeVerifier, next: safeNext(input.next), userId: input.userId ?? null })
      return { url: url.href, sealedState }
    },

    /**
     * The provider's redirect back to the browser callback. The state it brings must be the
     * state cookie's (which also holds the PKCE verifier and nonce); then the code is exchanged
     * and the identity signs in (a login result) or is linked to the cookie's user (`linked`).
     * `next`: where the browser goes afterwards.
     */
    async callback (providerId: string, query: Record<string, unknown>, sealedState: string | undefined, meta: ClientMeta): Promise<{ next: string, result: LoginResult | { linked: true } }> {
      const entry = provider(providerId)
      const saved = options.stateBox.open(sealedState, entry.id)
      if (saved === null || typeof query.state !== 'string' || !sameString(query.state, saved.state)) {
        await db.repos.audit.record({ type: 'provider_login_failed', userId: saved?.userId ?? null, ...meta, detail: { provider: entry.id, reason: 'provider_state_invalid' } })
        throw stateInvalid()
      }
      if (query.error !== undefined || typeof query.code !== 'string') {
        await db.repos.audit.record({ type: 'provider_login_failed', userId: saved.userId, ...meta, detail: { provider: entry.id, reason: 'provider_denied' } })
        throw new AppError('provider_denied', 'The sign-in was cancelled or refused at the provider')
      }
      const currentUrl = new URL(callbackUrl(entry.id))
      for (const [name, value] of Object.entries(query)) if (typeof value === 'string') currentUrl.searchParams.set(name, value)
      const identity = async () => await exchange(entry, currentUrl, { codeVerifier: saved.codeVerifier, state: saved.state, nonce: saved.nonce })
      if (saved.userId === null) return { next: saved.next, result: await signIn(entry, identity, meta) }
      const userId = saved.userId
      try {
        const found = await identity()
        await db.transaction(async (repos) => {
          const user = await repos.users.findById(userId)
          if (user === null || !user.isActive) throw new AppError('account_inactive', 'This account is deactivated')
          await link(repos, userId, entry, found, meta, false)
        })
      } catch (error) {
        if (error instanceof AppError) await db.repos.audit.record({ type: 'provider_login_failed', userId, ...meta, detail: { provider: entry.id, reason: error.code, linking: true } })
        throw error
      }
      return { next: saved.next, result: { linked: true } }
    },

    /** An app's sign-in: an ID token it got from the provider, or the code of its own PKCE flow. */
    async appSignIn (providerId: string, input: AppProviderInput, meta: ClientMeta): Promise<LoginResult> {
      const entry = provider(providerId)
      const { idToken, nonce, code, codeVerifier, redirectUri } = input
      if (idToken !== undefined) {
        const extra = [['code', code], ['codeVerifier', codeVerifier], ['redirectUri', redirectUri]].filter(([, value]) => value !== undefined).map(([field]) => field as string)
        if (extra.length > 0) throw new AppError('validation_failed', 'Send either idToken (and nonce) or code, codeVerifier and redirectUri', { errors: extra.map((field) => ({ field, code: 'unknown_field', message: 'not with idToken' })) })
        return await signIn(entry, async () => await verifyIdToken(entry, idToken, nonce), meta)
      }
      const missing = [['code', code], ['codeVerifier', codeVerifier], ['redirectUri', redirectUri]].filter(([, value]) => value === undefined).map(([field]) => field as string)
      if (missing.length > 0) {
        throw new AppError('validation_failed', 'Send either idToken (and nonce) or code, codeVerifier and redirectUri', {
          errors: missing.map((field) => ({ field, code: 'required', message: 'is required without idToken' }))
        })
      }
      if (!entry.appRedirectUris.includes(redirectUri as string)) {
        throw new AppError('validation_failed', 'This redirectUri is not one of the provider\'s appRedirectUris', { errors: [{ field: 'redirectUri', code: 'invalid_value', message: 'is not allowed for this provider' }] })
      }
      const server = (await configuration(entry)).serverMetadata()
      const currentUrl = new URL(redirectUri as string)
      currentUrl.search = ''
      currentUrl.hash = ''
      currentUrl.searchParams.set('code', code as string)
      // The app received the code itself; a provider that announces RFC 9207's `iss` wants it back.
      if (server.authorization_response_iss_parameter_supported === true) currentUrl.searchParams.set('iss', server.issuer)
      return await signIn(entry, async () => await exchange(entry, currentUrl, { codeVerifier: codeVerifier as string, nonce }), meta)
    },

    async identities (userId: string): Promise<IdentitySummary[]> {
      return (await db.repos.identities.listByUser(userId)).map(summary)
    },

    /** Unlinks one of the user's identities, unless the account would be left with no way in. */
    async unlink (userId: string, id: string, meta: ClientMeta): Promise<void> {
      await db.transaction(async (repos) => {
        // Locked first, so two unlinks at once cannot each count the other's identity as left.
        const owner = await repos.users.lockForUpdate(userId)
        const gone = owner === null ? null : await repos.identities.delete(userId, id)
        if (owner === null || gone === null) throw new AppError('not_found', 'No identity of yours has this id')
        if (gone.identitiesLeft === 0 && gone.passkeys === 0 && !passwords.hasUsablePassword(owner.passwordHash)) {
          throw new AppError('last_login_method', 'This is the only way into your account: set a password (password reset) or link another provider first')
        }
        await repos.audit.record({ type: 'identity_unlinked', userId, ...meta, detail: { provider: gone.identity.provider, identityId: id } })
      })
    }
  }
}

export type ProviderService = ReturnType<typeof createProviderService>

// app.providers: sign in with other identity providers; linked identities.
declare module 'fastify' {
  interface FastifyInstance { providers: ProviderService }
}

async function providerServicePlugin (app: FastifyInstance): Promise<void> {
  const config = app.config
  const { providers, problems } = readProviders(config)
  // parseConfig reported these already; a config built another way must not start with them either.
  if (problems.length > 0) throw new Error(`Invalid configuration:\n  ${problems.join('\n  ')}`)
  app.decorate('providers', createProviderService({
    db: app.db,
    auth: app.auth,
    passwords: app.passwords,
    providers,
    publicUrl: publicBaseUrl(config),
    stateBox: app.providerState,
    allowInsecure: config.NODE_ENV !== 'production',
    cookieSecure: config.COOKIE_SECURE,
    emailVerification: config.EMAIL_VERIFICATION,
    onRegistered: app.emailFlows.afterRegister,
    log: app.log
  }))
}

export default fp(providerServicePlugin, { name: 'provider-service', dependencies: ['config', 'database', 'passwords', 'tokens', 'email-flows', 'auth-service'] })
