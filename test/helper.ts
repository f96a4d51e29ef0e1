// Shared test setup: build(t) gives a fresh authd (fresh database, silent logs) per test.
// Database: in-memory PGlite by default; a throw-away database on the PostgreSQL server of
// TEST_DATABASE_URL when that is set. Rate-limit counters go to Redis when TEST_REDIS_URL is set.
// With TEST_POOLER_URL too (a transaction-mode PgBouncer in front of that server, `?pgbouncer=true`),
// build()'s app reaches its database through the pooler and migrates it directly.
import { generateKeyPairSync, randomBytes, randomInt, randomUUID } from 'node:crypto'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import pg from 'pg'
import { buildApp, type BuildOptions } from '../src/app.js'
import { ConfigError, parseConfig, type Config } from '../src/config.js'
import { openDatabase, type Database } from '../src/db/database.js'
import { signingKeyFromPem, type KeyMaterial } from '../src/services/keys.js'
import { giveBackPGlite, takePGlite } from './pglite-template.js'

export interface Test {
  teardown (fn: () => unknown): void
  testdir (fixture?: unknown): string
}

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? ''
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? ''
export const onPostgres = TEST_DATABASE_URL !== ''
export const TEST_POOLER_URL = onPostgres ? process.env.TEST_POOLER_URL ?? '' : ''

/** The database of `directUrl` through the pooler of TEST_POOLER_URL (its query, e.g. pgbouncer=true, kept). */
export function throughPooler (directUrl: string): string {
  const url = new URL(TEST_POOLER_URL)
  url.pathname = new URL(directUrl).pathname
  return url.toString()
}

let keysPromise: Promise<KeyMaterial> | undefined
/** One RSA key per test process: generating one per test would dominate the run time. */
export async function testKeys (): Promise<KeyMaterial> {
  keysPromise ??= (async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    return {
      access: await signingKeyFromPem(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()),
      refreshSecret: randomBytes(32)
    }
  })()
  return await keysPromise
}

/** A database URL of a new, empty PostgreSQL database that is dropped at teardown. */
export async function freshPostgresUrl (t: Test): Promise<string> {
  const name = `authd_test_${randomUUID().replaceAll('-', '')}`
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL })
  await admin.connect()
  await admin.query(`CREATE DATABASE "${name}"`)
  await admin.end()
  t.teardown(async () => {
    const c = new pg.Client({ connectionString: TEST_DATABASE_URL })
    await c.connect()
    await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
    await c.end()
  })
  const url = new URL(TEST_DATABASE_URL)
  url.pathname = `/${name}`
  return url.toString()
}

