// The browser side of a provider sign-in, for tests: authd's start (a redirect to the provider
// and the state cookie), the provider's pages, and authd's callback with that cookie.
import { randomUUID } from 'node:crypto'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { totpCodeAt } from '../../src/services/totp.js'
import type { StartedOidcProvider } from './oidc-provider.js'

export const PUBLIC_URL = 'http://authd.test'
export const FRONTEND = 'http://app.test'
export const APP_REDIRECT = 'http://127.0.0.1:9/app-callback'

export type Cookie = LightMyRequestResponse['cookies'][number]

export const stateCookieOf = (res: LightMyRequestResponse): Cookie | undefined => res.cookies.find((c) => c.name.endsWith('authd_provider_state') && c.value !== '')

/** The callback path authd registered at the provider for `id`. */
export const callbackUrl = (id: string) => `${PUBLIC_URL}/v1/browser/auth/providers/${id}/callback`

/** AUTH_PROVIDERS entry of an OpenID provider started by startOidcProvider (client `authd`). */
export function oidcEntry (op: StartedOidcProvider, extra: Record<string, unknown> = {}) {
  return { id: 'corp', name: 'Corp SSO', type: 'oidc', issuer: op.issuer, clientId: 'authd', clientSecret: 'authd-client-secret', appClientIds: ['native-app'], appRedirectUris: [APP_REDIRECT], ...extra }
}

/** The provider's clients: authd's own (browser callback + the app's redirect) and a native app's. */
export const oidcClients = (ids: string[] = ['corp']) => [
  { clientId: 'authd', clientSecret: 'authd-client-secret', redirectUris: [...ids.map(callbackUrl), APP_REDIRECT] },
  { clientId: 'native-app', clientSecret: 'native-app-secret', redirectUris: [APP_REDIRECT] }
]

/** A new account id at the provider with these claims. */
export function providerAccount (op: StartedOidcProvider, claims: { email?: string, email_verified?: boolean }): string {
  const id = `acct-${randomUUID()}`
  op.accounts.set(id, claims)
  return id
}

/** GET …/start: the redirect to the provider and the state cookie. */
export async function start (app: FastifyInstance, provider: string, next?: string): Promise<{ res: LightMyRequestResponse, location: string, cookie: Cookie }> {
  const res = await app.inject({ method: 'GET', url: `/v1/browser/auth/providers/${provider}/start`, query: next === undefined ? {} : { next } })
  const cookie = stateCookieOf(res)
  if (res.statusCode !== 302 || cookie === undefined) throw new Error(`start failed: ${res.statusCode} ${String(res.headers.location)} ${res.body}`)
  return { res, location: String(res.headers.location), cookie }
}

/** GET …/callback with the provider's answer (a URL on authd's callback) and a state cookie. */
export async function callback (app: FastifyInstance, back: URL | string, cookie?: Cookie, cookies: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  const url = new URL(back)
  return await app.inject({
    method: 'GET',
    url: url.pathname + url.search,
    cookies: { ...(cookie === undefined ? {} : { [cookie.name]: cookie.value }), ...cookies }
  })
}

/** A whole browser sign-in at an OpenID provider: start, the provider's pages as `account`, callback. */
export async function signInWith (app: FastifyInstance, op: StartedOidcProvider, account: string, options: { provider?: string, next?: string } = {}): Promise<LightMyRequestResponse> {
  const begun = await start(app, options.provider ?? 'corp', options.next)
  return await callback(app, await op.authorize(begun.location, account), begun.cookie)
}

/** The `?error=` of a redirect to the frontend's error page (undefined when it went elsewhere). */
export function errorOf (res: LightMyRequestResponse): string | undefined {
  const location = new URL(String(res.headers.location))
  return location.origin === FRONTEND && location.pathname === '/login' ? location.searchParams.get('error') ?? undefined : undefined
}

/** Turns TOTP on for a user (bearer `access`): its secret. */
export async function enableTotp (app: FastifyInstance, access: string): Promise<string> {
  const headers = { authorization: `Bearer ${access}` }
  const begun = await app.inject({ method: 'POST', url: '/v1/users/me/mfa/totp', headers })
  const secret = begun.json().secret as string
  const confirmed = await app.inject({ method: 'POST', url: '/v1/users/me/mfa/totp/confirm', headers, payload: { code: totpCodeAt(secret, Date.now()) } })
  if (confirmed.statusCode !== 200) throw new Error(`TOTP confirm failed: ${confirmed.body}`)
  return secret
}

/** The claims of an access token (not verified: the tests only read them). */
export const claimsOf = (access: string): Record<string, unknown> => JSON.parse(Buffer.from(access.split('.')[1] ?? '', 'base64url').toString('utf8'))
