// Service credentials (OAuth 2 clients of the client-credentials grant). The secret is stored
// only as its hash (services/oauth-clients.ts says why SHA-256); the writes that change a
// client are each one conditional statement: rotating or disabling an unknown or disabled
// client changes nothing and says so.
import type { Db } from './users.js'

export interface NewOauthClient {
  id: string
  clientId: string
  name: string
  secretHash: string
  scopes: string[]
  audience: string[]
}

export interface OauthClient extends NewOauthClient {
  disabledAt: Date | null
  createdAt: Date
  secretRotatedAt: Date | null
}

/** A client named by its id (admin API) or its client_id (CLI, /oauth). */
export type ClientKey = { id: string } | { clientId: string }

export function createOauthClientRepository (db: Db) {
  return {
    async create (client: NewOauthClient): Promise<OauthClient> {
      return await db.oauthClient.create({ data: client })
    },

    async find (key: ClientKey): Promise<OauthClient | null> {
      return await db.oauthClient.findUnique({ where: key })
    },

    /** Every client, oldest first (a deployment has a handful). */
    async list (): Promise<OauthClient[]> {
      return await db.oauthClient.findMany({ orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] })
    },

    /** A new secret hash for an enabled client; null when there is no enabled client with this id. */
    async rotateSecret (key: ClientKey, secretHash: string): Promise<OauthClient | null> {
      const { count } = await db.oauthClient.updateMany({ where: { ...key, disabledAt: null }, data: { secretHash, secretRotatedAt: new Date() } })
      return count === 0 ? null : await db.oauthClient.findUnique({ where: key })
    },

    /** Disables an enabled client: true when this call disabled it. */
    async disable (key: ClientKey): Promise<boolean> {
      const { count } = await db.oauthClient.updateMany({ where: { ...key, disabledAt: null }, data: { disabledAt: new Date() } })
      return count > 0
    }
  }
}

export type OauthClientRepository = ReturnType<typeof createOauthClientRepository>
