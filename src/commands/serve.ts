// `authd serve`: run the service, exactly as `npm start` (node dist/server.js) does.
import { startServer } from '../start-server.js'
import { parseOptions, type Command } from './command.js'

const HELP = `Usage: authd serve

Starts authd: reads the configuration from the environment (and .env), applies pending
migrations when MIGRATE_ON_START=true, listens on HOST:PORT, and shuts down gracefully on
SIGINT/SIGTERM. The same as \`npm start\` / \`node dist/server.js\`.

Options:
  --help   show this text`

export const serveCommand: Command = {
  name: 'serve',
  summary: 'serve     run the HTTP service (as npm start does)',
  async run (args, context) {
    const parsed = parseOptions(args, {}, HELP, context)
    if ('exit' in parsed) return parsed.exit
    await startServer()
    return 0
  }
}
