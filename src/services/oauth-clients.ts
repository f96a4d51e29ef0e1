// Service credentials (OAuth 2 clients of the client-credentials grant, RFC 6749 §4.4): create,
// list, rotate a secret, disable — for `authd clients` and the admin API —, and the check of
// the credentials a client presents to the /oauth endpoints.
//
// Secrets are 32 random bytes (base64url), shown once and stored as their SHA-256
// (services/opaque-tokens.ts). With 256 bits of entropy nobody can search a preimage of the
// hash, so a fast hash is as safe here as bcrypt is for a password, and costs microseconds on
// every token request instead of tens of milliseconds.
//
// The check costs the same whether the client id is unknown or the secret wrong: the row is
// looked up either way, the presented secret is hashed either way and compared in constant
// time (crypto.timingSafeEqual on the digests) with the row's hash or a dummy one, and both
// failures get one answer (invalid_client).
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { AppError } from '../errors.js'
import type { ClientKey, OauthClient } from '../repositories/oauth-clients.js'
import type { UnitOfWork } from '../repositories/unit-of-work.js'
import type { ClientCreateInput } from '../schemas/oauth.js'
import type { Actor, ClientMeta } from './client-meta.js'
import { hashToken, newOpaqueToken } from './opaque-tokens.js'
import type { SessionService } from './session-service.js'

export type { ClientKey, OauthClient }

/** A client with its secret, the one time it is shown. */
export interface ClientWithSecret { client: OauthClient, secret: string }

/** Credentials as a client presented them, and how (for the WWW-Authenticate of a failure). */
export interface PresentedCredentials { clientId: string, secret: string, method: 'basic' | 'post' }

/** Which OAuth endpoint a client authenticated to (the audit trail says). */
export type OAuthEndpoint = 'token' | 'introspect' | 'revoke'

/** Who manages clients: an admin through the API (step-up applies), or the operator's CLI (null). */
export type ClientManager = Actor | null

const newClientId = (): string => `svc_${randomBytes(16).toString('base64url')}`
const digest = (hash: string): Buffer => Buffer.from(hash, 'base64url')
/** Compared with when the client id is unknown, so that the failure costs what a wrong secret costs. */
const DUMMY_DIGEST = digest(hashToken(newOpaqueToken()))

const BASIC_CHALLENGE = { 'www-authenticate': 'Basic realm="authd"' }

/** invalid_client; with the Basic challenge unless the credentials came in the body (RFC 6749 §5.2). */
export function invalidClient (method: 'basic' | 'post' | null, detail = 'Client authentication failed'): AppError {
  return new AppError('invalid_client', detail, method === 'post' ? {} : { headers: BASIC_CHALLENGE })
}

/** RFC 6749 §2.3.1: Basic's user and password are the form-urlencoded id and secret. */
function formDecode (text: string): string {
  return decodeURIComponent(text.replaceAll('+', ' '))
}

/**
 * The client's credentials: HTTP Basic (client_secret_basic) or client_id + client_secret in
 * the form (client_secret_post), never both (invalid_request). None, a half, or a Basic header
 * that does not decode: invalid_client. Other Authorization schemes are not client
 * authentication and are ignored.
 */
export function presentedCredentials (authorization: string | undefined, form: { client_id?: string, client_secret?: string }): PresentedCredentials {
  const basic = authorization !== undefined && /^Basic(\s|$)/i.test(authorization) ? authorization.slice(5).trim() : null
  const inForm = form.client_id !== undefined || form.client_secret !== undefined
  if (basic !== null && inForm) throw new AppError('invalid_request', 'Authenticate the client one way: HTTP Basic or client_id/client_secret in the body, not both')
  if (basic !== null) {
    const decoded = /^[A-Za-z0-9+/]+={0,2}$/.test(basic) ? Buffer.from(basic, 'base64').toString('utf8') : ''
    const colon = decoded.indexOf(':')
    if (colon < 1) throw invalidClient('basic', 'The Basic credentials must be base64 of client_id:client_secret')
    try {
      return { clientId: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)), method: 'basic' }
    } catch {
      throw invalidClient('basic', 'The Basic credentials are not valid form-urlencoding')
    }
  }
  if (form.client_id === undefined || form.client_secret === undefined) throw invalidClient(inForm ? 'post' : null, 'Authenticate the client with HTTP Basic or client_id and client_secret')
  return { clientId: form.client_id, secret: form.client_secret, method: 'post' }
}

