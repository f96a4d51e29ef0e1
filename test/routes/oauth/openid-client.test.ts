// A library other people use: openid-client 6 (panva) gets a service token with the client
// credentials grant and introspects tokens against a listening authd, with both of its client
// authentication methods. No discovery document yet: the endpoints are configured by hand.
import t from 'tap'
import * as client from 'openid-client'
import { build, register } from '../../helper.js'
import { freePort } from '../../support/processes.js'
import { newClient } from './oauth-helper.js'

const app = await build(t)
const port = await freePort()
await app.listen({ port, host: '127.0.0.1' })
const base = `http://127.0.0.1:${port}`
const svc = await newClient(app, { name: 'openid-client', scopes: ['orders:read', 'orders:write'] })

function configuration (auth?: client.ClientAuth): client.Configuration {
  const config = new client.Configuration({
    issuer: base,
    token_endpoint: `${base}/oauth/token`,
    introspection_endpoint: `${base}/oauth/introspect`,
    revocation_endpoint: `${base}/oauth/revoke`
  }, svc.clientId, svc.secret, auth)
  // authd in this test listens on plain http on loopback.
  client.allowInsecureRequests(config)
  return config
}

t.test('clientCredentialsGrant and tokenIntrospection (client_secret_post, openid-client\'s default)', async (t) => {
  const config = configuration()
  const tokens = await client.clientCredentialsGrant(config, { scope: 'orders:read' })
  t.match(tokens, { token_type: 'bearer', scope: 'orders:read', expires_in: app.config.ACCESS_TOKEN_TTL })
  t.notOk(tokens.refresh_token, 'no refresh token')
  const own = await client.tokenIntrospection(config, tokens.access_token)
  t.match(own, { active: true, client_id: svc.clientId, sub: svc.clientId, scope: 'orders:read' })
  const user = await register(app)
  t.match(await client.tokenIntrospection(config, user.tokens.access), { active: true, sub: user.user.id })
  await client.tokenRevocation(config, user.tokens.refresh)
  t.same(await client.tokenIntrospection(config, user.tokens.access), { active: false }, 'revoked through openid-client: inactive')
})

t.test('client_secret_basic, and the errors as openid-client reports them', async (t) => {
  const config = configuration(client.ClientSecretBasic(svc.secret))
  t.match(await client.clientCredentialsGrant(config), { scope: 'orders:read orders:write' })
  t.match(await client.clientCredentialsGrant(config, { scope: 'admin' }).then(() => null, (error: unknown) => error), { error: 'invalid_scope', status: 400 })
  const wrong = new client.Configuration({ issuer: base, token_endpoint: `${base}/oauth/token` }, svc.clientId, 'wrong-secret', client.ClientSecretBasic('wrong-secret'))
  client.allowInsecureRequests(wrong)
  // RFC 6749 §5.2: a failed Basic authentication is a 401 with a Basic challenge, which
  // openid-client reports as such.
  await t.rejects(client.clientCredentialsGrant(wrong), { name: 'WWWAuthenticateChallengeError', status: 401, cause: [{ scheme: 'basic', parameters: { realm: 'authd' } }] })
  const wrongPost = new client.Configuration({ issuer: base, token_endpoint: `${base}/oauth/token` }, svc.clientId, 'wrong-secret')
  client.allowInsecureRequests(wrongPost)
  t.match(await client.clientCredentialsGrant(wrongPost).then(() => null, (error: unknown) => error), { error: 'invalid_client', status: 401 }, 'in the body: the §5.2 error itself')
})
