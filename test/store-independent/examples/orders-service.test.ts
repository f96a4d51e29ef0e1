// The example in examples/orders-service against a live authd, over real HTTP: authd listens on
// a free port, the orders service fetches authd's JWKS from it, and a client registers and logs
// in through authd and calls the orders service with the access token. Tokens the orders service
// must refuse are made the way an attacker or a stale client would present them. The signing key
// id is read from the live JWKS (not authd's internals); the test key is only used to sign.
import { spawn } from 'node:child_process'
import { createPublicKey } from 'node:crypto'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { SignJWT, exportJWK, type JWTPayload } from 'jose'
import { build, newAccount, testKeys } from '../../helper.js'
import { flipSignatureChar, withPayload } from '../../jwt-helper.js'
import { buildOrdersService } from '../../../examples/orders-service/src/app.js'
import { freePort } from '../../support/processes.js'

const exampleDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../examples/orders-service')

// authd's issuer is its public URL: here, the address it listens on.
const port = await freePort()
const authdUrl = `http://127.0.0.1:${port}`
const authd = await build(t, { PUBLIC_URL: authdUrl })
await authd.listen({ host: '127.0.0.1', port })

const orders = await buildOrdersService({ authdUrl })
t.teardown(() => orders.close())
const ordersUrl = await orders.listen({ host: '127.0.0.1', port: 0 })

interface Tokens { access: string, refresh: string }

async function postJson (url: string, body: unknown): Promise<Response> {
  return await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
}

/** Registers through authd over HTTP, then logs in: a user id and a fresh token pair. */
async function registerAndLogin (): Promise<{ userId: string, tokens: Tokens }> {
  const account = newAccount()
  const registered = await postJson(`${authdUrl}/v1/app/auth/register`, account)
  if (registered.status !== 201) throw new Error(`register: ${registered.status} ${await registered.text()}`)
  const loggedIn = await postJson(`${authdUrl}/v1/app/auth/login`, { login: account.email, password: account.password })
  if (loggedIn.status !== 200) throw new Error(`login: ${loggedIn.status} ${await loggedIn.text()}`)
  const body = await loggedIn.json() as { user: { id: string }, tokens: Tokens }
  return { userId: body.user.id, tokens: body.tokens }
}

async function getOrders (base: string, authorization?: string): Promise<Response> {
  return await fetch(`${base}/orders`, { headers: authorization === undefined ? {} : { authorization } })
}

/** The kid under which authd's live JWKS publishes the test signing key. */
async function liveKidOfTestKey (): Promise<string> {
  const keys = await testKeys()
  const { n } = await exportJWK(createPublicKey(keys.access.privateKey))
  const jwks = await (await fetch(`${authdUrl}/.well-known/jwks.json`)).json() as { keys: Array<{ kid: string, n?: string }> }
  const published = jwks.keys.find((k) => k.n === n)
  if (published === undefined) throw new Error('the test signing key is not in the live JWKS')
  return published.kid
}

/** A token signed with the test key, as authd would sign one, with these claims. */
async function signWithTestKey (claims: JWTPayload): Promise<string> {
  const keys = await testKeys()
  return await new SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid: await liveKidOfTestKey(), typ: 'at+jwt' })
    .sign(keys.access.privateKey)
}

async function assertRefused (t: Test, res: Response, code: string, wwwAuthenticate: string): Promise<void> {
  const text = await res.text()
  t.equal(res.status, 401, `401 (${text.slice(0, 200)})`)
  t.match(res.headers.get('content-type'), /^application\/problem\+json/, 'problem JSON')
  t.equal(res.headers.get('www-authenticate'), wwwAuthenticate, 'WWW-Authenticate')
  const body = JSON.parse(text) as Record<string, unknown>
  t.equal(body.code, code, `code ${code}`)
  t.match(body, { type: String, title: String, status: 401, detail: String }, 'problem members')
  t.notOk('sub' in body, 'no claims in a refusal')
}

const INVALID = 'Bearer realm="orders", error="invalid_token"'
const { userId, tokens } = await registerAndLogin()

