// What every `authd` subcommand provides, and what it is given. The dispatcher
// (commands/index.ts) lists `summary` in `authd help` and calls `run` with the arguments after
// the command's name. Commands reach the process only through the context, so tests can run
// them in-process with their own output, stdin and configuration.
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { loadConfig, type Config } from '../config.js'

export interface CommandContext {
  /** Writes one line to stdout. */
  out: (text: string) => void
  /** Writes one line to stderr. */
  err: (text: string) => void
  loadConfig: () => Config
  /** Where a password is read from (createsuperuser). */
  stdin: NodeJS.ReadableStream & { isTTY?: boolean }
  /** Redraws a one-line progress bar in place; absent when stderr is not a terminal (logs, pipes). */
  progress?: (text: string) => void
}

export function processContext (): CommandContext {
  return {
    out: (text) => { process.stdout.write(`${text}\n`) },
    err: (text) => { process.stderr.write(`${text}\n`) },
    loadConfig,
    stdin: process.stdin,
    ...(process.stderr.isTTY ? { progress: (text: string) => { process.stderr.write(`\r\x1b[2K${text}`) } } : {})
  }
}

export interface Command {
  name: string
  /** One or two lines for `authd help`: usage and what it does. */
  summary: string
  /** Resolves to the exit code: 0 done, 1 refused or failed, 2 bad usage. */
  run: (args: string[], context: CommandContext) => Promise<number>
}

type Options = NonNullable<ParseArgsConfig['options']>

/** Parsed options: strings for valued options, true for flags, absent when not given. */
export type OptionValues = Record<string, string | boolean | undefined>

/**
 * Strict option parsing shared by the commands: `--help` prints `help` and exits 0; an unknown
 * option or a stray argument prints the problem and `help` on stderr and exits 2. Commands that
 * take arguments (`authd clients create NAME`) pass `allowPositionals`.
 */
export function parseOptions (args: string[], options: Options, help: string, context: CommandContext, allowPositionals = false): { values: OptionValues, positionals: string[] } | { exit: number } {
  let values: OptionValues
  let positionals: string[]
  try {
    ({ values, positionals } = parseArgs({ args, options: { ...options, help: { type: 'boolean' } }, strict: true, allowPositionals }) as { values: OptionValues, positionals: string[] })
  } catch (error) {
    // Node's message quotes a stray argument; it could be a password typed in the wrong place.
    const message = (error as { code?: string }).code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL'
      ? 'Unexpected argument: this command takes options only'
      : (error as Error).message
    context.err(`${message}\n${help}`)
    return { exit: 2 }
  }
  if (values.help === true) {
    context.out(help)
    return { exit: 0 }
  }
  return { values, positionals }
}
