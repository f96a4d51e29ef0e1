// `authd keys list | rotate | prune`: the operator's view of the access-key set and the two
// steps of a rotation. They change the key directory or SIGNING_KEYS_FILE in place (running
// instances notice within SIGNING_KEYS_RELOAD_INTERVAL); a set held in a variable or a PEM
// file cannot be changed by authd, so with --print the new set is written to stdout instead.
import { existsSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { ConfigError, type Config } from '../config.js'
import { generateAccessKey, type AccessKey } from './access-key.js'
import { JWKS_MAX_AGE, keyStatuses, prunableAt, prunableKeys } from './key-set.js'
import { keyFileModeProblems } from './file-mode.js'
import { describeSource, formatKeySet, isWritable, keyFilesOf, keySourceOf, readKeys, writeKeys, type KeySource } from './key-sources.js'

export const KEYS_HELP = `Usage: authd keys <command> [options]

Access-token signing keys (see docs/keys.md "Keys and rotation").

Commands:
  list                       every key: kid, alg, state (active, pending, retiring), times
  rotate [--activate-in S]   add a key of ACCESS_TOKEN_ALG that signs after S seconds, then prune
  prune                      drop retiring keys that no live access token can carry

Run \`authd keys <command> --help\` for its options.`

const LIST_HELP = `Usage: authd keys list

Lists the access-token signing keys of the configured source (DATA_DIR/keys/access,
SIGNING_KEYS_FILE, SIGNING_KEYS or SIGNING_KEY_FILE): kid, alg, state and times.
  active    signs new tokens (the newest key whose activation time has passed)
  pending   published in the JWKS, signs from its activation time on
  retiring  replaced; still verifies the tokens it signed until they expire

Options:
  --help   show this text`

const rotateHelp = (defaultDelay: number) => `Usage: authd keys rotate [--activate-in SECONDS] [--print]

Adds a new signing key of ACCESS_TOKEN_ALG. It is published in the JWKS at once and signs only
after SECONDS (default ${defaultDelay} = the JWKS max-age ${JWKS_MAX_AGE} s + SIGNING_KEYS_RELOAD_INTERVAL),
so every instance and every verifier's JWKS cache has it before the first token it signs.
Old keys keep verifying; then retiring keys past their window are pruned (see \`authd keys prune\`).

Options:
  --activate-in SECONDS   delay before the new key signs (0 to switch at once, e.g. after a leak)
  --print                 write the new private JWK set to stdout instead of saving it; needed
                          with SIGNING_KEYS or SIGNING_KEY_FILE, which authd cannot change
  --help                  show this text`

const PRUNE_HELP = `Usage: authd keys prune [--print]

Drops keys that are neither active nor pending and whose successor activated more than
ACCESS_TOKEN_TTL + 60 s ago: no live access token can carry them any more.

Options:
  --print   write the remaining private JWK set to stdout instead of saving it; needed
            with SIGNING_KEYS or SIGNING_KEY_FILE, which authd cannot change
  --help    show this text`

const OPTIONS = { help: { type: 'boolean' }, print: { type: 'boolean' }, 'activate-in': { type: 'string' } } as const

export interface KeysCommandOptions {
  loadConfig: () => Config
  out?: (text: string) => void
  err?: (text: string) => void
  now?: () => number
}

const iso = (date: Date) => date.getTime() === 0 ? '-' : date.toISOString()

function table (keys: readonly AccessKey[], now: number, accessTtl: number): string {
  const rows = keyStatuses(keys, now).map(({ key, state, retiredAt }) => [
    key.kid, key.alg, state, iso(key.createdAt), iso(key.activatesAt),
    retiredAt === undefined ? '' : prunableAt(retiredAt, accessTtl).toISOString()
  ])
  const all = [['KID', 'ALG', 'STATE', 'CREATED', 'ACTIVATES', 'PRUNABLE AFTER'], ...rows]
  const widths = all[0]!.map((_, i) => Math.max(...all.map((r) => r[i]!.length)))
  return all.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n')
}

export async function runKeysCommand (args: string[], options: KeysCommandOptions): Promise<number> {
  const out = options.out ?? ((text: string) => { process.stdout.write(`${text}\n`) })
  const err = options.err ?? ((text: string) => { process.stderr.write(`${text}\n`) })
  const now = (options.now ?? Date.now)()
  const [command, ...rest] = args
  if (command === undefined || command === 'help' || command === '--help') {
    out(KEYS_HELP)
    return command === undefined ? 2 : 0
  }
  if (!['list', 'rotate', 'prune'].includes(command)) {
    err(`unknown keys command: ${command}\n${KEYS_HELP}`)
    return 2
  }
  let values: { 'activate-in'?: string, print?: boolean, help?: boolean }
  try {
    ({ values } = parseArgs({ args: rest, options: OPTIONS, strict: true }))
    const allowed = ['help', ...(command === 'list' ? [] : ['print']), ...(command === 'rotate' ? ['activate-in'] : [])]
    const other = Object.keys(values).find((name) => !allowed.includes(name))
    if (other !== undefined) throw new Error(`Unknown option '--${other}'`)
  } catch (error) {
    err(`${(error as Error).message}\nRun \`authd keys ${command} --help\`.`)
    return 2
  }

  try {
    if (command === 'list') {
      if (values.help === true) { out(LIST_HELP); return 0 }
      return await list(options.loadConfig(), now, out, err)
    }
    if (command === 'prune') {
      if (values.help === true) { out(PRUNE_HELP); return 0 }
      return await change(options.loadConfig(), now, { print: values.print === true }, out, err)
    }
    // rotate: the default delay depends on the config, which --help should not need.
    if (values.help === true) { out(rotateHelp(JWKS_MAX_AGE + 30)); return 0 }
    const config = options.loadConfig()
    const defaultDelay = JWKS_MAX_AGE + config.SIGNING_KEYS_RELOAD_INTERVAL
    const raw = values['activate-in']
    const activateIn = raw === undefined ? defaultDelay : Number(raw)
    if (!Number.isInteger(activateIn) || activateIn < 0 || activateIn > 31_536_000) {
      err(`--activate-in must be a whole number of seconds from 0 to 31536000, got ${JSON.stringify(raw)}`)
      return 2
    }
    if (activateIn < defaultDelay) {
      err(`warning: the new key signs in ${activateIn} s, before every verifier can have refreshed its JWKS (${defaultDelay} s); some may refuse its first tokens`)
    }
    return await change(config, now, { print: values.print === true, rotate: { activateIn } }, out, err)
  } catch (error) {
    if (error instanceof ConfigError) {
      err(error.message)
      return 1
    }
    throw error
  }
}

/** The operator's commands only warn about exposed key files (the service refuses them in production): `rotate` rewrites SIGNING_KEYS_FILE 0600. */
async function warnFileModes (source: KeySource, err: (text: string) => void): Promise<void> {
  for (const problem of await keyFileModeProblems(await keyFilesOf(source))) err(`warning: ${source.variable}: ${problem}`)
}

async function list (config: Config, now: number, out: (text: string) => void, err: (text: string) => void): Promise<number> {
  const source = keySourceOf(config)
  await warnFileModes(source, err)
  const keys = await readKeys(source)
  out(`source: ${describeSource(source)}`)
  out(keys.length === 0 ? 'no keys yet: authd creates the first one when it starts' : table(keys, now, config.ACCESS_TOKEN_TTL))
  return 0
}

function refuse (source: KeySource, err: (text: string) => void): number {
  if (source.kind === 'secret') {
    err('ACCESS_TOKEN_ALG=HS256 signs with the one ACCESS_TOKEN_SECRET: there is no key set to rotate. Changing the secret ends every access token at once (clients refresh).')
  } else {
    err(`${source.variable} cannot be changed by authd. Run again with --print to get the new private JWK set on stdout, then put it in SIGNING_KEYS or a SIGNING_KEYS_FILE and redeploy (docs/keys.md "Keys and rotation").`)
  }
  return 1
}

/** Rotate (add a key, then prune) or only prune, and save or print the result. */
async function change (config: Config, now: number, what: { print: boolean, rotate?: { activateIn: number } }, out: (text: string) => void, err: (text: string) => void): Promise<number> {
  const source = keySourceOf(config)
  if (source.kind === 'secret' || (!isWritable(source) && !what.print)) return refuse(source, err)
  await warnFileModes(source, err)
  // `rotate` with a SIGNING_KEYS_FILE that does not exist yet creates it: the way to make the first one.
  const startsEmpty = source.kind === 'jwks-file' && what.rotate !== undefined && !existsSync(source.path)
  let keys = startsEmpty ? [] : await readKeys(source)
  const messages: string[] = []
  if (what.rotate !== undefined && config.ACCESS_TOKEN_ALG !== 'HS256') {
    // With no key at all there is nothing to pre-publish for: the first key signs at once.
    const activatesAt = new Date(keys.length === 0 ? now : now + what.rotate.activateIn * 1000)
    const key = await generateAccessKey(config.ACCESS_TOKEN_ALG, { createdAt: new Date(now), activatesAt })
    keys = [...keys, key]
    messages.push(`added ${key.kid} (${key.alg}); it signs from ${activatesAt.toISOString()}`)
  }
  const pruned = new Set(prunableKeys(keys, now, config.ACCESS_TOKEN_TTL))
  for (const key of pruned) messages.push(`pruned ${key.kid} (${key.alg})`)
  if (what.rotate === undefined && pruned.size === 0) messages.push('nothing to prune')
  keys = keys.filter((k) => !pruned.has(k))

  if (what.print) {
    out(formatKeySet(keys).trimEnd())
    for (const m of messages) err(m)
    if (!isWritable(source)) err('Store this set in SIGNING_KEYS or a SIGNING_KEYS_FILE and roll it out to every instance before the new key\'s activation time (docs/keys.md "Keys and rotation").')
    return 0
  }
  if (what.rotate !== undefined || pruned.size > 0) await writeKeys(source, keys)
  for (const m of messages) out(m)
  out(table(keys, now, config.ACCESS_TOKEN_TTL))
  return 0
}
