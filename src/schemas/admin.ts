// Requests and replies of the admin API (/v1/admin/*).
import { Type, type Static } from 'typebox'
import { IdParams } from './common.js'
import { EXAMPLE_USER } from './examples.js'
import { UserSchema } from './user.js'

/**
 * A page size in a query string. Query values arrive as strings and authd never coerces
 * types, so the range 1–200 is spelled as a pattern.
 */
export const PageLimit = Type.String({ pattern: '^(?:[1-9][0-9]?|1[0-9]{2}|200)$', description: 'Page size, 1–200 (default 50).' })
export const DEFAULT_PAGE_LIMIT = 50

/** An opaque cursor: the previous page's `nextCursor`, passed back unchanged. */
export const Cursor = Type.String({ minLength: 1, maxLength: 200, description: "The previous page's nextCursor." })

export const AdminUserListQuery = Type.Object({
  // No NUL: PostgreSQL text cannot hold one, and the query would fail instead of finding nothing.
  q: Type.Optional(Type.String({ maxLength: 254, pattern: '^[^\\u0000]*$', description: 'Case-insensitive substring of email, username or full name.' })),
  limit: Type.Optional(PageLimit),
  cursor: Type.Optional(Cursor)
}, { additionalProperties: false })
export type AdminUserListQueryType = Static<typeof AdminUserListQuery>

export const AdminUserList = Type.Object({
  users: Type.Array(UserSchema),
  /** null on the last page. */
  nextCursor: Type.Union([Type.String(), Type.Null()])
}, { examples: [{ users: [{ ...EXAMPLE_USER, roles: ['admin'] }], nextCursor: 'MjAyNi0xMS0yNVQxMzowNzoyNS4zODFafGJjYTdlYzdmLTVjN2EtNGRlOS1iMGEwLTY4Zjk1MmI5YmVjMQ' }] })

export const AdminUserParams = IdParams('The user id.')

/** A role name: lower-case, starts with a letter, e.g. `admin`, `billing:read`. */
export const RoleName = Type.String({ pattern: '^[a-z][a-z0-9_:-]{0,63}$' })
export const Roles = Type.Array(RoleName, { maxItems: 32, uniqueItems: true })

/** What an admin may change about a user. Anything else (email, password…) is rejected. */
export const AdminUserPatchBody = Type.Object({
  isActive: Type.Optional(Type.Boolean()),
  roles: Type.Optional(Roles)
}, { additionalProperties: false, examples: [{ roles: ['support', 'billing:read'] }, { isActive: false }] })
export type AdminUserPatch = Static<typeof AdminUserPatchBody>
