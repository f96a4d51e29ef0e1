// Where a request came from, as sessions and the audit trail record it: one definition, so
// every event and session stores the same fields, cut the same way.
import type { FastifyRequest } from 'fastify'

export interface ClientMeta { userAgent: string | null, ip: string | null }

/** Who acted, when not the user themselves (an admin), from which session and where. */
export interface Actor extends ClientMeta { id: string, sessionId: string }

/** A User-Agent longer than this is cut: it is a label for people, not data. */
export const USER_AGENT_MAX = 512

/** The request's client: its IP (as TRUST_PROXY resolves it) and User-Agent. */
export function clientMeta (request: Pick<FastifyRequest, 'headers' | 'ip'>): ClientMeta {
  return { userAgent: request.headers['user-agent']?.slice(0, USER_AGENT_MAX) ?? null, ip: request.ip }
}

/** The signed-in caller as the actor of what they do to someone else's account. */
export function actorOf (request: FastifyRequest): Actor {
  return { id: request.currentUser.id, sessionId: request.auth.sid, ...clientMeta(request) }
}
