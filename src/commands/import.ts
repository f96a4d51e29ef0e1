// `authd import django`: a Django project's users, groups and verified addresses into authd
// (services/django-import.ts decides, db/django-source.ts reads Django's database).
import { openDatabase } from '../db/database.js'
import { createUnitOfWork } from '../repositories/unit-of-work.js'
import { RoleName } from '../schemas/admin.js'
import { DEFAULT_IMPORT_OPTIONS, importDjangoUsers, SKIP_REASONS, type ImportSummary } from '../services/django-import.js'
import { DEFAULT_USER_TABLE, DjangoSourceError, isIdentifier, openDjangoSource, type UserTable } from '../db/django-source.js'
import { Value } from 'typebox/value'
import { parseOptions, type Command, type CommandContext } from './command.js'

const HELP = `Usage: authd import django --from SOURCE [options]

Brings a Django project's users into authd; they log in with the passwords they have.
SOURCE is the Django database: a postgres:// or postgresql:// URL, or the path of a SQLite file.

Reads auth_user (or --user-table), its groups (auth_group) and, when the project uses
django-allauth, account_emailaddress (a verified primary address is imported as verified).
Django's password hashes are kept (pbkdf2_sha256, pbkdf2_sha1, argon2, bcrypt_sha256, bcrypt,
scrypt) and replaced by authd's format at each user's first login. An unusable password
(Django's "!…", or md5/sha1/crypt hashes) makes an account without a password: the user
resets it, or signs in with a provider.

Re-running is safe: accounts are found again by their Django id and updated, never duplicated.
Skipped, with the reason counted: no email, an invalid email, a duplicate email (any case: the
active, verified, most recently seen user keeps it), inactive (not imported; an already imported
account is deactivated, and only an admin re-activates it), email_in_authd (an authd account not made by this import has it).

Options:
  --from SOURCE              the Django database (required)
  --user-table TABLE         a custom user model's table (default auth_user)
  --email-column NAME        (default email)
  --username-column NAME     (default username; "" for none)
  --first-name-column NAME   (default first_name; "" for none)
  --last-name-column NAME    (default last_name; "" for none)
  --id-prefix NAME           accounts are known as NAME:<Django id> (default django); give each
                             Django project its own when several are imported into one authd
  --superuser-role ROLE      role of is_superuser users (default admin; "" for none)
  --staff-role ROLE          role of is_staff users (default admin; "" for none)
  --no-groups                do not turn Django groups into roles
  --trust-emails             count every imported address as verified
  --batch-size N             users per transaction (default 500)
  --dry-run                  print what would change; write nothing
  --help                     show this text

With the embedded PGlite database, run it only while authd is stopped; with PostgreSQL, any time.

Exit codes: 0 done, 1 the source cannot be read, 2 bad usage.`

const OPTIONS = {
  from: { type: 'string' },
  'user-table': { type: 'string' },
  'email-column': { type: 'string' },
  'username-column': { type: 'string' },
  'first-name-column': { type: 'string' },
  'last-name-column': { type: 'string' },
  'id-prefix': { type: 'string' },
  'superuser-role': { type: 'string' },
  'staff-role': { type: 'string' },
  'no-groups': { type: 'boolean' },
  'trust-emails': { type: 'boolean' },
  'batch-size': { type: 'string' },
  'dry-run': { type: 'boolean' }
} as const

function usageError (context: CommandContext, message: string): number {
  context.err(`${message}\nRun \`authd import --help\` for the usage.`)
  return 2
}

const BAR = 30

function describe (summary: ImportSummary, dryRun: boolean): string {
  const skipped = SKIP_REASONS.filter((r) => summary.skipped[r] > 0).map((r) => `${r} ${summary.skipped[r]}`)
  const total = SKIP_REASONS.reduce((n, r) => n + summary.skipped[r], 0)
  const lines = [
    `${dryRun ? 'dry run (nothing written): ' : ''}${summary.read} Django users read`,
    `  imported: ${summary.created}`,
    `  updated:  ${summary.updated}`,
    `  unchanged: ${summary.unchanged}`,
    `  skipped:  ${total}${skipped.length > 0 ? ` (${skipped.join(', ')})` : ''}`
  ]
  if (summary.withoutPassword > 0) lines.push(`  without a password: ${summary.withoutPassword}${Object.keys(summary.unsupportedHashers).length > 0 ? ` (hashers authd cannot check: ${Object.entries(summary.unsupportedHashers).map(([h, n]) => `${h} ${n}`).join(', ')})` : ''}`)
  if (summary.usernamesDropped > 0) lines.push(`  usernames not kept (not 3-30 of A-Z a-z 0-9 _ . -, or taken): ${summary.usernamesDropped}`)
  if (summary.groupsDropped.length > 0) lines.push(`  groups that make no role name: ${summary.groupsDropped.map((g) => JSON.stringify(g)).join(', ')}`)
  return lines.join('\n')
}

