// Reads a Django project's users from its database, for `authd import django`: PostgreSQL
// through `pg` (already authd's driver under Prisma's adapter, so no new dependency) or a
// SQLite file through sql.js (SQLite compiled to WebAssembly: no native build at install, which
// better-sqlite3 needed — minutes here, and a compiler in the Docker image — for a file read once;
// loaded only when a SQLite source is named). Only SELECTs; the file is read into memory and
// never written.
//
// This is the other system's database, not authd's: it lives in src/db beside the code that opens
// connections, not in src/repositories (which holds authd's own statements). Table and column names come from the operator's options, so
// each is checked against an identifier pattern and quoted before it is put into SQL.

import { readFile } from 'node:fs/promises'

/** One row of the user table, with its groups and its allauth addresses. */
export interface DjangoUser {
  pk: string
  email: string
  username: string
  firstName: string
  lastName: string
  /** As Django stores it: `<algorithm>$…`, or `!…` / empty for an unusable password. */
  password: string
  isActive: boolean
  isStaff: boolean
  isSuperuser: boolean
  lastLogin: Date | null
  groups: string[]
  /** allauth's account_emailaddress rows of this user (empty without allauth). */
  addresses: Array<{ email: string, verified: boolean, primary: boolean }>
}

export interface UserTable {
  /** `auth_user` or a custom user model's table (`accounts_user`). */
  table: string
  /** Which column holds what; an empty name: the table has no such column. */
  columns: { email: string, username: string, firstName: string, lastName: string }
}

export const DEFAULT_USER_TABLE: UserTable = { table: 'auth_user', columns: { email: 'email', username: 'username', firstName: 'first_name', lastName: 'last_name' } }

export interface DjangoSource {
  /** Which database it is, for the summary: `postgresql` or `sqlite`. Never the URL (it may hold a password). */
  kind: 'postgresql' | 'sqlite'
  read: (table: UserTable) => Promise<{ users: DjangoUser[], hasGroups: boolean, hasAllauth: boolean }>
  close: () => Promise<void>
}

export class DjangoSourceError extends Error {}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/
export const isIdentifier = (name: string): boolean => IDENTIFIER.test(name)
const quote = (name: string): string => {
  if (!isIdentifier(name)) throw new DjangoSourceError(`not a table or column name: ${JSON.stringify(name)}`)
  return `"${name}"`
}

type Row = Record<string, unknown>
interface Driver {
  kind: DjangoSource['kind']
  all: (sql: string) => Promise<Row[]>
  columns: (table: string) => Promise<string[]>
  close: () => Promise<void>
}

async function postgresDriver (url: string): Promise<Driver> {
  const { default: pg } = await import('pg')
  const client = new pg.Client({ connectionString: url })
  try {
    await client.connect()
  } catch (error) {
    // The driver's message never holds the URL's password.
    throw new DjangoSourceError(`cannot connect to the Django database: ${(error as Error).message}`)
  }
  return {
    kind: 'postgresql',
    all: async (sql) => (await client.query(sql)).rows as Row[],
    columns: async (table) => (await client.query<{ column_name: string }>(
      'SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1', [table])).rows.map((r) => r.column_name),
    close: async () => { await client.end() }
  }
}

