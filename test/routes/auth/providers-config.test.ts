// The providers' configuration: AUTH_PROVIDERS / AUTH_PROVIDERS_FILE and PUBLIC_URL are checked
// with every other setting at start-up; a bad entry stops the start with a message that names
// the entry and the field, and never the client secret.
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { parseConfig, publicBaseUrl, tokenIssuer } from '../../../src/config.js'
import { buildApp } from '../../../src/app.js'
import { readProviders } from '../../../src/services/provider-config.js'
import { createProviderStateBox, PROVIDER_STATE_TTL, safeNext } from '../../../src/services/provider-state.js'
import { configError, testConfig, testKeys } from '../../helper.js'

const SECRET = 'super-secret-client-secret'
const entry = (extra: Record<string, unknown> = {}) => ({ id: 'corp', type: 'oidc', issuer: 'https://sso.example.com', clientId: 'authd', clientSecret: SECRET, ...extra })
const problemOf = (providers: unknown, env: Record<string, string> = {}) => configError({ AUTH_PROVIDERS: typeof providers === 'string' ? providers : JSON.stringify(providers), ...env }).message

t.test('valid entries get their defaults', async (t) => {
  const { providers, problems } = readProviders({
    NODE_ENV: 'production',
    AUTH_PROVIDERS_FILE: '',
    AUTH_PROVIDERS: JSON.stringify([entry(), { id: 'google', type: 'google', clientId: 'g', clientSecret: 's', appClientIds: ['ios'] }, { id: 'gh', type: 'github', clientId: 'h', clientSecret: 's', apiBaseUrl: 'https://ghe.example.com/api/v3/' }, { id: 'github', type: 'github', clientId: 'h', clientSecret: 's' }])
  })
  t.same(problems, [])
  t.match(providers, [
    { id: 'corp', name: 'corp', issuer: 'https://sso.example.com', scopes: ['openid', 'email', 'profile'], appClientIds: [], appRedirectUris: [], github: null },
    { id: 'google', name: 'Google', issuer: 'https://accounts.google.com', appClientIds: ['ios'] },
    { id: 'gh', name: 'GitHub', issuer: '', scopes: ['read:user', 'user:email'], github: { authorizationEndpoint: 'https://github.com/login/oauth/authorize', tokenEndpoint: 'https://github.com/login/oauth/access_token', apiBaseUrl: 'https://ghe.example.com/api/v3' } },
    { id: 'github', github: { apiBaseUrl: 'https://api.github.com' } }
  ])
  t.same(readProviders({ NODE_ENV: 'development', AUTH_PROVIDERS: '', AUTH_PROVIDERS_FILE: '' }), { providers: [], problems: [] })
})

t.test('bad entries stop the start, named, without the secret', async (t) => {
  const cases: Array<[unknown, RegExp, Record<string, string>?]> = [
    ['not json', /AUTH_PROVIDERS: not valid JSON/],
    [{ id: 'x' }, /must be a JSON array/],
    [[entry({ type: 'saml' })], /AUTH_PROVIDERS\[0\] \(corp\): type/],
    [[entry({ clientSecret: undefined })], /AUTH_PROVIDERS\[0\] \(corp\): entry/],
    [[entry({ id: 'Bad Id' })], /AUTH_PROVIDERS\[0\] \(Bad Id\): id/],
    [[entry({ unknown: 1 })], /AUTH_PROVIDERS\[0\] \(corp\)/],
    [['a string'], /AUTH_PROVIDERS\[0\]: entry/],
    [[entry({ issuer: undefined })], /issuer: required for type "oidc"/],
    [[entry({ issuer: 'not a url' })], /issuer: is not an absolute URL/],
    [[entry({ issuer: 'ftp://sso.example.com' })], /issuer: must be an http\(s\) URL/],
    [[entry({ issuer: 'http://sso.example.com' })], /issuer: must be an https:\/\/ URL with NODE_ENV=production/, { NODE_ENV: 'production', SMTP_URL: 'smtp://mail.example.com', SIGNING_KEYS: 'x', REFRESH_TOKEN_SECRET: 'r'.repeat(40), PUBLIC_URL: 'https://auth.example.com' }],
    [[entry({ tokenEndpoint: 'https://x.example.com/token' })], /tokenEndpoint: only for type "github"/],
    [[{ id: 'gh', type: 'github', clientId: 'a', clientSecret: SECRET, issuer: 'https://github.com' }], /issuer: GitHub is not an OpenID provider/],
    [[{ id: 'gh', type: 'github', clientId: 'a', clientSecret: SECRET, appClientIds: ['x'] }], /appClientIds: GitHub issues no ID tokens/],
    [[entry({ appRedirectUris: ['no scheme'] })], /appRedirectUris: "no scheme" is not an absolute URI/],
    [[entry(), entry()], /AUTH_PROVIDERS\[1\] \(corp\): id "corp" is used twice/],
    [[entry()], /PUBLIC_URL: required with NODE_ENV=production/, { NODE_ENV: 'production', SMTP_URL: 'smtp://mail.example.com', SIGNING_KEYS: 'x', REFRESH_TOKEN_SECRET: 'r'.repeat(40) }]
  ]
  for (const [providers, pattern, env] of cases) {
    const message = problemOf(providers, env)
    t.match(message, pattern, JSON.stringify(providers).slice(0, 80))
    t.notOk(message.includes(SECRET), 'the secret is not echoed')
  }
  t.match(configError({ AUTH_PROVIDERS: '[]', AUTH_PROVIDERS_FILE: '/x.json' }).message, /AUTH_PROVIDERS, AUTH_PROVIDERS_FILE: set only one of them/)
  t.match(configError({ AUTH_PROVIDERS_FILE: '/nonexistent/providers.json' }).message, /AUTH_PROVIDERS_FILE: cannot read "\/nonexistent\/providers.json" \(ENOENT\)/)
  for (const bad of ['not a url', 'ftp://auth.example.com', 'https://auth.example.com/?x=1', 'https://auth.example.com/#x', 'https://user:pw@auth.example.com']) {
    t.match(configError({ PUBLIC_URL: bad }).message, /PUBLIC_URL=.*must be an absolute http\(s\) URL/, bad)
  }
})