export const importCommand: Command = {
  name: 'import',
  summary: 'import django --from URL|FILE [--dry-run] [--user-table T]…\n            bring a Django project\'s users in, with their passwords',
  async run (args, context) {
    const parsed = parseOptions(args, OPTIONS, HELP, context, true)
    if ('exit' in parsed) return parsed.exit
    const { values, positionals } = parsed
    if (positionals.length === 0) return usageError(context, 'Say what to import from: authd import django --from …')
    if (positionals[0] !== 'django' || positionals.length > 1) return usageError(context, `Unknown source: ${JSON.stringify(positionals.join(' '))} (authd can import from django)`)
    const from = values.from as string | undefined
    if (from === undefined || from === '') return usageError(context, '--from is required: the Django database URL or SQLite file')

    const table: UserTable = {
      table: (values['user-table'] as string | undefined) ?? DEFAULT_USER_TABLE.table,
      columns: {
        email: (values['email-column'] as string | undefined) ?? DEFAULT_USER_TABLE.columns.email,
        username: (values['username-column'] as string | undefined) ?? DEFAULT_USER_TABLE.columns.username,
        firstName: (values['first-name-column'] as string | undefined) ?? DEFAULT_USER_TABLE.columns.firstName,
        lastName: (values['last-name-column'] as string | undefined) ?? DEFAULT_USER_TABLE.columns.lastName
      }
    }
    if (!isIdentifier(table.table)) return usageError(context, `--user-table ${JSON.stringify(table.table)} is not a table name`)
    if (table.columns.email === '') return usageError(context, '--email-column cannot be empty: authd accounts are found by email')
    for (const [name, column] of Object.entries(table.columns)) {
      if (column !== '' && !isIdentifier(column)) return usageError(context, `the ${name} column ${JSON.stringify(column)} is not a column name`)
    }
    const role = (option: 'superuser-role' | 'staff-role'): string | null | undefined => {
      const value = values[option] as string | undefined
      if (value === undefined) return option === 'superuser-role' ? DEFAULT_IMPORT_OPTIONS.superuserRole : DEFAULT_IMPORT_OPTIONS.staffRole
      if (value === '') return null
      return Value.Check(RoleName, value) ? value : undefined
    }
    const superuserRole = role('superuser-role')
    const staffRole = role('staff-role')
    if (superuserRole === undefined || staffRole === undefined) return usageError(context, 'a role is 1-64 of a-z 0-9 _ : - and starts with a letter')
    const batchText = (values['batch-size'] as string | undefined) ?? String(DEFAULT_IMPORT_OPTIONS.batchSize)
    const batchSize = /^[1-9][0-9]{0,4}$/.test(batchText) ? Number(batchText) : 0
    if (batchSize < 1 || batchSize > 10_000) return usageError(context, '--batch-size is 1-10000')
    const dryRun = values['dry-run'] === true
    const idPrefix = (values['id-prefix'] as string | undefined) ?? DEFAULT_IMPORT_OPTIONS.idPrefix
    if (!/^[a-z][a-z0-9_-]{0,31}$/.test(idPrefix)) return usageError(context, '--id-prefix is 1-32 of a-z 0-9 _ - and starts with a letter')

    const config = context.loadConfig()
    let source
    try {
      source = await openDjangoSource(from)
    } catch (error) {
      if (error instanceof DjangoSourceError) { context.err(`import: ${error.message}`); return 1 }
      throw error
    }
    let read
    try {
      read = await source.read(table)
    } catch (error) {
      if (error instanceof DjangoSourceError) { context.err(`import: ${error.message}`); return 1 }
      context.err(`import: cannot read the Django database: ${(error as Error).message}`)
      return 1
    } finally {
      await source.close()
    }
    context.out(`${read.users.length} users in ${source.kind} table ${table.table}; groups: ${read.hasGroups ? 'yes' : 'no'}; allauth addresses: ${read.hasAllauth ? 'yes' : 'no'}`)

    const db = await openDatabase({ url: config.DATABASE_URL, directUrl: config.DIRECT_DATABASE_URL, dataDir: config.DATA_DIR, poolSize: 1, migrate: config.MIGRATE_ON_START })
    const started = Date.now()
    try {
      const summary = await importDjangoUsers(createUnitOfWork(db), read, {
        superuserRole,
        staffRole,
        groups: values['no-groups'] !== true,
        idPrefix,
        trustEmails: values['trust-emails'] === true,
        batchSize,
        dryRun,
        ...(dryRun ? { onChange: context.out } : {}),
        ...(context.progress === undefined
          ? {}
          : {
              onProgress: (done: number, total: number) => {
                const filled = total === 0 ? BAR : Math.round((done / total) * BAR)
                context.progress?.(`[${'#'.repeat(filled)}${'-'.repeat(BAR - filled)}] ${done}/${total}${done === total ? '\n' : ''}`)
              }
            })
      })
      const seconds = (Date.now() - started) / 1000
      context.out(`${describe(summary, dryRun)}\n  time: ${seconds.toFixed(1)} s (${Math.round(summary.read / Math.max(seconds, 0.001))} users/s)`)
      return 0
    } finally {
      await db.close()
    }
  }
}
