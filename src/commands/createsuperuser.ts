// `authd createsuperuser`: create the first admin (see services/superuser.ts). The password
// comes from stdin or a prompt only (read-password.ts); there is deliberately no option for it.
import { Value } from 'typebox/value'
import { openDatabase } from '../db/database.js'
import { createUnitOfWork } from '../repositories/unit-of-work.js'
import { Email, Username } from '../schemas/common.js'
import { FullName } from '../schemas/user.js'
import { createPasswordHasher } from '../services/password-hasher.js'
import { checkPassword, passwordPolicyFrom } from '../services/password-policy.js'
import { createSuperuser } from '../services/superuser.js'
import { parseOptions, type Command, type CommandContext } from './command.js'
import { PasswordInputError, readPassword } from './read-password.js'

const HELP = `Usage: authd createsuperuser --email EMAIL [--username NAME] [--full-name NAME] [--update-existing]

Creates an admin: a user with the role "admin" whose email address counts as verified.
The password is never an option or an environment variable:
  - when stdin is not a terminal, it is the first line of stdin, e.g.
      printf '%s\\n' "$ADMIN_PASSWORD" | authd createsuperuser --email admin@example.com
      authd createsuperuser --email admin@example.com < password.txt
  - at a terminal, it is asked twice and not echoed.
It must meet the password policy (PASSWORD_* settings), as on registration.

If the email address is already registered, nothing changes and the exit code is 1, unless
--update-existing is given: that user then gets the admin role, is activated, gets the new
password, and every session of theirs ends (recovery when no admin can log in).

With the embedded PGlite database, run it only while authd is stopped (one process at a time
may open DATA_DIR/pglite); with PostgreSQL, any time.

Options:
  --email EMAIL        the admin's email address (required)
  --username NAME      a username (3-30 of A-Z a-z 0-9 _ . -), new users only
  --full-name NAME     a full name, new users only
  --update-existing    make an existing account with this email admin instead of refusing
  --help               show this text

Exit codes: 0 created or updated, 1 refused (address taken, password rejected, no password),
2 bad usage.`

const OPTIONS = {
  email: { type: 'string' },
  username: { type: 'string' },
  'full-name': { type: 'string' },
  'update-existing': { type: 'boolean' }
} as const

function usageError (context: CommandContext, message: string): number {
  context.err(`${message}\nRun \`authd createsuperuser --help\` for the usage.`)
  return 2
}

function refused (context: CommandContext, message: string): number {
  context.err(`createsuperuser: ${message}`)
  return 1
}

export const createsuperuserCommand: Command = {
  name: 'createsuperuser',
  summary: 'createsuperuser --email EMAIL [--username NAME] [--update-existing]\n            create an admin; the password is read from stdin or asked for',
  async run (args, context) {
    const parsed = parseOptions(args, OPTIONS, HELP, context)
    if ('exit' in parsed) return parsed.exit
    const email = parsed.values.email as string | undefined
    const username = parsed.values.username as string | undefined
    const fullName = parsed.values['full-name'] as string | undefined
    const updateExisting = parsed.values['update-existing'] === true
    if (email === undefined) return usageError(context, '--email is required')
    if (!Value.Check(Email, email)) return usageError(context, `--email ${JSON.stringify(email)} is not an email address`)
    if (username !== undefined && !Value.Check(Username, username)) return usageError(context, '--username must be 3-30 characters of A-Z a-z 0-9 _ . -')
    if (fullName !== undefined && !Value.Check(FullName, fullName)) return usageError(context, '--full-name is too long')
    if (updateExisting && (username !== undefined || fullName !== undefined)) return usageError(context, '--username and --full-name are for a new user, not with --update-existing')

    const config = context.loadConfig()
    let password: string
    try {
      password = await readPassword(context.stdin)
    } catch (error) {
      if (error instanceof PasswordInputError) return refused(context, error.message)
      throw error
    }
    const problems = checkPassword(password, passwordPolicyFrom(config), 'password', { email, username, fullName })
    if (problems.length > 0) return refused(context, `the password ${problems.map((p) => p.message).join('; ')}`)
    const passwordHash = await createPasswordHasher({ cost: config.BCRYPT_COST }).hash(password)

    const db = await openDatabase({ url: config.DATABASE_URL, directUrl: config.DIRECT_DATABASE_URL, dataDir: config.DATA_DIR, poolSize: 1, migrate: config.MIGRATE_ON_START })
    try {
      const result = await createSuperuser(createUnitOfWork(db), { email, username, fullName, passwordHash, updateExisting })
      switch (result.outcome) {
        case 'created':
          context.out(`admin created: ${result.user.email} (id ${result.user.id})`)
          return 0
        case 'updated':
          context.out(`existing user made admin: ${result.user.email} (id ${result.user.id}); password replaced, ${result.sessionsRevoked} session(s) ended`)
          return 0
        case 'email_taken':
          return refused(context, `${email.toLowerCase()} is already registered; nothing changed (use --update-existing to make that user admin)`)
        case 'username_taken':
          return refused(context, `the username ${username ?? ''} is taken; nothing changed`)
      }
    } finally {
      await db.close()
    }
  }
}
