// Plain SQL through the driver, for the few statements on the hot paths (the live-session
// check behind every authenticated request, and refresh-token rotation). Everything else goes
// through Prisma. Why not Prisma here: measured on this project's machine (one connection,
// sequential, a one-row read by primary key with an EXISTS on the session), Prisma 6.19's
// client spends ~1.4 ms of main-thread CPU per query (its WebAssembly query compiler and
// result shaping) where pg with a prepared statement spends ~0.08 ms; on /users/me that was
// more than half of the whole request. Prisma has no prepared-statement or plan cache in 6.x.
import type { PGlite } from '@electric-sql/pglite'
import type pg from 'pg'

/** One SQL statement with $1…$n placeholders; `name` identifies its prepared form. */
export interface Statement {
  /** Unique per distinct `text`: PostgreSQL parses and plans a named statement once per connection. */
  name: string
  text: string
}

export interface SqlClient {
  /** Runs one statement outside any transaction (each statement is atomic on its own). */
  query: <Row>(statement: Statement, values: readonly unknown[]) => Promise<Row[]>
}

export function pgSqlClient (pool: pg.Pool): SqlClient {
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
