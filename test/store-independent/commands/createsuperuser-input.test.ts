// How `authd createsuperuser` gets its password: the first line of stdin, or typed at a
// terminal without echo — never an option, an argument or an environment variable; and the
// password policy applies. Refusals happen before the database is opened.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { runCommand } from '../../../src/commands/index.js'
import { login } from '../../helper.js'
import { captureContext, ROOT, runCli } from '../../commands/run-cli.js'
import { commandDb } from '../../commands/superuser-db.js'

const PASSWORD = 'correct horse battery staple 1815'

const parent = mkdtempSync(path.join(tmpdir(), 'authd-refused-'))
t.teardown(() => { rmSync(parent, { recursive: true, force: true }) })
// A data directory the command would create if it opened the database.
const neverOpened = path.join(parent, 'never')
const refusedEnv = { DATABASE_URL: '', DATA_DIR: neverOpened, BCRYPT_COST: '4' }

t.test('refused before the database is opened: password options, stray arguments, bad input, weak passwords', async (t) => {
  const cases: Array<{ args: string[], input?: string, env?: Record<string, string>, code: number, stderr: RegExp, name: string }> = [
    { name: '--password is not an option', args: ['--email', 'eve@example.com', '--password', PASSWORD], input: `${PASSWORD}\n`, code: 2, stderr: /Unknown option '--password'/ },
    { name: 'nor --password=…', args: ['--email', 'eve@example.com', `--password=${PASSWORD}`], input: `${PASSWORD}\n`, code: 2, stderr: /Unknown option '--password'/ },
    { name: 'nor a positional argument', args: ['--email', 'eve@example.com', PASSWORD], input: `${PASSWORD}\n`, code: 2, stderr: /Unexpected argument/ },
    { name: 'no password on stdin', args: ['--email', 'eve@example.com'], input: '', code: 1, stderr: /no password on stdin/ },
    { name: '--email is required', args: [], input: `${PASSWORD}\n`, code: 2, stderr: /--email is required/ },
    { name: 'a bad email', args: ['--email', 'not-an-address'], input: `${PASSWORD}\n`, code: 2, stderr: /is not an email address/ },
    { name: 'a bad username', args: ['--email', 'eve@example.com', '--username', 'a@b'], input: `${PASSWORD}\n`, code: 2, stderr: /--username must be/ },
    { name: '--username with --update-existing', args: ['--email', 'eve@example.com', '--username', 'eve', '--update-existing'], input: `${PASSWORD}\n`, code: 2, stderr: /for a new user/ },
    { name: 'too short for PASSWORD_MIN_LENGTH', args: ['--email', 'bob@example.com'], env: { PASSWORD_MIN_LENGTH: '12' }, input: 'short pass\n', code: 1, stderr: /the password must be at least 12 characters/ },
    { name: 'a common password', args: ['--email', 'bob@example.com'], input: 'password123\n', code: 1, stderr: /too common/ },
    { name: 'too similar to the email', args: ['--email', 'lovelace.ada@example.com'], input: 'lovelace.ada\n', code: 1, stderr: /too similar/ }
  ]
  for (const c of cases) {
    const { context, output } = captureContext({ ...refusedEnv, ...c.env }, c.input ?? '')
    t.equal(await runCommand(['createsuperuser', ...c.args], context), c.code, `${c.name}: exit ${c.code}`)
    t.match(output.stderr, c.stderr, `${c.name}: says why`)
    t.notOk(`${output.stdout}${output.stderr}`.includes(PASSWORD), `${c.name}: the would-be password is never echoed`)
  }
  t.notOk(existsSync(neverOpened), 'the database was never opened, so nothing was created')
})

t.test('as a process: the environment is never read for the password', async (t) => {
  const res = await runCli(['createsuperuser', '--email', 'eve@example.com'], {
    env: { ...refusedEnv, PASSWORD, AUTHD_PASSWORD: PASSWORD, ADMIN_PASSWORD: PASSWORD, DJANGO_SUPERUSER_PASSWORD: PASSWORD },
    input: ''
  })
  t.equal(res.code, 1, 'with nothing on stdin it fails, whatever the environment holds')
  t.match(res.stderr, /createsuperuser: no password on stdin/)
  t.notOk(existsSync(neverOpened), 'nothing was created')
})

// script(1) from util-linux gives the command a real terminal, as when an operator types.
const hasScript = spawnSync('script', ['--version']).status === 0
const skip = hasScript ? false : 'script(1) is not installed'

/** `authd createsuperuser …` at a terminal; `answers` are typed, each after its prompt appears. */
async function atTerminal (args: string, env: Record<string, string>, answers: string[]): Promise<{ code: unknown, output: string }> {
  const child = spawn('script', ['-qec', `${process.execPath} --import tsx src/cli.ts createsuperuser ${args}`, '/dev/null'], {
    cwd: ROOT, env: { ...process.env, ...env, LOG_LEVEL: 'silent' }, stdio: ['pipe', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
  const closed = new Promise((resolve) => child.once('close', resolve))
  // Bounded by the test's timeout; each wait ends as soon as the prompt has appeared.
  const waitFor = async (text: string) => { while (!output.includes(text)) await new Promise((resolve) => setTimeout(resolve, 50)) }
  const prompts = ['Password: ', 'Password (again): ']
  for (const [i, answer] of answers.entries()) {
    await waitFor(prompts[i]!)
    child.stdin.write(`${answer}\r`)
  }
  return { code: await closed, output }
}

t.test('at a terminal the password is asked twice and not echoed', { skip }, async (t) => {
  const { env, withApp } = await commandDb(t)
  const typed = 'typed at the terminal 2024 xyz'
  const { code, output } = await atTerminal('--email tty@example.com', env, [typed, typed])
  t.equal(code, 0, output)
  t.match(output, /admin created: tty@example\.com/)
  t.notOk(output.includes(typed), 'what was typed never appears on the terminal')
  await withApp(t, async (app) => {
    t.equal((await login(app, 'tty@example.com', typed)).statusCode, 200, 'the typed password works')
  })
})

t.test('at a terminal, two different answers are refused', { skip }, async (t) => {
  const { code, output } = await atTerminal('--email tty2@example.com', refusedEnv, ['first answer 1234 abc', 'second answer 5678 def'])
  t.equal(code, 1, output)
  t.match(output, /the two passwords do not match/)
  t.notOk(existsSync(neverOpened), 'nothing was opened')
})
