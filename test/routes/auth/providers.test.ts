// Sign in with an OpenID provider from a browser: a real provider (oidc-provider) started here,
// its login and consent pages driven like a browser would, authd's start and callback.
import t from 'tap'
import { buildWithDatabase, register, login, assertProblem } from '../../helper.js'
import { startOidcProvider } from '../../support/oidc-provider.js'
import { FRONTEND, PUBLIC_URL, callback, claimsOf, enableTotp, errorOf, oidcClients, oidcEntry, providerAccount, signInWith, start } from '../../support/provider-flows.js'
import { totpCodeAt } from '../../../src/services/totp.js'

const op = await startOidcProvider({ clients: oidcClients() })
t.teardown(op.close)

const ORIGIN = FRONTEND
const { app, database } = await buildWithDatabase(t, {
  AUTH_PROVIDERS: JSON.stringify([oidcEntry(op)]),
  PUBLIC_URL,
  FRONTEND_URL: FRONTEND,
  CORS_ORIGINS: ORIGIN
})

t.test('smoke', async (t) => {
  const account = providerAccount(op, { email: 'smoke@example.com', email_verified: true })
  const res = await signInWith(app, op, account, { next: '/dashboard' })
  t.equal(res.statusCode, 302)
  t.equal(res.headers.location, `${FRONTEND}/dashboard`)
  console.log(res.headers.location, res.cookies.map((c) => c.name))
})
