// The proof against real Django: Debian's Django (python3-django, with python3-argon2,
// python3-bcrypt and python3-djangorestframework-simplejwt) builds a throwaway project (test/django/django_project.py: Django's own
// migrations, createsuperuser, create_user with each hasher it ships, a group, an inactive user,
// one without an address, two addresses differing only in case, an unusable password), on
// SQLite and on PostgreSQL; `authd import django --from …` runs as an operator runs it; every
// user then logs in to authd with their original password, a wrong one fails, and after the
// login the stored hash is authd's. The Django side of a side-by-side switch too: DRF with simplejwt
// set up as docs/moving-from-django.md says accepts authd's access tokens from its JWKS. Run by `npm run test:django` (.ci/run installs Django).
// Without Django the file is skipped with a message; with CI=true it fails instead.
import { spawn, spawnSync } from 'node:child_process'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pg from 'pg'
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { login, TEST_ISSUER } from '../helper.js'
import { decodePayload } from '../jwt-helper.js'
import { runCli } from '../commands/run-cli.js'
import { commandDb } from '../commands/superuser-db.js'

const PYTHON = process.env.DJANGO_PYTHON ?? '/usr/bin/python3'
const SCRIPT = new URL('./django_project.py', import.meta.url).pathname
const PG_ADMIN_URL = process.env.DJANGO_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres'
const CI = process.env.CI === 'true'

interface Made { django: string, hashers: string[], users: Array<{ login: string, password: string, hasher: string, roles: string[] }> }

function requireDjango (): boolean {
  const probe = spawnSync(PYTHON, ['-c', 'import django, rest_framework_simplejwt'], { encoding: 'utf8' })
  if (probe.status === 0) return true
  const message = `Django or simplejwt is not importable by ${PYTHON} (apt-get install -y python3-django python3-argon2 python3-bcrypt python3-psycopg2 python3-djangorestframework-simplejwt, or set DJANGO_PYTHON)`
  if (CI) throw new Error(`${message} (CI=true: not skipping)`)
  t.plan(0, message)
  return false
}

function makeProject (target: string): Made {
  const res = spawnSync(PYTHON, [SCRIPT, 'users', target], { encoding: 'utf8', timeout: 120_000 })
  if (res.status !== 0) throw new Error(`django_project.py failed: ${res.stderr}`)
  return JSON.parse(res.stdout) as Made
}

