// The security-event trail (issue 5): who did what to which account, from where.
// Writers call record(); it takes a transaction client too, so an event lands together with
// the change it describes (or not at all).
import type { Prisma } from '../generated/prisma/client.js'
import type { Db } from './users.js'

/** Every event type authd records. Names are stable: dashboards and alerts match on them. */
export const AUDIT_EVENT_TYPES = [
  'login_succeeded',
  'login_failed',
  'account_locked',
  'user_registered',
  'refresh_reuse_detected',
  'session_expired',
  'password_check_failed',
  'logged_out',
  'session_revoked',
  'sessions_revoked_all',
  'password_changed',
  'password_reset_requested',
  'password_reset',
  'email_verification_sent',
  'email_verified',
  'account_deleted',
  'admin_user_updated',
  'admin_sessions_revoked',
  'mfa_enabled',
  'mfa_disabled',
  'mfa_challenged',
  'mfa_succeeded',
  'mfa_failed',
  'recovery_code_used',
  'recovery_codes_regenerated',
  'reauthenticated',
  'admin_mfa_reset',
  'passkey_added',
  'passkey_removed',
  'passkey_used',
  'login_code_requested',
  'email_change_requested',
  'email_changed',
  'provider_login',
  'provider_login_failed',
  'identity_linked',
  'identity_unlinked',
  'client_created',
  'client_secret_rotated',
  'client_disabled',
  'client_token_issued',
  'client_auth_failed',
  'users_imported'
] as const

export type AuditEventType = typeof AUDIT_EVENT_TYPES[number]

export interface AuditEventInput {
  type: AuditEventType
  userId?: string | null
  actorId?: string | null
  ip?: string | null
  userAgent?: string | null
  /** Non-secret facts only: never a password, token or hash. */
  detail?: Record<string, string | number | boolean | null | string[]>
}

export interface AuditEvent {
  id: string
  type: string
  userId: string | null
  actorId: string | null
  ip: string | null
  userAgent: string | null
  detail: unknown
  createdAt: Date
}

export interface AuditQuery {
  userId?: string
  type?: string
  /** Return events older than this id (the previous page's nextCursor). */
  before?: string
  limit: number
}

export function createAuditRepository (db: Db) {
  return {
    async record (event: AuditEventInput): Promise<void> {
      await db.auditEvent.create({
        data: {
          type: event.type,
          userId: event.userId ?? null,
          actorId: event.actorId ?? null,
          ip: event.ip ?? null,
          userAgent: event.userAgent ?? null,
          detail: (event.detail ?? {}) as Prisma.InputJsonObject
        }
      })
    },

    /** Newest first, keyset-paginated by id (stable while new events arrive). */
    async list (query: AuditQuery): Promise<{ events: AuditEvent[], nextCursor: string | null }> {
      const where: Prisma.AuditEventWhereInput = {}
      if (query.userId !== undefined) where.userId = query.userId
      if (query.type !== undefined) where.type = query.type
      if (query.before !== undefined) where.id = { lt: BigInt(query.before) }
      const rows = await db.auditEvent.findMany({ where, orderBy: { id: 'desc' }, take: query.limit + 1 })
      const page = rows.slice(0, query.limit)
      return {
        events: page.map((row) => ({ ...row, id: row.id.toString() })),
        nextCursor: rows.length > query.limit ? (page.at(-1)?.id.toString() ?? null) : null
      }
    }
  }
}

export type AuditRepository = ReturnType<typeof createAuditRepository>
