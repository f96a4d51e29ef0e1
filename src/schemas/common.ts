import { Type } from 'typebox'

export const FieldErrorSchema = Type.Object({
  field: Type.String(),
  code: Type.String(),
  message: Type.String()
})

/**
 * RFC 9457 problem details, as every error of authd is sent. Routes refer to it through
 * `problemResponses()` (schemas/responses.ts): the openapi plugin adds it once, as `Problem`.
 * No `$id` here: an inline copy with an $id beside the shared one breaks Fastify's HEAD routes.
 */
export const ProblemSchema = Type.Object({
  type: Type.String(),
  title: Type.String(),
  status: Type.Integer(),
  detail: Type.String(),
  code: Type.String(),
  requestId: Type.Optional(Type.String()),
  errors: Type.Optional(Type.Array(FieldErrorSchema))
})

export const Email = Type.String({ format: 'email', minLength: 3, maxLength: 254 })
/** ASCII, no '@' (so a login string is either an email or a username, never both). */
export const Username = Type.String({ pattern: '^[A-Za-z0-9_.-]{3,30}$' })
/** Length policy is applied by the password policy (configurable); this is only a hard cap. */
export const Password = Type.String({ minLength: 1, maxLength: 4096 })
export const IsoDateTime = Type.String({ format: 'date-time' })

/**
 * authd's one id rule, for every id a client sends (path parameters, query filters): a UUID in
 * its canonical 8-4-4-4-12 hex form. Either case is the same UUID (RFC 9562 reads them
 * case-insensitively, and so does PostgreSQL); code that compares ids lower-cases them first.
 * Not Ajv's `format: 'uuid'` alone: it also accepts a `urn:uuid:` prefix, which PostgreSQL's
 * uuid type refuses, so such an id got past the schema and failed in the database as a 500.
 */
export const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
const UUID = new RegExp(UUID_PATTERN)

/** The same rule at run time (token claims, cursors, service arguments). */
export const isUuid = (value: unknown): value is string => typeof value === 'string' && UUID.test(value)

/**
 * The id schema. `format: 'uuid'` stays for the OpenAPI document (client generators type the
 * field as a UUID from it); the pattern is what decides.
 */
export const Uuid = (description?: string) => Type.String({ format: 'uuid', pattern: UUID_PATTERN, ...(description === undefined ? {} : { description }) })

/** The path parameters of a route under `…/{id}`: one id, by the one rule. */
export const IdParams = (description?: string) => Type.Object({ id: Uuid(description) })
