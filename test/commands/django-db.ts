// A Django-shaped SQLite database (the tables Django's auth and django-allauth create, with
// the columns authd reads) for the import tests, filled with hashes Django itself wrote
// (test/fixtures/django-hashes.json). The real Django project: test/django/.
import { readFileSync, writeFileSync } from 'node:fs'
import initSqlJs, { type Database, type SqlValue } from 'sql.js'

interface Vector { hasher: string, password: string, encoded: string }
export const DJANGO_HASHES = JSON.parse(readFileSync(new URL('../fixtures/django-hashes.json', import.meta.url), 'utf8')) as { vectors: Vector[], unusable: string }
/** The first vector of `hasher` (its password is 'correct horse battery staple'). */
export const vector = (hasher: string): Vector => DJANGO_HASHES.vectors.find((v) => v.hasher === hasher)!

export interface DjangoRow {
  id: number
  email?: string
  username?: string
  password: string
  first_name?: string
  last_name?: string
  is_active?: boolean
  is_staff?: boolean
  is_superuser?: boolean
  last_login?: string | null
}

/** A new SQLite file at `file` (sql.js in memory, written to the file after every change). */
export async function createDjangoSqlite (file: string, options: { allauth?: boolean } = {}): Promise<DjangoSqlite> {
  const db = new (await initSqlJs()).Database()
  db.exec(`
    CREATE TABLE auth_user (id integer PRIMARY KEY AUTOINCREMENT, password varchar(128) NOT NULL, last_login datetime NULL,
      is_superuser bool NOT NULL, username varchar(150) NOT NULL UNIQUE, first_name varchar(150) NOT NULL, last_name varchar(150) NOT NULL,
      email varchar(254) NOT NULL, is_staff bool NOT NULL, is_active bool NOT NULL, date_joined datetime NOT NULL);
    CREATE TABLE auth_group (id integer PRIMARY KEY AUTOINCREMENT, name varchar(150) NOT NULL UNIQUE);
    CREATE TABLE auth_user_groups (id integer PRIMARY KEY AUTOINCREMENT, user_id integer NOT NULL, group_id integer NOT NULL);
  `)
  if (options.allauth === true) {
    db.exec('CREATE TABLE account_emailaddress (id integer PRIMARY KEY AUTOINCREMENT, email varchar(254) NOT NULL, verified bool NOT NULL, "primary" bool NOT NULL, user_id integer NOT NULL)')
  }
  return new DjangoSqlite(db, file)
}

export class DjangoSqlite {
  constructor (private readonly db: Database, private readonly file: string) { this.save() }

  /** Any statement (with `?` parameters), then the file is written. */
  run (sql: string, params: SqlValue[] = []): void {
    this.db.run(sql, params)
    this.save()
  }

  addUser (row: DjangoRow): void {
    this.run(`INSERT INTO auth_user (id, password, last_login, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '2024-01-01 00:00:00')`, [
      row.id, row.password, row.last_login ?? null, row.is_superuser === true ? 1 : 0, row.username ?? `user${row.id}`,
      row.first_name ?? '', row.last_name ?? '', row.email ?? '', row.is_staff === true ? 1 : 0, row.is_active === false ? 0 : 1])
  }

  addGroup (userId: number, name: string): void {
    const found = this.db.exec('SELECT id FROM auth_group WHERE name = ?', [name])[0]?.values[0]?.[0]
    if (found === undefined) this.run('INSERT INTO auth_group (name) VALUES (?)', [name])
    const groupId = found ?? this.db.exec('SELECT last_insert_rowid()')[0]!.values[0]![0]!
    this.run('INSERT INTO auth_user_groups (user_id, group_id) VALUES (?, ?)', [userId, groupId])
  }

  addAddress (userId: number, email: string, verified: boolean, primary: boolean): void {
    this.run('INSERT INTO account_emailaddress (email, verified, "primary", user_id) VALUES (?, ?, ?, ?)', [email, verified ? 1 : 0, primary ? 1 : 0, userId])
  }

  update (id: number, fields: Partial<Omit<DjangoRow, 'id'>>): void {
    for (const [column, value] of Object.entries(fields)) {
      this.run(`UPDATE auth_user SET "${column}" = ? WHERE id = ?`, [typeof value === 'boolean' ? (value ? 1 : 0) : value ?? null, id])
    }
  }

  close (): void { this.save(); this.db.close() }

  private save (): void { writeFileSync(this.file, this.db.export()) }
}
