// `authd clients`: service credentials from the command line (services/oauth-clients.ts does
// the work, as the admin API's routes do). A secret is printed once, by create and
// rotate-secret, and never again.
import { Value } from 'typebox/value'
import { openDatabase } from '../db/database.js'
import { AppError } from '../errors.js'
import { createUnitOfWork } from '../repositories/unit-of-work.js'
import { AudienceValue, ClientId, ClientName, ScopeToken } from '../schemas/oauth.js'
import { createOauthClientService, type OauthClient, type OauthClientService } from '../services/oauth-clients.js'
import { parseOptions, type Command, type CommandContext } from './command.js'

const HELP = `Usage: authd clients <create|list|rotate-secret|disable> …

Service credentials: clients of POST /oauth/token (grant_type=client_credentials).

  authd clients create NAME [--scope SCOPE]… [--audience AUD]…
      a new client; prints its client_id and its secret — shown this once only
  authd clients list
      every client: client_id, name, scopes, audience, status
  authd clients rotate-secret CLIENT_ID
      a new secret (printed once); the old one stops working at once
  authd clients disable CLIENT_ID
      the client can no longer get, introspect or revoke tokens

--scope and --audience may be repeated. Without --audience the tokens carry JWT_AUDIENCE.
With the embedded PGlite database, run it only while authd is stopped; with PostgreSQL, any time.

Exit codes: 0 done, 1 refused (no such client), 2 bad usage.`

const OPTIONS = {
  scope: { type: 'string', multiple: true },
  audience: { type: 'string', multiple: true }
} as const

function usageError (context: CommandContext, message: string): number {
  context.err(`${message}\nRun \`authd clients --help\` for the usage.`)
  return 2
}

const describe = (client: OauthClient): string =>
  `${client.clientId}  ${JSON.stringify(client.name)}  scopes: ${client.scopes.join(' ') || '-'}  audience: ${client.audience.join(' ') || '(JWT_AUDIENCE)'}  ${client.disabledAt === null ? 'enabled' : `disabled ${client.disabledAt.toISOString()}`}`

type Action = (service: OauthClientService, context: CommandContext) => Promise<number>

/** What the arguments ask for, or the exit code of a usage error. */
function actionOf (positionals: string[], values: Record<string, unknown>, context: CommandContext): Action | number {
  const [verb, argument, ...extra] = positionals
  const scopes = (values.scope as string[] | undefined) ?? []
  const audience = (values.audience as string[] | undefined) ?? []
  if (extra.length > 0) return usageError(context, `Unexpected argument: ${JSON.stringify(extra[0])}`)
  if (verb !== 'create' && (scopes.length > 0 || audience.length > 0)) return usageError(context, '--scope and --audience are options of create')
  const clientId = (): string | number => argument !== undefined && Value.Check(ClientId, argument) ? argument : usageError(context, 'rotate-secret and disable need a CLIENT_ID (svc_…)')
  switch (verb) {
    case 'create': {
      if (argument === undefined || !Value.Check(ClientName, argument)) return usageError(context, 'create needs a NAME (1-100 characters)')
      const badScope = scopes.find((s) => !Value.Check(ScopeToken, s))
      if (badScope !== undefined) return usageError(context, `--scope ${JSON.stringify(badScope)}: a scope is 1-100 printable ASCII characters without space, " or \\`)
      const badAudience = audience.find((a) => !Value.Check(AudienceValue, a))
      if (badAudience !== undefined) return usageError(context, `--audience ${JSON.stringify(badAudience)}: 1-200 characters without spaces`)
      return async (service, context) => {
        const { client, secret } = await service.create({ name: argument, scopes: [...new Set(scopes)], audience: [...new Set(audience)] }, null)
        context.out(`client created: ${describe(client)}\nclient_id:     ${client.clientId}\nclient_secret: ${secret}\nThe secret is shown this once: store it now.`)
        return 0
      }
    }
    case 'list':
      if (argument !== undefined) return usageError(context, 'list takes no argument')
      return async (service, context) => {
        const clients = await service.list()
        context.out(clients.length === 0 ? 'no clients' : clients.map(describe).join('\n'))
        return 0
      }
    case 'rotate-secret': {
      const id = clientId()
      if (typeof id === 'number') return id
      return async (service, context) => {
        const { client, secret } = await service.rotateSecret({ clientId: id }, null)
        context.out(`secret rotated: ${client.clientId}\nclient_secret: ${secret}\nThe secret is shown this once; the old one no longer works.`)
        return 0
      }
    }
    case 'disable': {
      const id = clientId()
      if (typeof id === 'number') return id
      return async (service, context) => {
        const client = await service.disable({ clientId: id }, null)
        context.out(`client disabled: ${describe(client)}`)
        return 0
      }
    }
    default:
      return usageError(context, verb === undefined ? 'Say what to do: create, list, rotate-secret or disable' : `Unknown action: ${JSON.stringify(verb)}`)
  }
}

export const clientsCommand: Command = {
  name: 'clients',
  summary: 'clients create NAME [--scope S]… [--audience A]… | list | rotate-secret ID | disable ID\n            service credentials for POST /oauth/token',
  async run (args, context) {
    const parsed = parseOptions(args, OPTIONS, HELP, context, true)
    if ('exit' in parsed) return parsed.exit
    const action = actionOf(parsed.positionals, parsed.values, context)
    if (typeof action === 'number') return action
    const config = context.loadConfig()
    const db = await openDatabase({ url: config.DATABASE_URL, directUrl: config.DIRECT_DATABASE_URL, dataDir: config.DATA_DIR, poolSize: 1, migrate: config.MIGRATE_ON_START })
    try {
      return await action(createOauthClientService({ db: createUnitOfWork(db) }), context)
    } catch (error) {
      if (error instanceof AppError && error.code === 'not_found') {
        context.err(`clients: ${error.message}`)
        return 1
      }
      throw error
    } finally {
      await db.close()
    }
  }
}
