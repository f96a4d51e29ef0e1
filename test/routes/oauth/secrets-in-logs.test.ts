// No client secret, and no token sent to /oauth/*, reaches a log line, even at level trace:
// through a token request (Basic and body), introspection, revocation, failures, and an
// unexpected error whose message quotes the secret.
import { Writable } from 'node:stream'
import t from 'tap'
import { buildApp } from '../../../src/app.js'
import { openDatabase } from '../../../src/db/database.js'
import { loggerOptions } from '../../../src/logger.js'
import { freshPostgresUrl, onPostgres, register, testConfig, testKeys } from '../../helper.js'
import { pgliteTemplate } from '../../pglite-template.js'
import { FORM, newClient, oauthPost } from './oauth-helper.js'

const lines: string[] = []
const config = testConfig(t, { LOG_LEVEL: 'trace' })
const database = await openDatabase({
  url: onPostgres ? await freshPostgresUrl(t) : 'memory://',
  dataDir: config.DATA_DIR,
  poolSize: 5,
  migrate: true,
  ...(onPostgres ? {} : { pgliteTemplate: await pgliteTemplate() })
})
const stream = new Writable({ write (chunk: Buffer, _encoding, done) { lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== '')); done() } })
const app = await buildApp(config, { keys: await testKeys(), database, fastify: { logger: { ...loggerOptions(config), stream } } })
t.teardown(async () => {
  await app.close()
  await database.close()
})
await app.ready()

t.test('secrets and tokens of the OAuth endpoints are never logged', async (t) => {
  const client = await newClient(app, { scopes: ['a'] })
  const user = await register(app)
  const token = (await oauthPost(app, 'token', client, { grant_type: 'client_credentials' })).json().access_token as string
  await oauthPost(app, 'token', client, { grant_type: 'client_credentials' }, 'post')
  await oauthPost(app, 'token', { ...client, secret: `${client.secret}x` }, { grant_type: 'client_credentials' }, 'post')
  await oauthPost(app, 'introspect', client, { token: user.tokens.access })
  await oauthPost(app, 'introspect', client, { token }, 'post')
  await app.inject({ method: 'POST', url: '/oauth/token', headers: FORM, payload: `client_id=${client.clientId}&client_secret=${client.secret}&client_secret=${client.secret}` })
  const original = app.oauth.introspect
  app.oauth.introspect = async () => { throw new Error(`failed with ${client.secret} and ${user.tokens.refresh}`) }
  t.teardown(() => { app.oauth.introspect = original })
  t.equal((await oauthPost(app, 'introspect', client, { token: user.tokens.refresh }, 'post')).statusCode, 500)
  await oauthPost(app, 'revoke', client, { token: user.tokens.refresh }, 'post')
  const { secret: rotated } = await app.oauthClients.rotateSecret(client.clientId, null)

  t.ok(lines.length >= 10, `captured ${lines.length} log lines`)
  t.ok(lines.some((l) => l.includes('request failed')), 'the 500 was logged')
  const signatureOf = (jwt: string) => jwt.split('.')[2] as string
  for (const secret of [client.secret, rotated, signatureOf(token), signatureOf(user.tokens.access), signatureOf(user.tokens.refresh)]) {
    t.notOk(lines.some((l) => l.includes(secret)), `never logged: ${secret.slice(0, 6)}…`)
  }
  const basicHeader = Buffer.from(`${client.clientId}:${client.secret}`).toString('base64')
  t.notOk(lines.some((l) => l.includes(basicHeader)), 'nor the Basic header')
})
