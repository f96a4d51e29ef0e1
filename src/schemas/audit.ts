// Security events as they leave authd: GET /v1/users/me/events (the caller's own) and
// GET /v1/admin/events (everyone's, with who it was about and who did it).
import { Type, type Static } from 'typebox'
import { AUDIT_EVENT_TYPES, type AuditEvent } from '../repositories/audit-events.js'
import { PageLimit } from './admin.js'
import { IsoDateTime, Uuid } from './common.js'

export const EventSchema = Type.Object({
  id: Type.String(),
  type: Type.String(),
  createdAt: IsoDateTime,
  ip: Type.Union([Type.String(), Type.Null()]),
  userAgent: Type.Union([Type.String(), Type.Null()]),
  /** Small non-secret facts (session id, changed fields); never a password, token or hash. */
  detail: Type.Object({}, { additionalProperties: true })
})
export type PublicEvent = Static<typeof EventSchema>

export const AdminEventSchema = Type.Object({
  ...EventSchema.properties,
  /** Whose account the event is about (null: a failed login with an unknown name). */
  userId: Type.Union([Type.String(), Type.Null()]),
  /** Who did it when not the user themselves (an admin). */
  actorId: Type.Union([Type.String(), Type.Null()])
})
export type AdminEvent = Static<typeof AdminEventSchema>

/** Event ids are decimal (a bigint sequence); the cursor is the last id of the previous page. */
const EventCursor = Type.String({ pattern: '^[0-9]{1,18}$', description: "The previous page's nextCursor." })

export const EventListQuery = Type.Object({
  limit: Type.Optional(PageLimit),
  cursor: Type.Optional(EventCursor)
}, { additionalProperties: false })

export const AdminEventListQuery = Type.Object({
  userId: Type.Optional(Uuid('Only this user\'s events.')),
  type: Type.Optional(Type.Enum([...AUDIT_EVENT_TYPES])),
  limit: Type.Optional(PageLimit),
  cursor: Type.Optional(EventCursor)
}, { additionalProperties: false })

const EXAMPLE_EVENT = {
  id: '1042',
  type: 'password_changed',
  createdAt: '2026-11-25T14:02:11.208Z',
  ip: '203.0.113.7',
  userAgent: 'Mozilla/5.0 (X11; Linux x86_64)',
  detail: { sessionId: '0b6f5d1c-27f4-4d0e-9a0e-3c2f1b9d8e7a', sessionsRevoked: 2 }
}
const EXAMPLE_ADMIN_EVENT = {
  id: '1043',
  type: 'admin_user_updated',
  createdAt: '2026-11-25T14:05:40.017Z',
  ip: '198.51.100.4',
  userAgent: 'Mozilla/5.0 (Macintosh)',
  detail: { changed: ['roles'], oldIsActive: true, newIsActive: true, oldRoles: [], newRoles: ['support'], sessionsRevoked: 0 },
  userId: 'bca7ec7f-5c7a-4de9-b0a0-68f952b9bec1',
  actorId: '5e2d8c1a-7b3f-4e6d-9a1c-2f4b6d8e0a13'
}

export const EventList = Type.Object(
  { events: Type.Array(EventSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) },
  { examples: [{ events: [EXAMPLE_EVENT], nextCursor: '1042' }] }
)
export const AdminEventList = Type.Object(
  { events: Type.Array(AdminEventSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) },
  { examples: [{ events: [EXAMPLE_ADMIN_EVENT], nextCursor: null }] }
)

const detailOf = (detail: unknown): Record<string, unknown> =>
  typeof detail === 'object' && detail !== null && !Array.isArray(detail) ? detail as Record<string, unknown> : {}

export function toPublicEvent (event: AuditEvent): PublicEvent {
  return { id: event.id, type: event.type, createdAt: event.createdAt.toISOString(), ip: event.ip, userAgent: event.userAgent, detail: detailOf(event.detail) }
}

export function toAdminEvent (event: AuditEvent): AdminEvent {
  return { ...toPublicEvent(event), userId: event.userId, actorId: event.actorId }
}
