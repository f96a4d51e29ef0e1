// `authd clients` against a real data directory (PGlite) or database (PostgreSQL): create prints
// the client id and the secret once, and that secret gets a token; list shows no secret;
// rotate-secret replaces it; disable stops the client. Usage errors exit 2, unknown clients 1.
import t from 'tap'
import { runCommand } from '../../src/commands/index.js'
import { oauthPost } from '../routes/oauth/oauth-helper.js'
import { captureContext, runCli } from './run-cli.js'
import { commandDb } from './superuser-db.js'

const { env, withApp } = await commandDb(t)
const run = async (args: string[]) => {
  const { context, output } = captureContext(env)
  const code = await runCommand(['clients', ...args], context)
  return { code, ...output }
}
const grant = { grant_type: 'client_credentials' }
let clientId = ''
let secret = ''

t.test('create (as an operator runs it): the id and the secret, once; the secret gets a token', async (t) => {
  const res = await runCli(['clients', 'create', 'orders service', '--scope', 'orders:read', '--scope', 'orders:write', '--audience', 'svc-x'], { env })
  t.equal(res.code, 0, res.stderr)
  clientId = /client_id: +(svc_\S+)/.exec(res.stdout)?.[1] ?? ''
  secret = /client_secret: +(\S+)/.exec(res.stdout)?.[1] ?? ''
  t.match(clientId, /^svc_/)
  t.match(secret, /^[A-Za-z0-9_-]{43}$/)
  t.match(res.stdout, /shown this once/)
  await withApp(t, async (app, db) => {
    const token = await oauthPost(app, 'token', { clientId, secret }, { ...grant, scope: 'orders:read' })
    t.equal(token.statusCode, 200, token.body)
    t.match(await db.prisma.auditEvent.findFirst({ where: { type: 'client_created' } }), { actorId: null, detail: { clientId, via: 'cli', scopes: ['orders:read', 'orders:write'], audience: ['svc-x'] } })
  })
})

t.test('list: the clients, never a secret', async (t) => {
  const res = await run(['list'])
  t.equal(res.code, 0)
  t.match(res.stdout, new RegExp(`${clientId} +"orders service" +scopes: orders:read orders:write +audience: svc-x +enabled`))
  t.notOk(res.stdout.includes(secret))
})

t.test('rotate-secret: a new secret; the old one is refused', async (t) => {
  const res = await run(['rotate-secret', clientId])
  t.equal(res.code, 0, res.stderr)
  const fresh = /client_secret: +(\S+)/.exec(res.stdout)?.[1] ?? ''
  t.not(fresh, secret)
  await withApp(t, async (app) => {
    t.equal((await oauthPost(app, 'token', { clientId, secret }, grant)).statusCode, 401, 'the old secret')
    t.equal((await oauthPost(app, 'token', { clientId, secret: fresh }, grant)).statusCode, 200, 'the new one')
  })
  secret = fresh
})

t.test('disable: the client is refused; list says so; rotating it is refused', async (t) => {
  const res = await run(['disable', clientId])
  t.equal(res.code, 0, res.stderr)
  t.match(res.stdout, /client disabled: .*disabled \d{4}-/)
  await withApp(t, async (app) => {
    t.equal((await oauthPost(app, 'token', { clientId, secret }, grant)).statusCode, 401)
  })
  t.match((await run(['list'])).stdout, /disabled/)
  const rotate = await run(['rotate-secret', clientId])
  t.equal(rotate.code, 1)
  t.match(rotate.stderr, /no enabled client/)
  const unknown = await run(['disable', 'svc_AAAAAAAAAAAAAAAAAAAAAA'])
  t.equal(unknown.code, 1)
  t.match(unknown.stderr, /no client with this id/)
})

t.test('a client without scopes or audience', async (t) => {
  const res = await run(['create', 'bare'])
  t.equal(res.code, 0)
  t.match(res.stdout, /scopes: - +audience: \(JWT_AUDIENCE\)/)
})

t.test('usage errors exit 2 without touching the database', async (t) => {
  for (const args of [[], ['frobnicate'], ['create'], ['create', ''], ['create', 'x', 'y'], ['create', 'x', '--scope', 'has space'], ['create', 'x', '--audience', 'a b'], ['list', 'x'], ['list', '--scope', 'a'], ['rotate-secret'], ['disable', 'not-an-id'], ['create', 'x', '--secret', 'mine']]) {
    const res = await run(args)
    t.equal(res.code, 2, `${args.join(' ')}: ${res.stderr}`)
  }
  const help = await run(['--help'])
  t.equal(help.code, 0)
  t.match(help.stdout, /authd clients create NAME/)
})

t.test('an empty list', async (t) => {
  const { env: fresh } = await commandDb(t)
  const { context, output } = captureContext(fresh)
  t.equal(await runCommand(['clients', 'list'], context), 0)
  t.equal(output.stdout, 'no clients\n')
})

t.test('a failure that is not a refusal is not turned into one', async (t) => {
  const { context } = captureContext(env)
  context.out = () => { throw new Error('stdout is gone') }
  await t.rejects(runCommand(['clients', 'list'], context), { message: 'stdout is gone' })
})