/** The ConfigError that parsing `env` must raise (fails the test when it parses). */
export function configError (env: Record<string, string>): ConfigError {
  try {
    parseConfig(env)
  } catch (error) {
    if (error instanceof ConfigError) return error
    throw error
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(env)}`)
}

export function testConfig (t: Test, env: Record<string, string> = {}): Config {
  return parseConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATA_DIR: t.testdir(),
    BCRYPT_COST: '4',
    RATE_LIMIT_ENABLED: 'false',
    REDIS_URL: TEST_REDIS_URL,
    // Each app counts in a Redis key space of its own: test files run in parallel on one Redis,
    // and one file's registrations must not spend another's budget. Apps that must share a
    // budget (two instances) are given one namespace explicitly.
    RATE_LIMIT_NAMESPACE: `authd:rl:test:${randomUUID()}:`,
    ...env
  })
}

/**
 * The issuer (`iss`) of build(t)'s tokens: the development default of PUBLIC_URL for HOST 0.0.0.0
 * and PORT 3000 (config.ts publicBaseUrl). An app given PUBLIC_URL or JWT_ISSUER has its own.
 */
export const TEST_ISSUER = 'http://localhost:3000'

export interface Built {
  app: FastifyInstance
  config: Config
  database: Database
}

/** A ready authd on a fresh database; closed at teardown. `env` overrides config variables. */
export async function build (t: Test, env: Record<string, string> = {}, options: BuildOptions = {}): Promise<FastifyInstance> {
  return (await buildWithDatabase(t, env, options)).app
}

export async function buildWithDatabase (t: Test, env: Record<string, string> = {}, options: BuildOptions = {}): Promise<Built> {
  const config = testConfig(t, env)
  const url = onPostgres ? await freshPostgresUrl(t) : 'memory://'
  const pglite = options.database === undefined && !onPostgres ? await takePGlite() : undefined
  const database = options.database ?? await openDatabase({
    ...(TEST_POOLER_URL === '' ? { url } : { url: throughPooler(url), directUrl: url }),
    dataDir: config.DATA_DIR,
    poolSize: 30,
    migrate: true,
    ...(pglite === undefined ? {} : { pglite })
  })
  // A kept PGlite outlives its Database; a test that closes the database (an outage) closes the
  // PGlite too, as a real close would, and the teardown then does not keep it.
  const releaseDatabase = database.close
  if (pglite !== undefined) database.close = async () => { await releaseDatabase(); await pglite.close() }
  const app = await buildApp(config, { keys: await testKeys(), ...options, database })
  // A database passed in belongs to the caller, who closes it; one opened here is closed here.
  t.teardown(async () => {
    await app.close()
    if (options.database === undefined) await releaseDatabase()
    if (pglite !== undefined) await giveBackPGlite(pglite)
  })
  await app.ready()
  return { app, config, database }
}

let counter = 0
/** A unique, policy-abiding new account. */
export function newAccount (overrides: Partial<{ email: string, password: string, username: string, fullName: string, bio: string }> = {}) {
  counter += 1
  const id = `${process.pid}${counter}${randomBytes(3).toString('hex')}`
  // The password must not contain the id: it would be too similar to the email and username
  // (password_too_similar); its own random number keeps it (practically) unique.
  return { email: `user${id}@example.com`, password: `correct horse battery ${randomInt(1_000_000)}`, username: `user_${id}`, ...overrides }
}

export interface AppTokens { tokenType: string, access: string, accessExpiresIn: number, refresh: string, refreshExpiresIn: number }
export interface Session { user: Record<string, unknown> & { id: string, email: string }, tokens: AppTokens, password: string, email: string }

export async function register (app: FastifyInstance, overrides: Parameters<typeof newAccount>[0] = {}): Promise<Session> {
  const account = newAccount(overrides)
  const res = await app.inject({ method: 'POST', url: '/v1/app/auth/register', payload: account })
  if (res.statusCode !== 201) throw new Error(`register failed: ${res.statusCode} ${res.body}`)
  return { ...res.json(), password: account.password, email: account.email }
}

export async function login (app: FastifyInstance, loginName: string, password: string): Promise<LightMyRequestResponse> {
  return await app.inject({ method: 'POST', url: '/v1/app/auth/login', payload: { login: loginName, password } })
}

export async function refresh (app: FastifyInstance, token: string): Promise<LightMyRequestResponse> {
  return await app.inject({ method: 'POST', url: '/v1/app/auth/refresh', payload: { refresh: token } })
}

export async function me (app: FastifyInstance, access: string): Promise<LightMyRequestResponse> {
  return await app.inject({ method: 'GET', url: '/v1/users/me', headers: { authorization: `Bearer ${access}` } })
}

/** Asserts an RFC 9457 problem reply with the given status and code. */
export function assertProblem (t: { equal: (a: unknown, b: unknown, m: string) => void, match: (a: unknown, b: unknown, m: string) => void }, res: LightMyRequestResponse, status: number, code: string): void {
  t.equal(res.statusCode, status, `status ${status} (${res.body.slice(0, 300)})`)
  t.match(res.headers['content-type'], /^application\/problem\+json/, 'problem content type')
  const body = res.json()
  t.equal(body.code, code, `code ${code}`)
  t.equal(body.status, status, 'status in body')
  t.match(body, { type: String, title: String, detail: String }, 'problem members')
}

/** The public user fields of API.md (sorted): what every user in an answer has, no more. */
export const USER_FIELDS = ['bio', 'birthDate', 'createdAt', 'email', 'emailVerified', 'fullName', 'id', 'isActive', 'lastLoginAt', 'roles', 'updatedAt', 'username']
export const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/

/**
 * A user just registered with `account`, as API.md shapes it (the answer of register and of
 * GET /v1/users/me): exactly the public fields, an opaque id, what was registered, no birth
 * date, no roles, unverified, active, ISO times. lastLoginAt is the caller's to check.
 */
export function assertNewUser (
  t: Record<'same' | 'equal' | 'match' | 'notMatch', (found: unknown, wanted: unknown, message: string) => void>,
  user: Record<string, unknown>,
  account: { email: string, username: string, fullName: string, bio: string }
): void {
  t.same(Object.keys(user).sort(), USER_FIELDS, 'exactly the public user fields')
  t.equal(typeof user.id, 'string', 'id is a string')
  t.notMatch(user.id, /^\d+$/, 'id is opaque, not a sequential integer')
  t.equal(user.email, account.email, 'email as registered')
  t.equal(user.username, account.username, 'username as registered')
  t.equal(user.fullName, account.fullName, 'fullName as registered')
  t.equal(user.bio, account.bio, 'bio as registered')
  t.equal(user.birthDate, null, 'no birth date')
  t.same(user.roles, [], 'no roles')
  t.equal(user.emailVerified, false, 'email not verified yet')
  t.equal(user.isActive, true, 'active')
  t.match(user.createdAt, ISO_INSTANT, 'createdAt is ISO-8601')
  t.match(user.updatedAt, ISO_INSTANT, 'updatedAt is ISO-8601')
}