t.test('GET /health needs no token', async (t) => {
  const res = await fetch(`${ordersUrl}/health`)
  t.equal(res.status, 200)
  t.same(await res.json(), { status: 'ok' })
})

t.test('an access token from authd: 200 with the caller\'s sub and roles', async (t) => {
  const res = await getOrders(ordersUrl, `Bearer ${tokens.access}`)
  t.equal(res.status, 200)
  t.same(await res.json(), { sub: userId, roles: [], orders: [] })
})

t.test('a tampered token: 401 token_invalid', async (t) => {
  await assertRefused(t, await getOrders(ordersUrl, `Bearer ${flipSignatureChar(tokens.access)}`), 'token_invalid', INVALID)
  const other = await registerAndLogin()
  await assertRefused(t, await getOrders(ordersUrl, `Bearer ${withPayload(tokens.access, (p) => ({ ...p, sub: other.userId }))}`), 'token_invalid', INVALID)
  const [h, , s] = tokens.access.split('.')
  const swapped = `${h}.${other.tokens.access.split('.')[1]}.${s}`
  await assertRefused(t, await getOrders(ordersUrl, `Bearer ${swapped}`), 'token_invalid', INVALID)
  await assertRefused(t, await getOrders(ordersUrl, `Bearer ${withPayload(tokens.access, (p) => ({ ...p, roles: ['admin'] }))}`), 'token_invalid', INVALID)
})

t.test('an expired token signed with authd\'s key: 401 token_expired', async (t) => {
  const claims = JSON.parse(Buffer.from(tokens.access.split('.')[1] as string, 'base64url').toString()) as JWTPayload
  const past = Math.floor(Date.now() / 1000) - 600
  const expired = await signWithTestKey({ ...claims, iat: past, exp: past + 300 })
  await assertRefused(t, await getOrders(ordersUrl, `Bearer ${expired}`), 'token_expired', INVALID)
  const fresh = await signWithTestKey({ ...claims, iat: past + 600, exp: past + 900 })
  t.equal((await getOrders(ordersUrl, `Bearer ${fresh}`)).status, 200, 'the same signing, unexpired, is accepted (the refusal was the expiry)')
})

t.test('a token for another audience, signed with authd\'s key: 401 token_invalid', async (t) => {
  const claims = JSON.parse(Buffer.from(tokens.access.split('.')[1] as string, 'base64url').toString()) as JWTPayload
  const otherAudience = await signWithTestKey({ ...claims, aud: 'other' })
  await assertRefused(t, await getOrders(ordersUrl, `Bearer ${otherAudience}`), 'token_invalid', INVALID)
})

t.test('a refresh token: 401 token_invalid', async (t) => {
  await assertRefused(t, await getOrders(ordersUrl, `Bearer ${tokens.refresh}`), 'token_invalid', INVALID)
})

t.test('no token or a malformed header: 401', async (t) => {
  await assertRefused(t, await getOrders(ordersUrl), 'authentication_required', 'Bearer realm="orders"')
  await assertRefused(t, await getOrders(ordersUrl, tokens.access), 'token_invalid', INVALID)
})

t.test('the example runs as its README says (npm start: src/server.ts) against the live authd', async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: exampleDir,
    env: { ...process.env, AUTHD_URL: authdUrl, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    await exited
  })
  // Fastify logs "Server listening at http://127.0.0.1:<port>" once it listens.
  const url = await new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out)
      if (match !== null) resolve(match[1] as string)
    })
    void exited.then((code) => reject(new Error(`example exited (${code}) before listening: ${stderr}`)))
  })
  t.equal((await fetch(`${url}/health`)).status, 200, '/health')
  const res = await getOrders(url, `Bearer ${tokens.access}`)
  t.equal(res.status, 200, '/orders with the token')
  t.equal((await res.json() as { sub: string }).sub, userId)
  await assertRefused(t, await getOrders(url), 'authentication_required', 'Bearer realm="orders"')
  child.kill('SIGTERM')
  t.equal(await exited, 0, 'stops cleanly on SIGTERM')
})
