// The identity providers users may sign in with: AUTH_PROVIDERS (a JSON array) or
// AUTH_PROVIDERS_FILE (a file holding the same array), checked here once. parseConfig reports
// the problems with every other bad setting at start-up; the provider service reads the same
// list through `readProviders`, so there is one home for what a valid entry is.
import { readFileSync } from 'node:fs'
import { Type, type Static } from 'typebox'
import { Value } from 'typebox/value'
import type { Config } from '../config.js'

/** Google is an OpenID provider at this issuer (its discovery document says the rest). */
export const GOOGLE_ISSUER = 'https://accounts.google.com'

/** GitHub's OAuth 2 endpoints and REST API (it is not an OpenID provider). */
export const GITHUB_DEFAULTS = {
  authorizationEndpoint: 'https://github.com/login/oauth/authorize',
  tokenEndpoint: 'https://github.com/login/oauth/access_token',
  apiBaseUrl: 'https://api.github.com'
} as const

/** A provider id: what AUTH_PROVIDERS accepts and the provider routes' `{id}` matches (a path segment and a cookie path as it is). */
export const PROVIDER_ID_PATTERN = '^[a-z0-9][a-z0-9_-]{0,31}$'

const Url = Type.String({ minLength: 1, maxLength: 2048 })
const Strings = Type.Array(Type.String({ minLength: 1, maxLength: 2048 }), { maxItems: 50 })

const ProviderEntrySchema = Type.Object({
  id: Type.String({ pattern: PROVIDER_ID_PATTERN }),
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  type: Type.Union([Type.Literal('oidc'), Type.Literal('google'), Type.Literal('github')]),
  issuer: Type.Optional(Url),
  clientId: Type.String({ minLength: 1, maxLength: 512 }),
  clientSecret: Type.String({ minLength: 1, maxLength: 2048 }),
  scopes: Type.Optional(Strings),
  appClientIds: Type.Optional(Strings),
  appRedirectUris: Type.Optional(Strings),
  authorizationEndpoint: Type.Optional(Url),
  tokenEndpoint: Type.Optional(Url),
  apiBaseUrl: Type.Optional(Url)
}, { additionalProperties: false })

type ProviderEntryInput = Static<typeof ProviderEntrySchema>

/** A provider as configured, with its defaults filled in. */
export interface ProviderEntry {
  id: string
  name: string
  type: 'oidc' | 'google' | 'github'
  /** OpenID providers: the issuer whose discovery document is read. */
  issuer: string
  clientId: string
  clientSecret: string
  scopes: string[]
  /** Audiences besides clientId an ID token sent by an app may carry (its native client ids). */
  appClientIds: string[]
  /** The redirect URIs an app's code exchange may name. */
  appRedirectUris: string[]
  /** GitHub only: its OAuth endpoints and API (overridable, e.g. for a stand-in in tests). */
  github: { authorizationEndpoint: string, tokenEndpoint: string, apiBaseUrl: string } | null
}

const DEFAULT_NAMES = { oidc: null, google: 'Google', github: 'GitHub' } as const
const DEFAULT_SCOPES = { oidc: ['openid', 'email', 'profile'], google: ['openid', 'email', 'profile'], github: ['read:user', 'user:email'] } as const

/** Whether a URL is https, or http outside production (a provider on this machine in tests). */
function urlProblem (value: string, production: boolean): string | null {
  let url: URL
  try { url = new URL(value) } catch { return 'is not an absolute URL' }
  if (url.protocol === 'https:') return null
  if (url.protocol === 'http:' && !production) return null
  return production ? 'must be an https:// URL with NODE_ENV=production' : 'must be an http(s) URL'
}