export interface OauthClientServiceOptions {
  db: UnitOfWork
  /** The admin's step-up check; the CLI has no session and passes none. */
  sessions?: Pick<SessionService, 'requireRecentAuthentication'>
}

export function createOauthClientService ({ db, sessions }: OauthClientServiceOptions) {
  const notFound = () => new AppError('not_found', 'There is no enabled client with this id')
  /** Handing out credentials is sensitive: an admin must have authenticated recently. */
  const stepUp = async (by: ClientManager): Promise<void> => {
    if (by !== null) await sessions?.requireRecentAuthentication({ sub: by.id, sid: by.sessionId })
  }
  const audited = (by: ClientManager) => by === null
    ? { actorId: null, ip: null, userAgent: null, via: 'cli' }
    : { actorId: by.id, ip: by.ip, userAgent: by.userAgent, via: 'admin' }

  return {
    async create (input: ClientCreateInput, by: ClientManager): Promise<ClientWithSecret> {
      await stepUp(by)
      const secret = newOpaqueToken()
      const { via, ...meta } = audited(by)
      const client = await db.transaction(async (repos) => {
        const created = await repos.oauthClients.create({ id: randomUUID(), clientId: newClientId(), name: input.name, secretHash: hashToken(secret), scopes: input.scopes ?? [], audience: input.audience ?? [] })
        await repos.audit.record({ type: 'client_created', ...meta, detail: { clientId: created.clientId, name: created.name, scopes: created.scopes, audience: created.audience, via } })
        return created
      })
      return { client, secret }
    },

    async list (): Promise<OauthClient[]> {
      return await db.repos.oauthClients.list()
    },

    /** A new secret for an enabled client; the old one stops working at once. */
    async rotateSecret (key: ClientKey, by: ClientManager): Promise<ClientWithSecret> {
      await stepUp(by)
      const secret = newOpaqueToken()
      const { via, ...meta } = audited(by)
      const client = await db.transaction(async (repos) => {
        const rotated = await repos.oauthClients.rotateSecret(key, hashToken(secret))
        if (rotated === null) throw notFound()
        await repos.audit.record({ type: 'client_secret_rotated', ...meta, detail: { clientId: rotated.clientId, via } })
        return rotated
      })
      return { client, secret }
    },

    /**
     * Disables a client: it can no longer authenticate to any /oauth endpoint, and introspection
     * reports its tokens inactive. Disabling a disabled client changes nothing and records nothing.
     */
    async disable (key: ClientKey, by: ClientManager): Promise<OauthClient> {
      const { via, ...meta } = audited(by)
      return await db.transaction(async (repos) => {
        const disabled = await repos.oauthClients.disable(key)
        const client = await repos.oauthClients.find(key)
        if (client === null) throw new AppError('not_found', 'There is no client with this id')
        if (disabled) await repos.audit.record({ type: 'client_disabled', ...meta, detail: { clientId: client.clientId, via } })
        return client
      })
    },

    /** The enabled client these credentials belong to, or invalid_client (audited, without the secret). */
    async authenticate (credentials: PresentedCredentials, meta: ClientMeta, endpoint: OAuthEndpoint): Promise<OauthClient> {
      const client = await db.repos.oauthClients.find({ clientId: credentials.clientId })
      const matches = timingSafeEqual(digest(hashToken(credentials.secret)), client === null ? DUMMY_DIGEST : digest(client.secretHash))
      if (client !== null && matches && client.disabledAt === null) return client
      // The presented id only when it names a client: anything else may be a secret pasted in the wrong field.
      const reason = client === null ? 'unknown_client' : matches ? 'disabled' : 'wrong_secret'
      await db.repos.audit.record({ type: 'client_auth_failed', ...meta, detail: { clientId: client?.clientId ?? null, reason, endpoint } })
      throw invalidClient(credentials.method)
    }
  }
}

export type OauthClientService = ReturnType<typeof createOauthClientService>

declare module 'fastify' {
  interface FastifyInstance {
    /** Service credentials: management and the check of presented credentials. */
    oauthClients: OauthClientService
  }
}

export default fp(async (app: FastifyInstance): Promise<void> => {
  app.decorate('oauthClients', createOauthClientService({ db: app.db, sessions: app.sessions }))
}, { name: 'oauth-client-service', dependencies: ['database', 'session-service'] })
