// The `authd` command line: one dispatcher, every subcommand documented by --help. Most cases
// run the dispatcher in-process (a process per case costs seconds); one runs the real entry.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { runCommand } from '../../src/commands/index.js'
import { captureContext, runCli, ROOT } from '../commands/run-cli.js'

const SUBCOMMANDS = ['serve', 'migrate', 'createsuperuser', 'keys', 'flush-expired']

async function run (argv: string[], env: Record<string, string> = {}) {
  const { context, output } = captureContext(env)
  const code = await runCommand(argv, context)
  return { code, ...output }
}

t.test('`authd help` lists every subcommand', async (t) => {
  for (const argv of [['help'], ['--help'], []]) {
    const res = await run(argv)
    t.equal(res.code, 0, `authd ${argv.join(' ')} exits 0`)
    t.match(res.stdout, /^Usage: authd <command>/, 'prints the usage')
    for (const name of SUBCOMMANDS) t.match(res.stdout, new RegExp(`^  ${name}\\b`, 'm'), `lists ${name}`)
  }
})

t.test('every subcommand has --help: exit 0 and its usage, starting nothing', async (t) => {
  for (const name of SUBCOMMANDS) {
    // A configuration that would fail to load proves --help needs none (and serve starts nothing).
    const res = await run([name, '--help'], { PORT: 'not-a-port' })
    t.equal(res.code, 0, `${name} --help exits 0 (${res.stderr})`)
    t.match(res.stdout, new RegExp(`^Usage: authd ${name}\\b`), `${name} --help prints its usage`)
    t.equal(res.stderr, '', 'nothing on stderr')
    const viaHelp = await run(['help', name])
    t.same(viaHelp, res, `\`authd help ${name}\` is the same`)
  }
})

t.test('an unknown command or option exits 2 with the usage on stderr', async (t) => {
  const unknown = await run(['frobnicate'])
  t.equal(unknown.code, 2)
  t.match(unknown.stderr, /unknown command: frobnicate[^]*Usage: authd <command>/)
  const badOption = await run(['migrate', '--force'])
  t.equal(badOption.code, 2)
  t.match(badOption.stderr, /Unknown option '--force'[^]*Usage: authd migrate/)
  const stray = await run(['flush-expired', 'now'])
  t.equal(stray.code, 2)
  t.match(stray.stderr, /Unexpected argument: this command takes options only/)
})

t.test('a bad setting stops a command with the config message and exit 1', async (t) => {
  const res = await run(['migrate'], { PORT: 'not-a-port' })
  t.equal(res.code, 1)
  t.match(res.stderr, /PORT="not-a-port"/)
})

t.test('the real entry: src/cli.ts runs as a process, help exits 0, a bad setting exits 1 without a stack trace', async (t) => {
  const help = await runCli(['help'])
  t.equal(help.code, 0, help.stderr)
  t.match(help.stdout, /^Usage: authd <command>[^]*createsuperuser/)
  const bad = await runCli(['migrate'], { env: { PORT: 'not-a-port' } })
  t.equal(bad.code, 1)
  t.match(bad.stderr, /PORT/)
  t.notMatch(bad.stderr, /\n\s+at /, 'no stack trace')
})

t.test('package.json installs the CLI as `authd`, with a node shebang', async (t) => {
  const pkg = JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8')) as { bin?: Record<string, string> }
  t.same(pkg.bin, { authd: 'dist/cli.js' })
  t.match(readFileSync(`${ROOT}/src/cli.ts`, 'utf8'), /^#!\/usr\/bin\/env node\n/, 'tsc keeps the shebang in dist/cli.js')
})