function entryProblems (entry: ProviderEntryInput, production: boolean): string[] {
  const problems: string[] = []
  if (entry.type === 'oidc' && entry.issuer === undefined) problems.push('issuer: required for type "oidc"')
  if (entry.type === 'github' && entry.issuer !== undefined) problems.push('issuer: GitHub is not an OpenID provider; set authorizationEndpoint/tokenEndpoint/apiBaseUrl to override its endpoints')
  if (entry.type !== 'github') {
    for (const field of ['authorizationEndpoint', 'tokenEndpoint', 'apiBaseUrl'] as const) {
      if (entry[field] !== undefined) problems.push(`${field}: only for type "github" (an OpenID provider's endpoints come from its discovery document)`)
    }
  }
  for (const field of ['issuer', 'authorizationEndpoint', 'tokenEndpoint', 'apiBaseUrl'] as const) {
    const value = entry[field]
    const problem = value === undefined ? null : urlProblem(value, production)
    if (problem !== null) problems.push(`${field}: ${problem}`)
  }
  for (const uri of entry.appRedirectUris ?? []) {
    try { void new URL(uri) } catch { problems.push(`appRedirectUris: ${JSON.stringify(uri)} is not an absolute URI`) }
  }
  if (entry.type === 'github' && (entry.appClientIds ?? []).length > 0) problems.push('appClientIds: GitHub issues no ID tokens')
  return problems
}

function normalize (entry: ProviderEntryInput): ProviderEntry {
  return {
    id: entry.id,
    name: entry.name ?? DEFAULT_NAMES[entry.type] ?? entry.id,
    type: entry.type,
    issuer: entry.type === 'github' ? '' : entry.issuer ?? GOOGLE_ISSUER,
    clientId: entry.clientId,
    clientSecret: entry.clientSecret,
    scopes: entry.scopes ?? [...DEFAULT_SCOPES[entry.type]],
    appClientIds: entry.appClientIds ?? [],
    appRedirectUris: entry.appRedirectUris ?? [],
    github: entry.type !== 'github'
      ? null
      : {
          authorizationEndpoint: entry.authorizationEndpoint ?? GITHUB_DEFAULTS.authorizationEndpoint,
          tokenEndpoint: entry.tokenEndpoint ?? GITHUB_DEFAULTS.tokenEndpoint,
          apiBaseUrl: (entry.apiBaseUrl ?? GITHUB_DEFAULTS.apiBaseUrl).replace(/\/+$/, '')
        }
  }
}

/**
 * The configured providers, and what is wrong with them (each problem names the variable, the
 * entry and the field; a client secret is never echoed). Problems found: no providers.
 */
export function readProviders (config: Pick<Config, 'AUTH_PROVIDERS' | 'AUTH_PROVIDERS_FILE' | 'NODE_ENV'>): { providers: ProviderEntry[], problems: string[] } {
  const inline = config.AUTH_PROVIDERS.trim()
  const file = config.AUTH_PROVIDERS_FILE
  if (inline !== '' && file !== '') return { providers: [], problems: ['AUTH_PROVIDERS, AUTH_PROVIDERS_FILE: set only one of them'] }
  if (inline === '' && file === '') return { providers: [], problems: [] }
  const source = inline !== '' ? 'AUTH_PROVIDERS' : 'AUTH_PROVIDERS_FILE'
  let text = inline
  if (file !== '') {
    try {
      text = readFileSync(file, 'utf8')
    } catch (error) {
      return { providers: [], problems: [`AUTH_PROVIDERS_FILE: cannot read ${JSON.stringify(file)} (${String((error as NodeJS.ErrnoException).code)})`] }
    }
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return { providers: [], problems: [`${source}: not valid JSON (value not shown)`] }
  }
  if (!Array.isArray(parsed)) return { providers: [], problems: [`${source}: must be a JSON array of providers`] }
  const problems: string[] = []
  const providers: ProviderEntry[] = []
  const production = config.NODE_ENV === 'production'
  parsed.forEach((raw: unknown, index) => {
    const label = `${source}[${index}]${typeof (raw as { id?: unknown })?.id === 'string' ? ` (${String((raw as { id: string }).id)})` : ''}`
    const error = Value.Errors(ProviderEntrySchema, raw)[0]
    if (error !== undefined) {
      // The path and message only: the value might be the secret.
      const field = error.instancePath === '' ? 'entry' : error.instancePath.slice(1).replaceAll('/', '.')
      problems.push(`${label}: ${field} ${error.message}`)
      return
    }
    const entry = raw as ProviderEntryInput
    const found = entryProblems(entry, production)
    if (found.length > 0) {
      problems.push(...found.map((problem) => `${label}: ${problem}`))
      return
    }
    if (providers.some((provider) => provider.id === entry.id)) {
      problems.push(`${label}: id ${JSON.stringify(entry.id)} is used twice`)
      return
    }
    providers.push(normalize(entry))
  })
  return problems.length > 0 ? { providers: [], problems } : { providers, problems }
}