async function sqliteDriver (file: string): Promise<Driver> {
  let bytes: Buffer
  try {
    bytes = await readFile(file)
  } catch (error) {
    throw new DjangoSourceError(`cannot open the SQLite database ${JSON.stringify(file)}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
  }
  const { default: initSqlJs } = await import('sql.js')
  const SQL = await initSqlJs()
  const db = new SQL.Database(bytes)
  const all = (sql: string): Row[] => {
    const statement = db.prepare(sql)
    try {
      const rows: Row[] = []
      while (statement.step()) rows.push(statement.getAsObject() as Row)
      return rows
    } finally {
      statement.free()
    }
  }
  try {
    // sql.js reads any bytes; the first query tells a SQLite file from something else.
    all('SELECT name FROM sqlite_master LIMIT 1')
  } catch (error) {
    db.close()
    throw new DjangoSourceError(`cannot open the SQLite database ${JSON.stringify(file)}: ${(error as Error).message}`)
  }
  return {
    kind: 'sqlite',
    all: async (sql) => all(sql),
    columns: async (table) => all(`PRAGMA table_info(${quote(table)})`).map((r) => String(r.name)),
    close: async () => { db.close() }
  }
}

const text = (value: unknown): string => typeof value === 'string' ? value : value == null ? '' : String(value)
// SQLite stores booleans as 0/1, PostgreSQL as booleans.
const flag = (value: unknown): boolean => value === true || value === 1 || value === '1' || value === 't'
const date = (value: unknown): Date | null => {
  if (value == null || value === '') return null
  const d = value instanceof Date ? value : new Date(String(value).replace(' ', 'T'))
  return Number.isNaN(d.getTime()) ? null : d
}

/** Opens `from`: a postgres:// or postgresql:// URL, else the path of a SQLite file. */
export async function openDjangoSource (from: string): Promise<DjangoSource> {
  const driver = /^postgres(ql)?:\/\//.test(from) ? await postgresDriver(from) : await sqliteDriver(from)
  return {
    kind: driver.kind,
    close: driver.close,
    async read ({ table, columns }) {
      const present = new Set(await driver.columns(table))
      if (present.size === 0) throw new DjangoSourceError(`no table ${JSON.stringify(table)} in the Django database (a custom user model? name it with --user-table)`)
      for (const required of ['id', 'password']) {
        if (!present.has(required)) throw new DjangoSourceError(`the table ${table} has no ${required} column`)
      }
      const pick = (column: string, as: string, fallback: string): string => column !== '' && present.has(column) ? `${quote(column)} AS ${as}` : `${fallback} AS ${as}`
      for (const [what, column] of Object.entries(columns)) {
        if (column !== '' && !present.has(column)) throw new DjangoSourceError(`the table ${table} has no column ${JSON.stringify(column)} (given for ${what})`)
      }
      const rows = await driver.all(`SELECT "id" AS pk, "password" AS password, ${[
        pick(columns.email, 'email', "''"),
        pick(columns.username, 'username', "''"),
        pick(columns.firstName, 'first_name', "''"),
        pick(columns.lastName, 'last_name', "''"),
        pick('is_active', 'is_active', '1 = 1'),
        pick('is_staff', 'is_staff', '1 = 0'),
        pick('is_superuser', 'is_superuser', '1 = 0'),
        pick('last_login', 'last_login', 'NULL')
      ].join(', ')} FROM ${quote(table)} ORDER BY "id"`)
      const users = new Map<string, DjangoUser>(rows.map((r) => [text(r.pk), {
        pk: text(r.pk),
        email: text(r.email).trim(),
        username: text(r.username),
        firstName: text(r.first_name),
        lastName: text(r.last_name),
        password: text(r.password),
        isActive: flag(r.is_active),
        isStaff: flag(r.is_staff),
        isSuperuser: flag(r.is_superuser),
        lastLogin: date(r.last_login),
        groups: [],
        addresses: []
      }]))

      // Django's many-to-many table of the user model's `groups`: <user table>_groups(<model>_id, group_id).
      const groupsTable = `${table}_groups`
      const groupColumns = await driver.columns(groupsTable)
      const userColumn = groupColumns.find((c) => c.endsWith('_id') && c !== 'group_id')
      const hasGroups = userColumn !== undefined && groupColumns.includes('group_id') && (await driver.columns('auth_group')).includes('name')
      if (hasGroups) {
        for (const r of await driver.all(`SELECT m.${quote(userColumn)} AS pk, g."name" AS name FROM ${quote(groupsTable)} m JOIN "auth_group" g ON g."id" = m."group_id" ORDER BY g."name"`)) {
          users.get(text(r.pk))?.groups.push(text(r.name))
        }
      }

      // django-allauth's addresses: which are verified, which is primary.
      const allauth = await driver.columns('account_emailaddress')
      const hasAllauth = ['user_id', 'email', 'verified', 'primary'].every((c) => allauth.includes(c))
      if (hasAllauth) {
        for (const r of await driver.all('SELECT "user_id" AS pk, "email" AS email, "verified" AS verified, "primary" AS is_primary FROM "account_emailaddress" ORDER BY "id"')) {
          users.get(text(r.pk))?.addresses.push({ email: text(r.email).trim(), verified: flag(r.verified), primary: flag(r.is_primary) })
        }
      }
      return { users: [...users.values()], hasGroups, hasAllauth }
    }
  }
}
