// A file holding a private key or secret must be readable by authd's user only: with
// NODE_ENV=production a key file others may read stops the start (a reload that finds one keeps
// the keys it has); elsewhere it is logged as a warning. The rule is PostgreSQL's for
// ssl_key_file: no access at all for others, none for the group either — except that a file owned
// by root may be read by its group. That exception is how a key reaches a service that does not
// run as root: a Kubernetes secret volume with `fsGroup` makes root-owned files of mode 0440 (its
// `defaultMode` is OR-ed with group read), Debian's ssl-cert group does the same for TLS keys.
import { stat } from 'node:fs/promises'
import type { FastifyBaseLogger } from 'fastify'
import { ConfigError } from '../config.js'

/** Why a file with this owner and mode exposes its key, or undefined when it does not. */
export function keyFileModeProblem (file: { mode: number, uid: number }): string | undefined {
  const mode = (file.mode & 0o777).toString(8).padStart(4, '0')
  if ((file.mode & 0o007) !== 0) return `open to every user of the machine (mode ${mode})`
  const groupMayRead = file.uid === 0 ? 0o040 : 0
  if ((file.mode & 0o070 & ~groupMayRead) !== 0) return `open to its group (mode ${mode})`
  return undefined
}

/**
 * One message per file of `files` whose permissions expose it, naming the file and the fix.
 * A missing file is not a problem here (reading it reports that).
 */
export async function keyFileModeProblems (files: readonly string[]): Promise<string[]> {
  // Windows has no POSIX modes to check (Node reports 0o666 for every writable file).
  if (process.platform === 'win32') return []
  const problems: string[] = []
  for (const file of files) {
    let stats
    try {
      stats = await stat(file)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue
      throw error
    }
    const problem = keyFileModeProblem(stats)
    if (problem !== undefined) problems.push(`${file} is ${problem}; it holds a private key: chmod 600 ${file}`)
  }
  return problems
}

/**
 * The rule applied: with 'refuse' (NODE_ENV=production) a ConfigError naming every exposed file
 * under `variable` ("Invalid <what>:"); otherwise one warning each. Used by the key store (at
 * start and at every reload) and by the refresh-secret loader.
 */
export async function enforceKeyFileModes (files: readonly string[], options: { variable: string, what: string, policy?: 'refuse' | 'warn', log?: Pick<FastifyBaseLogger, 'warn'> }): Promise<void> {
  const problems = await keyFileModeProblems(files)
  if (problems.length === 0) return
  if (options.policy === 'refuse') {
    throw new ConfigError(`Invalid ${options.what}:\n${problems.map((p) => `  ${options.variable}: ${p}`).join('\n')}`)
  }
  for (const problem of problems) options.log?.warn(`${options.variable}: ${problem} (NODE_ENV=production would refuse it)`)
}
