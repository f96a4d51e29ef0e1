import { Type, type Static } from 'typebox'
import { IsoDateTime } from './common.js'

/** One login as its owner sees it; token ids and revocation details stay internal. */
export const SessionSchema = Type.Object({
  id: Type.String(),
  createdAt: IsoDateTime,
  lastUsedAt: IsoDateTime,
  userAgent: Type.Union([Type.String(), Type.Null()]),
  ip: Type.Union([Type.String(), Type.Null()]),
  /** This is the session of the access token that asked. */
  current: Type.Boolean()
})
export type PublicSession = Static<typeof SessionSchema>

export const SessionList = Type.Array(SessionSchema)

export const SessionParams = Type.Object({ id: Type.String({ format: 'uuid' }) })

export function toPublicSession (session: { id: string, createdAt: Date, lastUsedAt: Date, userAgent: string | null, ip: string | null }, currentSessionId: string): PublicSession {
  return {
    id: session.id,
    createdAt: session.createdAt.toISOString(),
    lastUsedAt: session.lastUsedAt.toISOString(),
    userAgent: session.userAgent,
    ip: session.ip,
    current: session.id === currentSessionId
  }
}
