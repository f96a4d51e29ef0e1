// The `passwords` service: the hasher (bcrypt off the event loop) and the password policy,
// each built once from the config and shared by every service that takes a new password
// (register, change, reset) or checks one (login, the re-checks of account-service).
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { AppError, type FieldError } from '../errors.js'
import { createPasswordHasher, hasUsablePassword, unusablePasswordHash, type PasswordHasher } from './password-hasher.js'
import { checkPassword, passwordPolicyFrom, type PasswordPolicy, type UserAttributes } from './password-policy.js'

export interface Passwords {
  hasher: PasswordHasher
  policy: PasswordPolicy
  /** Field errors for a new password under the policy (empty: acceptable). */
  problems: (password: string, field: string, user: UserAttributes) => FieldError[]
  /** Throws 400 validation_failed with every problem of a new password, if it has any. */
  requireAcceptable: (password: string, field: string, user: UserAttributes) => void
  /** Whether a stored hash can match any password (an account made by a provider sign-in has none). */
  hasUsablePassword: (stored: string) => boolean
  /** The hash of an account without a password (`!` + random, as Django marks one). */
  unusableHash: () => string
}

declare module 'fastify' {
  interface FastifyInstance {
    passwords: Passwords
  }
}

export function createPasswords (hasher: PasswordHasher, policy: PasswordPolicy): Passwords {
  const problems = (password: string, field: string, user: UserAttributes): FieldError[] => checkPassword(password, policy, field, user)
  return {
    hasher,
    policy,
    problems,
    hasUsablePassword,
    unusableHash: unusablePasswordHash,
    requireAcceptable (password, field, user) {
      const found = problems(password, field, user)
      if (found.length > 0) throw new AppError('validation_failed', 'The password does not meet the policy', { errors: found })
    }
  }
}

export interface PasswordsPluginOptions {
  /** A hasher of the caller's (tests hold a login at its check); otherwise bcrypt at BCRYPT_COST. */
  hasher?: PasswordHasher
}

async function passwordsPlugin (app: FastifyInstance, options: PasswordsPluginOptions): Promise<void> {
  const hasher = options.hasher ?? createPasswordHasher({ cost: app.config.BCRYPT_COST })
  await hasher.warmUp()
  app.decorate('passwords', createPasswords(hasher, passwordPolicyFrom(app.config)))
}

export default fp(passwordsPlugin, { name: 'passwords', dependencies: ['config'] })
