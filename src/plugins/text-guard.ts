// Text that the database cannot store is refused up front, for every route, with a field error
// naming where it is, instead of failing in the database as a 500:
// - U+0000: PostgreSQL text cannot hold it.
// - a lone UTF-16 surrogate ("\ud800" in a JSON string, valid JSON but not Unicode): Prisma's
//   query engine refuses the whole query ("lone leading surrogate in hex escape"), and it has no
//   UTF-8 form to store anyway.
// JSON Schema has no portable keyword for either on every string field, so one preValidation
// hook checks every string and object key of the body and the query string.
//
// Path parameters and headers need no check here: every path parameter of authd is an id whose
// schema (schemas/common.ts, Uuid) admits neither character, a percent-encoded surrogate is not
// valid UTF-8 and is refused as a bad URL before routing, and header values arrive as latin1
// (no surrogates) from a parser that refuses NUL (test/fuzz/http.test.ts sends one in User-Agent).
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { AppError, type FieldError } from '../errors.js'

const MAX_REPORTED = 10

type Flaw = 'nul' | 'surrogate'

const MESSAGES: Record<Flaw, string> = {
  nul: 'must not contain the NUL character (U+0000)',
  surrogate: 'must be valid Unicode (contains a lone UTF-16 surrogate)'
}
const DETAILS: Record<Flaw, string> = {
  nul: 'Text must not contain the NUL character (U+0000)',
  surrogate: 'Text must be valid Unicode: a lone UTF-16 surrogate (e.g. "\\ud800") is not a character'
}

// String.prototype.isWellFormed is in Node 20 (V8 11.3) but in TypeScript's ES2024 lib, and this
// project compiles against ES2023.
const isWellFormed = (text: string): boolean => (text as unknown as { isWellFormed: () => boolean }).isWellFormed()

function flawOf (text: string): Flaw | null {
  if (text.includes('\u0000')) return 'nul'
  if (!isWellFormed(text)) return 'surrogate'
  return null
}

/** A key as it can be shown in a field path: the offending characters written as escapes. */
const printable = (key: string): string =>
  // NUL is exactly what this escapes: a control character in the pattern is the point.
  // eslint-disable-next-line no-control-regex
  key.replace(/\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)

interface Found { field: string, flaw: Flaw }

/**
 * Paths (dotted, [i] for array items) of strings or keys that the database cannot store.
 * Iterative, not recursive: a body of thousands of nested arrays fits in BODY_LIMIT and must not
 * overflow the stack.
 */
function findFlaws (root: unknown, found: Found[]): void {
  const stack: Array<[unknown, string]> = [[root, '']]
  while (stack.length > 0 && found.length < MAX_REPORTED) {
    const [value, path] = stack.pop() as [unknown, string]
    if (typeof value === 'string') {
      const flaw = flawOf(value)
      if (flaw !== null) found.push({ field: path === '' ? 'body' : path, flaw })
    } else if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push([value[i], `${path}[${i}]`])
    } else if (value !== null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value).reverse()) {
        const flaw = flawOf(key)
        if (flaw !== null) found.push({ field: printable(path === '' ? key : `${path}.${key}`), flaw })
        else stack.push([item, path === '' ? key : `${path}.${key}`])
      }
    }
  }
}

async function textGuard (app: FastifyInstance): Promise<void> {
  app.addHook('preValidation', async (request: FastifyRequest) => {
    const found: Found[] = []
    findFlaws(request.body, found)
    findFlaws(request.query, found)
    if (found.length === 0) return
    const errors: FieldError[] = found.map(({ field, flaw }) => ({ field, code: 'invalid_character', message: MESSAGES[flaw] }))
    const flaws = [...new Set(found.map(({ flaw }) => flaw))]
    throw new AppError('validation_failed', flaws.map((flaw) => DETAILS[flaw]).join('; '), { errors })
  })
}

export default fp(textGuard, { name: 'text-guard', dependencies: ['error-handler'] })