/** Runs django_project.py `verify` (DRF + simplejwt as the docs set them up) on `token`; async, so this process can serve the JWKS meanwhile. */
async function simplejwtVerify (jwksUrl: string, alg: string, token: string): Promise<{ id?: string, roles?: string[], error?: string }> {
  // The issuer the test apps are configured with (test/helper.ts), as an operator would copy it.
  const child = spawn(PYTHON, [SCRIPT, 'verify', jwksUrl, alg, TEST_ISSUER], { stdio: ['pipe', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.setEncoding('utf8').on('data', (c: string) => { out += c })
  child.stderr.setEncoding('utf8').on('data', (c: string) => { err += c })
  child.stdin.end(token)
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve))
  if (code !== 0) throw new Error(`verify exited ${code}: ${err}`)
  return JSON.parse(out) as { id?: string, roles?: string[], error?: string }
}

/** The Django side of "running both side by side": simplejwt's JWK_URL pointed at authd's JWKS accepts authd's access tokens, and only them. */
async function checkSimplejwt (t: Test, app: FastifyInstance, access: string, refresh: string, userId: string): Promise<void> {
  const server = createServer((req, res) => {
    void app.inject({ method: 'GET', url: req.url ?? '/' }).then((reply) => {
      res.writeHead(reply.statusCode, { 'content-type': String(reply.headers['content-type'] ?? 'application/json') })
      res.end(reply.body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.close() })
  const jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`
  const alg = (JSON.parse(Buffer.from(access.split('.')[0]!, 'base64url').toString()) as { alg: string }).alg
  t.same(await simplejwtVerify(jwksUrl, alg, access), { id: userId, roles: ['admin'] }, `simplejwt (JWK_URL, ${alg}) accepts authd's access token: user id = sub, roles`)
  const [head, body, signature] = access.split('.') as [string, string, string]
  const forged = `${head}.${Buffer.from(JSON.stringify({ ...decodePayload(access), roles: ['admin', 'owner'] })).toString('base64url')}.${signature}`
  t.same(await simplejwtVerify(jwksUrl, alg, forged), { error: 'InvalidToken' }, 'an altered token is refused')
  t.same(await simplejwtVerify(jwksUrl, alg, refresh), { error: 'InvalidToken' }, 'a refresh token is refused')
  t.ok(body.length > 0)
}

async function importAndLogIn (t: Test, from: string, checkDjangoSide = false): Promise<void> {
  const made = makeProject(from)
  t.comment(`Django ${made.django}; hashers: ${made.hashers.join(', ')}`)
  for (const wanted of ['pbkdf2_sha256', 'bcrypt_sha256', 'argon2']) t.ok(made.hashers.includes(wanted), `Django wrote ${wanted} hashes`)
  const { env, withApp } = await commandDb(t)
  const res = await runCli(['import', 'django', '--from', from], { env })
  t.equal(res.code, 0, res.stderr)
  t.match(res.stdout, new RegExp(`imported: ${made.users.length + 2}\\n`), 'every user with a usable address (the dup winner and the unusable one too)')
  t.match(res.stdout, /skipped: {2}3 \(no_email 1, duplicate_email 1, inactive 1\)/)
  t.match(res.stdout, /without a password: 1\n/)
  t.notOk(res.stdout.includes('$'), 'no hash printed')

  await withApp(t, async (app, db) => {
    for (const user of made.users) {
      const stored = await db.prisma.user.findUniqueOrThrow({ where: { email: user.login } })
      t.equal(stored.passwordHash.split('$')[0], user.hasher, `${user.hasher}: Django's hash imported as is`)
      t.equal((await login(app, user.login, `${user.password}x`)).statusCode, 401, `${user.hasher}: a wrong password fails`)
      const ok = await login(app, user.login, user.password)
      t.equal(ok.statusCode, 200, `${user.hasher}: logs in with the password given to Django`)
      t.same(decodePayload(ok.json().tokens.access).roles, user.roles, `${user.hasher}: roles ${user.roles.join(', ')}`)
      const after = await db.prisma.user.findUniqueOrThrow({ where: { id: stored.id } })
      t.match(after.passwordHash, /^bcrypt_sha256\$\$2b\$04\$/, `${user.hasher}: stored in authd's format after the login`)
      if (checkDjangoSide && user.roles.includes('admin')) await checkSimplejwt(t, app, ok.json().tokens.access, ok.json().tokens.refresh, stored.id)
    }
    t.equal((await login(app, 'unusable@example.com', '')).statusCode, 400, 'an empty password is refused before any check')
    t.equal((await login(app, 'unusable@example.com', 'correct horse battery staple')).statusCode, 401, 'an unusable Django password matches nothing')
    t.equal((await login(app, 'inactive@example.com', 'correct horse battery staple')).statusCode, 401, 'the inactive user was not imported')
  })
  const again = await runCli(['import', 'django', '--from', from], { env })
  t.match(again.stdout, /imported: 0\n/, 'a re-run imports nobody twice')
}

if (requireDjango()) {
  t.test('a Django project on SQLite', async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'authd-django-'))
    t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
    await importAndLogIn(t, path.join(dir, 'db.sqlite3'), true)
  })

  t.test('a Django project on PostgreSQL', async (t) => {
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL })
    try {
      await admin.connect()
    } catch (error) {
      if (CI) throw error
      t.plan(0, `PostgreSQL not reachable at ${PG_ADMIN_URL}: ${(error as Error).message}`)
      return
    }
    const name = `authd_django_${process.pid}_${Date.now()}`
    await admin.query(`CREATE DATABASE ${name}`)
    t.teardown(async () => {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      await admin.end()
    })
    const url = new URL(PG_ADMIN_URL)
    url.pathname = `/${name}`
    await importAndLogIn(t, url.toString())
  })
}
