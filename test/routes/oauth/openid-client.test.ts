// A library other people use: openid-client 6 (panva) finds authd from its issuer URL alone
// (OpenID discovery), gets a service token with the client credentials grant and introspects
// tokens against a listening authd, with both of its client authentication methods; jose then
// verifies the token from the discovered jwks_uri and issuer.
import t from 'tap'
import * as client from 'openid-client'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { build, register } from '../../helper.js'
import { decodePayload } from '../../jwt-helper.js'
import { createVerifier } from '../../../packages/verifier/src/index.js'
import { freePort } from '../../support/processes.js'
import { newClient } from './oauth-helper.js'

const port = await freePort()
const base = `http://127.0.0.1:${port}`
const app = await build(t, { PUBLIC_URL: base })
await app.listen({ port, host: '127.0.0.1' })
const svc = await newClient(app, { name: 'openid-client', scopes: ['orders:read', 'orders:write'], audience: ['orders'] })

/** openid-client's discovery() from the issuer URL; authd in this test listens on plain http on loopback. */
async function configuration (auth?: client.ClientAuth): Promise<client.Configuration> {
  return await client.discovery(new URL(base), svc.clientId, svc.secret, auth, { execute: [client.allowInsecureRequests] })
}

t.test('discovery from the issuer URL: the endpoints it found; the token verifies from jwks_uri with the issuer', async (t) => {
  const config = await configuration()
  const metadata = config.serverMetadata()
  t.match(metadata, { issuer: base, jwks_uri: `${base}/.well-known/jwks.json`, token_endpoint: `${base}/oauth/token`, introspection_endpoint: `${base}/oauth/introspect`, revocation_endpoint: `${base}/oauth/revoke` })
  const tokens = await client.clientCredentialsGrant(config, { scope: 'orders:read' })
  t.equal(decodePayload(tokens.access_token).iss, metadata.issuer, 'discovery\'s issuer is the token\'s iss')
  const jwks = createRemoteJWKSet(new URL(metadata.jwks_uri as string))
  const { payload } = await jwtVerify(tokens.access_token, jwks, { issuer: metadata.issuer, audience: 'orders', typ: 'at+jwt' })
  t.match(payload, { sub: svc.clientId, client_id: svc.clientId, scope: 'orders:read', aud: 'orders' })
  await t.rejects(jwtVerify(tokens.access_token, jwks, { issuer: metadata.issuer, audience: 'billing' }), 'a verifier for another audience refuses it')
  const user = await register(app)
  t.ok(await jwtVerify(user.tokens.access, jwks, { issuer: metadata.issuer, audience: 'authd' }), 'a user\'s token verifies the same way')
  // authd's verifier, configured from the same two discovered values: users' tokens for its audience only.
  const verifierFor = (audience: string) => createVerifier({ jwksUrl: metadata.jwks_uri as string, issuer: metadata.issuer, audience })
  t.match(await verifierFor('authd').verify(user.tokens.access), { sub: user.user.id })
  await t.rejects(verifierFor('billing').verify(user.tokens.access), { code: 'token_invalid' }, 'a billing verifier refuses a token for authd')
  await t.rejects(verifierFor('orders').verify(tokens.access_token), { code: 'token_invalid' }, 'a service token (no session) is not a user\'s, even for its audience')
  t.match(await createVerifier({ issuer: base, audience: 'authd' }).verify(user.tokens.access), { sub: user.user.id }, 'configured with the issuer URL alone')
  // The RFC 8414 name, as openid-client fetches it with algorithm 'oauth2'.
  const oauth2 = await client.discovery(new URL(base), svc.clientId, svc.secret, undefined, { algorithm: 'oauth2', execute: [client.allowInsecureRequests] })
  t.same(oauth2.serverMetadata(), metadata)
})

t.test('clientCredentialsGrant and tokenIntrospection (client_secret_post, openid-client\'s default)', async (t) => {
  const config = await configuration()
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
  const config = await configuration(client.ClientSecretBasic(svc.secret))
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
