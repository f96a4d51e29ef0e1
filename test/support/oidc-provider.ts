// A real OpenID provider (oidc-provider, the certified implementation) on a free port, for the
// provider sign-in tests. Its development login and consent pages are driven with plain fetch
// and a small cookie jar (`authorize`): no browser needed. Accounts are a map the test fills:
// each says which `email` and `email_verified` the provider asserts for it. The signing key is
// ours (`signingKey`), so a test can also mint ID tokens the provider could have issued — with
// the claims it wants to break.
import { generateKeyPairSync, randomUUID } from 'node:crypto'
import type { Server } from 'node:http'
import { exportJWK, importJWK, SignJWT, type JWK } from 'jose'
import Provider from 'oidc-provider'
import { freePort } from './processes.js'

export interface OidcAccount { email?: string, email_verified?: boolean }

export interface OidcClient { clientId: string, clientSecret: string, redirectUris: string[] }

export interface StartedOidcProvider {
  issuer: string
  accounts: Map<string, OidcAccount>
  /** The provider's signing key (private JWK with its kid), to mint ID tokens in tests. */
  signingKey: JWK & { kid: string }
  /**
   * Signs `accountId` in at the provider for an authorization URL and gives the consent, as a
   * user's browser would: the URL the provider finally redirects to (the client's redirect_uri
   * with code, state and iss), or its error redirect.
   */
  authorize: (authorizationUrl: string, accountId: string) => Promise<URL>
  /** Mints an ID token signed with `key` (default: the provider's own), with these claims. */
  mintIdToken: (claims: Record<string, unknown>, key?: JWK & { kid: string }) => Promise<string>
  close: () => Promise<void>
}

/** A fresh RSA signing key as a private JWK. */
export async function newSigningKey (): Promise<JWK & { kid: string }> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  return { ...await exportJWK(privateKey), kid: randomUUID(), alg: 'RS256', use: 'sig' }
}

export async function startOidcProvider (options: { clients: OidcClient[], accounts?: Record<string, OidcAccount> }): Promise<StartedOidcProvider> {
  const port = await freePort()
  const issuer = `http://127.0.0.1:${port}`
  const accounts = new Map(Object.entries(options.accounts ?? {}))
  const signingKey = await newSigningKey()
  const provider = new Provider(issuer, {
    clients: options.clients.map((client) => ({
      client_id: client.clientId,
      client_secret: client.clientSecret,
      redirect_uris: client.redirectUris,
      grant_types: ['authorization_code'],
      response_types: ['code']
    })),
    jwks: { keys: [signingKey] },
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true } },
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
    // The ID token carries the scope's claims (email), as Google's does.
    conformIdTokenClaims: false,
    cookies: { keys: ['a test cookie key that is long enough'] },
    ttl: { Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 600, IdToken: 600, AuthorizationCode: 60 },
    findAccount: async (_ctx, id) => ({
      accountId: id,
      claims: async () => ({ sub: id, ...accounts.get(id) })
    })
  })
  // Its "Use Node.js v22" and development warnings are expected here (ENVIRONMENT.md).
  const server: Server = provider.listen(port)
  await new Promise<void>((resolve) => server.once('listening', () => { resolve() }))

  async function authorize (authorizationUrl: string, accountId: string): Promise<URL> {
    const jar = new Map<string, string>()
    const redirectUri = new URL(authorizationUrl).searchParams.get('redirect_uri') ?? ''
    let url = authorizationUrl
    let body: URLSearchParams | undefined
    for (let step = 0; step < 20; step++) {
      const response = await fetch(url, {
        method: body === undefined ? 'GET' : 'POST',
        redirect: 'manual',
        headers: {
          cookie: [...jar].map(([name, value]) => `${name}=${value}`).join('; '),
          ...(body === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' })
        },
        body
      })
      for (const line of response.headers.getSetCookie()) {
        const pair = line.split(';')[0] ?? ''
        const eq = pair.indexOf('=')
        jar.set(pair.slice(0, eq).trim(), pair.slice(eq + 1))
      }
      body = undefined
      const location = response.headers.get('location')
      if (location !== null) {
        const next = new URL(location, url)
        await response.arrayBuffer()
        if (`${next.origin}${next.pathname}` === redirectUri) return next
        url = next.href
        continue
      }
      const html = await response.text()
      const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1]
      const prompt = /name="prompt" value="(\w+)"/.exec(html)?.[1]
      if (action === undefined || prompt === undefined) throw new Error(`unexpected page from the provider (${response.status}): ${html.slice(0, 500)}`)
      url = new URL(action.replaceAll('&amp;', '&'), url).href
      body = new URLSearchParams(prompt === 'login' ? { prompt, login: accountId, password: 'any' } : { prompt })
    }
    throw new Error('the provider did not redirect back')
  }

  return {
    issuer,
    accounts,
    signingKey,
    authorize,
    async mintIdToken (claims, key = signingKey) {
      const now = Math.floor(Date.now() / 1000)
      return await new SignJWT({ iat: now, exp: now + 300, iss: issuer, ...claims })
        .setProtectedHeader({ alg: 'RS256', kid: key.kid })
        .sign(await importJWK(key, 'RS256'))
    },
    async close () {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => { resolve() }))
    }
  }
}
