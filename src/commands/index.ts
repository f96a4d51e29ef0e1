// `authd <command>`: finds the command and runs it. src/cli.ts (the bin) calls runCommand with
// the process's arguments; tests call it with a context of their own.
import { ConfigError } from '../config.js'
import { processContext, type Command, type CommandContext } from './command.js'
import { createsuperuserCommand } from './createsuperuser.js'
import { clientsCommand } from './clients.js'
import { flushExpiredCommand } from './flush-expired.js'
import { importCommand } from './import.js'
import { keysCommand } from './keys.js'
import { migrateCommand } from './migrate.js'
import { serveCommand } from './serve.js'

export const COMMANDS: readonly Command[] = [serveCommand, migrateCommand, createsuperuserCommand, keysCommand, flushExpiredCommand, clientsCommand, importCommand]

export const HELP = `Usage: authd <command> [options]

Commands:
${COMMANDS.map((command) => `  ${command.summary}`).join('\n')}
  help [command]
            show this text, or a command's (same as \`authd <command> --help\`)

Every command reads the same configuration as the server (environment and .env).`

/** Runs `authd <argv…>`; resolves to the exit code. */
export async function runCommand (argv: string[], context: CommandContext = processContext()): Promise<number> {
  const [name, ...args] = argv
  if (name === undefined || name === '--help' || name === '-h' || (name === 'help' && args.length === 0)) {
    context.out(HELP)
    return 0
  }
  const wanted = name === 'help' ? args[0] : name
  const command = COMMANDS.find((c) => c.name === wanted)
  if (command === undefined) {
    context.err(`unknown command: ${wanted}\n${HELP}`)
    return 2
  }
  try {
    return await command.run(name === 'help' ? ['--help'] : args, context)
  } catch (error) {
    // A bad setting is the operator's to fix: its message, not a stack trace.
    if (error instanceof ConfigError) {
      context.err(error.message)
      return 1
    }
    throw error
  }
}
