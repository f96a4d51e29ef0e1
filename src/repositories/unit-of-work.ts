// The one way services reach the database: repositories, either each statement on its own
// (`repos`) or all bound to one transaction (`transaction`), GoTrue's "same connection or
// transaction" rule. Which statements are Prisma and which prepared SQL: src/db/sql.ts.
import type { Database } from '../db/database.js'
import { sqlOverPrisma, type SqlClient } from '../db/sql.js'
import { createAdminUserRepository } from './admin-users.js'
import { createAuditRepository } from './audit-events.js'
import { createEmailCodeRepository } from './email-codes.js'
import { createHousekeepingRepository } from './housekeeping.js'
import { createIdentityRepository } from './identities.js'
import { createImportedUserRepository } from './imported-users.js'
import { createLoginFailureRepository } from './login-failures.js'
import { createMfaRepository } from './mfa.js'
import { createOneTimeTokenRepository } from './one-time-tokens.js'
import { createOauthClientRepository } from './oauth-clients.js'
import { createPasskeyRepository } from './passkeys.js'
import { createSessionRepository } from './sessions.js'
import { createTokenRotationRepository } from './token-rotation.js'
import { createUserRepository, type Db } from './users.js'

/** Every repository, bound to one client: the pool, or one transaction. */
export function createRepositories (db: Db, sql: SqlClient) {
  return {
    users: createUserRepository(db, sql),
    sessions: createSessionRepository(db),
    rotation: createTokenRotationRepository(sql),
    audit: createAuditRepository(db),
    loginFailures: createLoginFailureRepository(db),
    oneTimeTokens: createOneTimeTokenRepository(db),
    adminUsers: createAdminUserRepository(db),
    housekeeping: createHousekeepingRepository(db),
    mfa: createMfaRepository(db),
    passkeys: createPasskeyRepository(db),
    emailCodes: createEmailCodeRepository(db),
    identities: createIdentityRepository(db),
    oauthClients: createOauthClientRepository(db),
    importedUsers: createImportedUserRepository(db)
  }
}

export type Repositories = ReturnType<typeof createRepositories>

export interface UnitOfWork {
  /**
   * Each statement on its own (autocommit); the hot-path statements prepared on the pool's
   * connections. For reads, and for writes that are one statement (atomic by themselves).
   */
  repos: Repositories
  /**
   * Runs `work` in one transaction: every repository it is handed, the prepared-statement
   * ones included, runs on that transaction's connection. Commits when `work` resolves, rolls
   * back when it throws (and rethrows).
   */
  transaction: <T>(work: (repos: Repositories) => Promise<T>) => Promise<T>
}

export function createUnitOfWork (database: Pick<Database, 'prisma' | 'sql'>): UnitOfWork {
  return {
    repos: createRepositories(database.prisma, database.sql),
    transaction: async (work) => await database.prisma.$transaction(async (tx) => await work(createRepositories(tx, sqlOverPrisma(tx))))
  }
}
