// PostgreSQL text cannot hold U+0000: a JSON string with "\u0000" in it would reach the database
// and fail there as a 500. JSON Schema has no portable "no NUL" keyword for every string field,
// so one preValidation hook refuses such bodies and query strings for every route, with a field
// error naming where the character is.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { AppError, type FieldError } from '../errors.js'

const MAX_REPORTED = 10

/**
 * Paths (dotted, [i] for array items) of strings or keys that hold U+0000. Iterative, not
 * recursive: a body of thousands of nested arrays fits in BODY_LIMIT and must not overflow the stack.
 */
function nulPaths (root: unknown, found: string[]): void {
  const stack: Array<[unknown, string]> = [[root, '']]
  while (stack.length > 0 && found.length < MAX_REPORTED) {
    const [value, path] = stack.pop() as [unknown, string]
    if (typeof value === 'string') {
      if (value.includes('\u0000')) found.push(path === '' ? 'body' : path)
    } else if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push([value[i], `${path}[${i}]`])
    } else if (value !== null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value).reverse()) {
        const child = path === '' ? key : `${path}.${key}`
        if (key.includes('\u0000')) found.push(child.replaceAll('\u0000', '\\u0000'))
        else stack.push([item, child])
      }
    }
  }
}

async function nulGuard (app: FastifyInstance): Promise<void> {
  app.addHook('preValidation', async (request: FastifyRequest) => {
    const found: string[] = []
    nulPaths(request.body, found)
    nulPaths(request.query, found)
    if (found.length === 0) return
    const errors: FieldError[] = found.map((field) => ({ field, code: 'invalid_character', message: 'must not contain the NUL character (U+0000)' }))
    throw new AppError('validation_failed', 'Text must not contain the NUL character (U+0000)', { errors })
  })
}

export default fp(nulGuard, { name: 'nul-guard', dependencies: ['error-handler'] })
