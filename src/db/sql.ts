// THE RULE for how authd reaches its database (stated here once; src/repositories/README.md
// and docs/architecture.md point here). Every statement lives in src/repositories/. Most go
// through Prisma (model calls, and Prisma.sql for the statements a model call cannot say in
// one round trip). The few on the hot paths — the live-session read behind every
// authenticated request (users.findLive) and refresh-token rotation (token-rotation.ts) — are
// `Statement`s run by a SqlClient: plain SQL through the driver, prepared where possible.
// Inside a unit of work (src/repositories/unit-of-work.ts) those same statements run on the
// transaction's connection (sqlOverPrisma below), so a transaction never loses a statement
// to another connection. Everything else goes through Prisma. Why not Prisma here: measured on this project's machine (one connection,
// sequential, a one-row read by primary key with an EXISTS on the session), Prisma 6.19's
// client spends ~1.4 ms of main-thread CPU per query (its WebAssembly query compiler and
// result shaping) where pg with a prepared statement spends ~0.08 ms; on /users/me that was
// more than half of the whole request. Prisma has no prepared-statement or plan cache in 6.x.
//
// Which statements are prepared: these hot-path ones, as named statements that PostgreSQL
// parses and plans once per connection — when not pooled. Behind a transaction-mode pooler
// (`?pgbouncer=true`, src/db/connection-url.ts) a client's next statement may run on another
// server connection, where its name is unknown ("does not exist"), or where another client
// already parsed it ("already exists"); so there they go unnamed (parsed on every run, still
// one round trip and still without Prisma's cost). Prisma never names statements
// (@prisma/adapter-pg sends `{ text, values }`), so it needs no switch.
import type { PGlite } from '@electric-sql/pglite'
import type pg from 'pg'
import type { Prisma, PrismaClient } from '../generated/prisma/client.js'

/** One SQL statement with $1…$n placeholders; `name` identifies its prepared form. */
export interface Statement {
  /** Unique per distinct `text`: PostgreSQL parses and plans a named statement once per connection (not sent when pooled). */
  name: string
  text: string
}

export interface SqlClient {
  /** Runs one statement outside any transaction (each statement is atomic on its own). */
  query: <Row>(statement: Statement, values: readonly unknown[]) => Promise<Row[]>
}

/** `pooled`: a transaction-mode pooler is in the way (`?pgbouncer=true`); statements go unnamed. */
export function pgSqlClient (pool: pg.Pool, options: { pooled: boolean }): SqlClient {
  if (options.pooled) {
    return {
      query: async <Row>(statement: Statement, values: readonly unknown[]) =>
        (await pool.query({ text: statement.text, values: [...values] })).rows as Row[]
    }
  }
  return {
    query: async <Row>(statement: Statement, values: readonly unknown[]) =>
      (await pool.query({ name: statement.name, text: statement.text, values: [...values] })).rows as Row[]
  }
}

/**
 * PGlite runs one statement at a time on its single connection, and waits for an open
 * transaction (Prisma's interactive ones included) to end first, so a statement here never
 * lands inside someone else's transaction.
 */
export function pgliteSqlClient (pglite: PGlite): SqlClient {
  return {
    query: async <Row>(statement: Statement, values: readonly unknown[]) =>
      (await pglite.query<Row>(statement.text, [...values])).rows
  }
}

/**
 * The statements through a Prisma client or, the point of it, a Prisma interactive
 * transaction: they then run on that transaction's connection, inside it (unnamed, as Prisma
 * sends every statement). This is how the hot-path statements join a unit of work.
 */
export function sqlOverPrisma (db: PrismaClient | Prisma.TransactionClient): SqlClient {
  return {
    query: async <Row>(statement: Statement, values: readonly unknown[]) =>
      await db.$queryRawUnsafe<Row[]>(statement.text, ...values)
  }
}
