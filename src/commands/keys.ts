// `authd keys …`: the access-key commands live with the key code (src/keys/keys-command.ts).
import { runKeysCommand } from '../keys/keys-command.js'
import type { Command } from './command.js'

export const keysCommand: Command = {
  name: 'keys',
  summary: 'keys list | rotate [--activate-in S] | prune\n            access-token signing keys and their rotation (see `authd keys --help`)',
  run: async (args, context) => await runKeysCommand(args, { loadConfig: context.loadConfig, out: context.out, err: context.err })
}
