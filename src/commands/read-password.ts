// Reading a password for a command without it ever being an argument or a variable (both
// show up in shell history, `ps` and /proc/<pid>/environ): the first line of stdin when it
// is a pipe or a file, else a prompt at the terminal that does not echo what is typed.
import { createInterface } from 'node:readline'
import { Writable } from 'node:stream'

export class PasswordInputError extends Error {}

/** The first line of a non-terminal stdin (without its line ending); the rest is ignored. */
async function firstLine (input: NodeJS.ReadableStream): Promise<string> {
  const lines = createInterface({ input, crlfDelay: Infinity })
  try {
    const first = await lines[Symbol.asyncIterator]().next()
    if (first.done !== true) return first.value
  } finally {
    lines.close()
  }
  throw new PasswordInputError('no password on stdin (give it as the first line)')
}

/**
 * One answer typed at the terminal, not echoed. node:readline has no "hidden" option: the
 * usual way is a terminal-mode interface whose output (the echo) goes nowhere, with the
 * prompt written directly.
 */
async function askHidden (input: NodeJS.ReadableStream, question: string): Promise<string> {
  const swallow = new Writable({ write: (_chunk, _encoding, done) => { done() } })
  // The interface puts the terminal in raw mode (no echo by the terminal itself) as it is
  // created: only then the prompt, or a fast typist's first characters would be echoed.
  const rl = createInterface({ input, output: swallow, terminal: true })
  process.stderr.write(question)
  try {
    return await new Promise<string>((resolve, reject) => {
      rl.once('line', resolve)
      rl.once('SIGINT', () => { reject(new PasswordInputError('cancelled')) })
      rl.once('close', () => { reject(new PasswordInputError('no password entered')) })
    })
  } finally {
    rl.close()
    process.stderr.write('\n')
  }
}

/** The password from `input` when it is not a terminal, else asked twice at the terminal. */
export async function readPassword (input: NodeJS.ReadableStream & { isTTY?: boolean } = process.stdin): Promise<string> {
  if (input.isTTY !== true) {
    try {
      return await firstLine(input)
    } finally {
      // A writer that keeps the pipe open must not keep this process alive.
      if (input === process.stdin) process.stdin.destroy()
    }
  }
  const password = await askHidden(input, 'Password: ')
  const again = await askHidden(input, 'Password (again): ')
  if (password !== again) throw new PasswordInputError('the two passwords do not match')
  return password
}
