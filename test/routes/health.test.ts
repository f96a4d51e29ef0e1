// Operations endpoints: liveness, readiness (503 problem JSON when the database is gone) and
// the JWKS other services fetch to verify access tokens.
import t from 'tap'
import { assertProblem, buildWithDatabase, testKeys } from '../helper.js'

// One app for everything but the test that really closes its database.
const { app, database } = await buildWithDatabase(t)

t.test('/healthz and /readyz answer 200 on a healthy service', async (t) => {
  const health = await app.inject({ method: 'GET', url: '/healthz' })
  t.equal(health.statusCode, 200)
  t.match(health.headers['content-type'], /^application\/json/)
  t.same(health.json(), { status: 'ok' })
  t.ok(health.headers['x-request-id'], 'carries a request id')

  const ready = await app.inject({ method: 'GET', url: '/readyz' })
  t.equal(ready.statusCode, 200)
  t.same(ready.json(), { status: 'ready' })

  // Probes are GETs; anything else is not a route.
  const post = await app.inject({ method: 'POST', url: '/readyz' })
  t.ok(post.statusCode === 404 || post.statusCode === 405, `POST /readyz is refused (${post.statusCode})`)
})

t.test('/readyz answers 503 service_unavailable while the database fails, /healthz stays 200', async (t) => {
  const realPing = database.ping
  // The database is the one handed to the app, so this is what /readyz asks.
  t.equal(app.db, database)
  database.ping = async () => { throw new Error('connect ECONNREFUSED 10.0.0.1:5432 password=hunter2') }
  t.teardown(() => { database.ping = realPing })

  const ready = await app.inject({ method: 'GET', url: '/readyz' })
  assertProblem(t, ready, 503, 'service_unavailable')
  const body = ready.json()
  t.equal(body.requestId, ready.headers['x-request-id'], 'carries the request id')
  t.notMatch(ready.body, /ECONNREFUSED|hunter2|10\.0\.0\.1/, 'the driver error is not leaked')
  t.match(ready.headers['cache-control'], /no-store/, 'a failed probe is not cached')

  t.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'the process is still alive')

  database.ping = realPing
  t.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200, 'ready again once the database answers')
})

t.test('/readyz answers 503 when the database hangs instead of failing', async (t) => {
  const realPing = database.ping
  database.ping = async () => await new Promise<void>(() => {})
  t.teardown(() => { database.ping = realPing })
  // The probe gives up on its own (after ~2 s) rather than hanging the orchestrator's request.
  assertProblem(t, await app.inject({ method: 'GET', url: '/readyz' }), 503, 'service_unavailable')
  database.ping = realPing
  t.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200, 'ready again once the database answers')
})

t.test('/readyz answers 503 after the database connection is really closed', async (t) => {
  const { app, database } = await buildWithDatabase(t)
  t.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200)
  const close = database.close.bind(database)
  await close()
  // Already closed: the teardown must not close it a second time.
  database.close = async () => {}
  const ready = await app.inject({ method: 'GET', url: '/readyz' })
  assertProblem(t, ready, 503, 'service_unavailable')
  t.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'liveness does not depend on the database')
})

t.test('GET /.well-known/jwks.json publishes the public signing key, cacheably', async (t) => {
  const keys = await testKeys()
  const res = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^application\/json/)
  const cacheControl = String(res.headers['cache-control'])
  t.match(cacheControl, /\bpublic\b/, 'public')
  t.match(cacheControl, /\bmax-age=\d+/, 'with a max-age')
  t.notMatch(cacheControl, /no-store|private/)

  const { keys: jwks } = res.json() as { keys: Array<Record<string, unknown>> }
  t.ok(Array.isArray(jwks) && jwks.length >= 1, 'at least one key')
  const key = jwks.find((k) => k.kid === keys.access.kid)
  t.ok(key, 'the signing key is published under its kid')
  t.match(key, { kty: 'RSA', kid: keys.access.kid, alg: 'RS256', use: 'sig', n: /^[A-Za-z0-9_-]+$/, e: /^[A-Za-z0-9_-]+$/ })
  t.same(key, keys.access.publicJwk, 'exactly the public JWK')
  for (const k of jwks) {
    for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) t.notOk(secret in k, `key ${String(k.kid)} has no private member "${secret}"`)
  }
  // The n of a 2048-bit modulus is 256 bytes.
  t.equal(Buffer.from(String(key?.n), 'base64url').length, 256, '2048-bit RSA modulus')

  // The kid is stable: the same set on every request.
  t.same((await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json(), res.json())
})
