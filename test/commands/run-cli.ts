// Runs `authd` as an operator would (node + tsx on src/cli.ts, in its own process) with
// piped stdin; or a command in-process with a captured context.
import { spawn } from 'node:child_process'
import { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import type { CommandContext } from '../../src/commands/command.js'
import { parseConfig } from '../../src/config.js'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))

export interface CliResult { code: number | null, stdout: string, stderr: string }

export async function runCli (args: string[], options: { env?: Record<string, string>, input?: string } = {}): Promise<CliResult> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'silent', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  // The command may exit before reading stdin (e.g. --help): that is not a failure here.
  child.stdin.on('error', () => {})
  child.stdin.end(options.input ?? '')
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', resolve)
  })
  return { code, stdout, stderr }
}

/**
 * A context for running a command in-process (much faster than a process per case): output
 * captured, stdin from `input` (a pipe, not a terminal), configuration from `env` only.
 */
export function captureContext (env: Record<string, string> = {}, input = ''): { context: CommandContext, output: { stdout: string, stderr: string } } {
  const output = { stdout: '', stderr: '' }
  return {
    output,
    context: {
      out: (text) => { output.stdout += `${text}\n` },
      err: (text) => { output.stderr += `${text}\n` },
      loadConfig: () => parseConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', ...env }),
      stdin: Readable.from([input])
    }
  }
}