t.test('AUTH_PROVIDERS_FILE holds the same array', async (t) => {
  const file = path.join(t.testdir(), 'providers.json')
  writeFileSync(file, JSON.stringify([entry()]))
  const config = parseConfig({ NODE_ENV: 'test', AUTH_PROVIDERS_FILE: file })
  t.same(readProviders(config).providers.map((p) => p.id), ['corp'])
})

t.test('PUBLIC_URL: as given (no trailing slash), else derived from HOST and PORT', async (t) => {
  t.equal(publicBaseUrl({ PUBLIC_URL: 'https://auth.example.com/prefix/', HOST: '0.0.0.0', PORT: 3000 }), 'https://auth.example.com/prefix')
  t.equal(publicBaseUrl({ PUBLIC_URL: '', HOST: '0.0.0.0', PORT: 3000 }), 'http://localhost:3000')
  t.equal(publicBaseUrl({ PUBLIC_URL: '', HOST: '127.0.0.1', PORT: 4000 }), 'http://127.0.0.1:4000')
  t.equal(publicBaseUrl({ PUBLIC_URL: '', HOST: '::1', PORT: 4000 }), 'http://[::1]:4000')
  t.equal(tokenIssuer(parseConfig({ PUBLIC_URL: 'https://auth.example.com/' })), 'https://auth.example.com', 'it is the tokens\' issuer too')
  t.equal(tokenIssuer(parseConfig({ PUBLIC_URL: 'https://auth.example.com', JWT_ISSUER: 'authd' })), 'authd', 'unless JWT_ISSUER overrides it')
})

t.test('a config built without parseConfig is still checked when the app starts', async (t) => {
  const config = { ...testConfig(t), AUTH_PROVIDERS: '[{"id":"x"}]' }
  await t.rejects(buildApp(config, { keys: await testKeys() }), /Invalid configuration:[\s\S]*AUTH_PROVIDERS\[0\] \(x\)/)
})

t.test('the state cookie\'s seal: opens only for its provider, unchanged, within 10 minutes', async (t) => {
  let now = Date.now()
  const box = createProviderStateBox(Buffer.alloc(32, 7), () => now)
  const state = { provider: 'corp', state: 's', nonce: 'n', codeVerifier: 'v', next: '/x', userId: null }
  const sealed = box.seal(state)
  t.same(box.open(sealed, 'corp'), state)
  t.equal(box.open(sealed, 'github'), null, 'another provider\'s callback')
  t.equal(box.open(undefined, 'corp'), null)
  t.equal(box.open('', 'corp'), null)
  t.equal(createProviderStateBox(Buffer.alloc(32, 8), () => now).open(sealed, 'corp'), null, 'another key')
  now += (PROVIDER_STATE_TTL - 1) * 1000
  t.same(box.open(sealed, 'corp'), state, 'just within its lifetime')
  now += 2000
  t.equal(box.open(sealed, 'corp'), null, 'expired')
})

t.test('safeNext keeps frontend paths only', async (t) => {
  t.equal(safeNext(undefined), '/')
  t.equal(safeNext('/a/b?c=d'), '/a/b?c=d')
  for (const bad of ['//evil.com', '/\\evil.com', 'https://evil.com', 'evil', '/a b', '/a#b', '/a\u0000', `/${'a'.repeat(2048)}`]) t.equal(safeNext(bad), '/', JSON.stringify(bad.slice(0, 20)))
})
