import { Type, type Static } from 'typebox'
import { IdParams, IsoDateTime } from './common.js'
import { EXAMPLE_SESSION } from './examples.js'

/** One login as its owner sees it; token ids and revocation details stay internal. */
export const SessionSchema = Type.Object({
  id: Type.String(),
  createdAt: IsoDateTime,
  lastUsedAt: IsoDateTime,
  userAgent: Type.Union([Type.String(), Type.Null()]),
  ip: Type.Union([Type.String(), Type.Null()]),
  /** This is the session of the access token that asked. */
  current: Type.Boolean()
}, { examples: [EXAMPLE_SESSION] })
export type PublicSession = Static<typeof SessionSchema>

export const SessionList = Type.Array(SessionSchema, { examples: [[EXAMPLE_SESSION, { ...EXAMPLE_SESSION, id: '9e2d4c61-5b7a-4f3e-8c1d-0a6b2e9f7d35', current: false, userAgent: 'authd-cli/1.0', ip: '198.51.100.23' }]] })

export const SessionParams = IdParams('The session id (from GET /v1/sessions).')

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
