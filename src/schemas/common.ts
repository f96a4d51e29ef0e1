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
