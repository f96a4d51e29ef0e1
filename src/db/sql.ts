// Plain SQL through the driver, for the few statements on the hot paths (the live-session
// check behind every authenticated request, and refresh-token rotation). Everything else goes
// through Prisma. Why not Prisma here: measured on this project's machine (one connection,
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
