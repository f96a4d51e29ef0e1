// parseConfig: every setting comes from environment strings, with documented defaults, and a
// bad configuration stops the start with one ConfigError that names every bad variable.
import t from 'tap'
import { allowedOrigins, parseConfig, prefixedCookieName } from '../../src/config.js'
import { configError } from '../helper.js'

t.test('defaults', async (t) => {
  const config = parseConfig({})
  t.match(config, {
    NODE_ENV: 'development',
    HOST: '0.0.0.0',
    PORT: 3000,
    LOG_LEVEL: 'info',
    DATABASE_URL: '',
    MIGRATE_ON_START: true,
    JWT_ISSUER: '',
    JWT_PREVIOUS_ISSUERS: 'authd',
    JWT_AUDIENCE: 'authd',
    ACCESS_TOKEN_TTL: 300,
    REFRESH_TOKEN_TTL: 86_400,
    REFRESH_GRACE_SECONDS: 10,
    BCRYPT_COST: 12,
    PASSWORD_MIN_LENGTH: 8,
    PASSWORD_MAX_LENGTH: 256,
    BODY_LIMIT: 16_384,
    RATE_LIMIT_ENABLED: true,
    RATE_LIMIT_LOGIN: 10,
    RATE_LIMIT_REGISTER: 5,
    RATE_LIMIT_REFRESH: 60,
    RATE_LIMIT_WINDOW: 60,
    REDIS_URL: '',
    TRUST_PROXY: ''
  })
  // Empty strings count as unset (as `FOO=` in a .env file does).
  t.same(parseConfig({ PORT: '', BCRYPT_COST: '', LOG_LEVEL: '', RATE_LIMIT_ENABLED: '' }), config, 'empty values fall back to the defaults')
  // Variables authd does not know are ignored, not copied into the config.
  const withNoise = parseConfig({ PATH: '/usr/bin', HOME: '/root', AUTHD_TYPO: 'x' }) as Record<string, unknown>
  t.same(withNoise, config)
  t.notOk('PATH' in withNoise)
})

t.test('numbers and booleans are parsed from strings', async (t) => {
  const config = parseConfig({
    PORT: '8080',
    ACCESS_TOKEN_TTL: '600',
    REFRESH_TOKEN_TTL: '3600',
    REFRESH_GRACE_SECONDS: '0',
    BCRYPT_COST: '10',
    BODY_LIMIT: '2048',
    RATE_LIMIT_ENABLED: 'false',
    MIGRATE_ON_START: 'false',
    RATE_LIMIT_LOGIN: '3',
    LOG_LEVEL: 'warn',
    NODE_ENV: 'production',
    // Production needs a mail server (see test/store-independent/services/mailer.test.ts) and keys from configuration.
    SMTP_URL: 'smtp://mail.example.com:587',
    SIGNING_KEYS_FILE: '/run/secrets/authd-signing-keys.json',
    REFRESH_TOKEN_SECRET: 'r'.repeat(48),
    JWT_ISSUER: 'https://auth.example.com'
  })
  t.match(config, {
    PORT: 8080,
    ACCESS_TOKEN_TTL: 600,
    REFRESH_TOKEN_TTL: 3600,
    REFRESH_GRACE_SECONDS: 0,
    BCRYPT_COST: 10,
    BODY_LIMIT: 2048,
    RATE_LIMIT_ENABLED: false,
    MIGRATE_ON_START: false,
    RATE_LIMIT_LOGIN: 3,
    LOG_LEVEL: 'warn',
    NODE_ENV: 'production',
    JWT_ISSUER: 'https://auth.example.com'
  })
  t.type(config.PORT, 'number')
  t.type(config.RATE_LIMIT_ENABLED, 'boolean')
  t.equal(parseConfig({ RATE_LIMIT_ENABLED: 'true' }).RATE_LIMIT_ENABLED, true)
  t.equal(parseConfig({ MIGRATE_ON_START: 'true' }).MIGRATE_ON_START, true)
})

t.test('bad values: one ConfigError naming every bad variable', async (t) => {
  const error = configError({ PORT: 'abc', BCRYPT_COST: '99', LOG_LEVEL: 'x' })
  t.ok(error instanceof Error)
  for (const name of ['PORT', 'BCRYPT_COST', 'LOG_LEVEL']) t.match(error.message, new RegExp(`\\b${name}\\b`), `names ${name}`)
  t.match(error.message, /"abc"/, 'shows the bad value')
  t.match(error.message, /fatal.*error.*warn.*info.*debug.*trace.*silent/, 'lists the accepted log levels')
  for (const name of ['ACCESS_TOKEN_TTL', 'HOST', 'REDIS_URL']) t.notMatch(error.message, new RegExp(`\\b${name}\\b`), `does not blame ${name}`)
})

t.test('each kind of bad value is rejected', async (t) => {
  const bad: Record<string, string> = {
    PORT: '65536',
    BCRYPT_COST: '3',
    ACCESS_TOKEN_TTL: '10',
    REFRESH_TOKEN_TTL: 'one day',
    REFRESH_GRACE_SECONDS: '-1',
    BODY_LIMIT: '10',
    RATE_LIMIT_LOGIN: '0',
    RATE_LIMIT_WINDOW: '0',
    DATABASE_POOL_SIZE: 'many',
    NODE_ENV: 'staging',
    LOG_LEVEL: 'verbose',
    RATE_LIMIT_ENABLED: 'maybe',
    MIGRATE_ON_START: 'sometimes'
  }
  for (const [name, value] of Object.entries(bad)) {
    const error = configError({ [name]: value })
    t.match(error.message, new RegExp(`\\b${name}\\b`), `${name}=${value} is rejected and named`)
  }
  // All at once: every one is named in the one error.
  const all = configError(bad)
  for (const name of Object.keys(bad)) t.match(all.message, new RegExp(`\\b${name}\\b`), `${name} named among all`)
})

t.test('a fractional or partly numeric integer is rejected, not truncated', async (t) => {
  for (const [name, value] of [['PORT', '1.5'], ['PORT', '3000abc'], ['BCRYPT_COST', '12.9'], ['ACCESS_TOKEN_TTL', '300.5'], ['BODY_LIMIT', '16k']]) {
    const error = configError({ [name as string]: value as string })
    t.match(error.message, new RegExp(`\\b${name}\\b`), `${name}=${value} is rejected`)
  }
})

t.test('REFRESH_TOKEN_SECRET shorter than 32 bytes is rejected', async (t) => {
  const short = 'too-short-secret'
  const error = configError({ REFRESH_TOKEN_SECRET: short })
  t.match(error.message, /REFRESH_TOKEN_SECRET/)
  t.match(error.message, /32/)
  t.notOk(error.message.includes(short), 'the secret itself is not printed')
  t.match(configError({ REFRESH_TOKEN_SECRET: 'x'.repeat(31) }).message, /REFRESH_TOKEN_SECRET/, '31 bytes is too short')
  t.equal(parseConfig({ REFRESH_TOKEN_SECRET: 'x'.repeat(32) }).REFRESH_TOKEN_SECRET, 'x'.repeat(32), '32 bytes is enough')
  t.equal(parseConfig({}).REFRESH_TOKEN_SECRET, '', 'unset is fine (a secret is generated into DATA_DIR)')
})

t.test('PASSWORD_MIN_LENGTH greater than PASSWORD_MAX_LENGTH is rejected', async (t) => {
  const error = configError({ PASSWORD_MIN_LENGTH: '300', PASSWORD_MAX_LENGTH: '200' })
  t.match(error.message, /PASSWORD_MIN_LENGTH/)
  t.match(error.message, /PASSWORD_MAX_LENGTH/)
  t.match(configError({ PASSWORD_MIN_LENGTH: '257' }).message, /PASSWORD_MIN_LENGTH/, 'against the default maximum too')
  t.match(parseConfig({ PASSWORD_MIN_LENGTH: '20', PASSWORD_MAX_LENGTH: '20' }), { PASSWORD_MIN_LENGTH: 20, PASSWORD_MAX_LENGTH: 20 }, 'equal is fine')
})

t.test('cross-variable problems are reported together with the others', async (t) => {
  const error = configError({ PORT: 'abc', REFRESH_TOKEN_SECRET: 'short', PASSWORD_MIN_LENGTH: '300', PASSWORD_MAX_LENGTH: '200' })
  for (const name of ['PORT', 'REFRESH_TOKEN_SECRET', 'PASSWORD_MIN_LENGTH']) t.match(error.message, new RegExp(`\\b${name}\\b`), `names ${name}`)
})

t.test('browser-client settings: safe defaults', async (t) => {
  // __Host-: Secure, Path=/, no Domain, so no other host of the domain can set or shadow them.
  t.match(parseConfig({}), {
    CORS_ORIGINS: '',
    COOKIE_REFRESH_NAME: '__Host-authd_refresh',
    COOKIE_CSRF_NAME: '__Host-authd_csrf',
    COOKIE_SECURE: true,
    COOKIE_SAMESITE: 'Strict',
    COOKIE_PATH: '/',
    COOKIE_CSRF_DOMAIN: ''
  })
  t.same(allowedOrigins(' https://App.Example.com , http://localhost:5173,,https://x.example.com:443'), ['https://app.example.com', 'http://localhost:5173', 'https://x.example.com'], 'normalised as browsers send Origin')
})

t.test('COOKIE_SECURE=false only for http://localhost development', async (t) => {
  for (const origins of ['http://localhost:5173', 'http://127.0.0.1:8080,http://localhost', '']) {
    t.equal(parseConfig({ COOKIE_SECURE: 'false', CORS_ORIGINS: origins }).COOKIE_SECURE, false, `allowed with CORS_ORIGINS=${origins}`)
  }
  for (const origins of ['https://app.example.com', 'http://localhost:5173,http://app.example.com', 'https://localhost:5173']) {
    t.match(configError({ COOKIE_SECURE: 'false', CORS_ORIGINS: origins }).message, /COOKIE_SECURE/, `refused with CORS_ORIGINS=${origins}`)
  }
})

t.test('cookie settings that browsers would silently drop are refused', async (t) => {
  const bad: Array<[Record<string, string>, string]> = [
    [{ COOKIE_SAMESITE: 'None', COOKIE_SECURE: 'false' }, 'COOKIE_SAMESITE'],
    [{ COOKIE_SAMESITE: 'strict' }, 'COOKIE_SAMESITE'],
    [{ COOKIE_REFRESH_NAME: '__Secure-rt', COOKIE_SECURE: 'false' }, 'COOKIE_REFRESH_NAME'],
    [{ COOKIE_REFRESH_NAME: '__Host-rt', COOKIE_PATH: '/v1/browser/auth' }, 'COOKIE_REFRESH_NAME'],
    [{ COOKIE_CSRF_NAME: '__Host-csrf', COOKIE_CSRF_DOMAIN: 'example.com' }, 'COOKIE_CSRF_NAME'],
    [{ COOKIE_CSRF_NAME: '__Host-authd_refresh' }, 'COOKIE_CSRF_NAME'],
    [{ COOKIE_REFRESH_NAME: 'a b' }, 'COOKIE_REFRESH_NAME'],
    [{ COOKIE_PATH: 'v1/browser/auth' }, 'COOKIE_PATH'],
    [{ COOKIE_PATH: '/x;Domain=evil' }, 'COOKIE_PATH'],
    [{ COOKIE_CSRF_DOMAIN: 'example.com; Secure' }, 'COOKIE_CSRF_DOMAIN']
  ]
  for (const [env, name] of bad) t.match(configError(env).message, new RegExp(`\\b${name}\\b`), `${JSON.stringify(env)} names ${name}`)
  t.equal(parseConfig({ COOKIE_CSRF_NAME: '__Host-csrf' }).COOKIE_CSRF_NAME, '__Host-csrf', 'a __Host- CSRF cookie fits (Path=/, host-only, Secure)')
})

t.test('default cookie names: the strongest prefix the other settings allow', async (t) => {
  const cookies = (env: Record<string, string>) => {
    const c = parseConfig(env)
    return [c.COOKIE_REFRESH_NAME, c.COOKIE_PATH, c.COOKIE_CSRF_NAME]
  }
  t.same(cookies({}), ['__Host-authd_refresh', '/', '__Host-authd_csrf'], 'Secure (the default): __Host- for both, refresh Path=/')
  t.same(cookies({ COOKIE_SECURE: 'false', CORS_ORIGINS: 'http://localhost:5173' }), ['authd_refresh', '/v1/browser/auth', 'authd_csrf'],
    'http://localhost development: no prefix (browsers require Secure for both), the refresh cookie only on the token endpoints')
  t.same(cookies({ COOKIE_CSRF_DOMAIN: 'example.com' }), ['__Host-authd_refresh', '/', '__Secure-authd_csrf'], 'a CSRF cookie with a Domain cannot be __Host-')
  t.same(cookies({ COOKIE_PATH: '/auth/v1/browser/auth' }), ['__Secure-authd_refresh', '/auth/v1/browser/auth', '__Host-authd_csrf'], 'a refresh cookie below a proxy prefix cannot be __Host-')
  t.same(cookies({ COOKIE_PATH: '/' }), ['__Host-authd_refresh', '/', '__Host-authd_csrf'])
  // Explicit names are kept as given; the path follows the name.
  t.same(cookies({ COOKIE_REFRESH_NAME: 'rt', COOKIE_CSRF_NAME: 'xsrf' }), ['rt', '/v1/browser/auth', 'xsrf'])
  t.same(cookies({ COOKIE_REFRESH_NAME: '__Host-rt' }), ['__Host-rt', '/', '__Host-authd_csrf'], 'an explicit __Host- name gets Path=/')
  t.same(cookies({ COOKIE_REFRESH_NAME: '__Secure-rt' }), ['__Secure-rt', '/v1/browser/auth', '__Host-authd_csrf'])
  t.match(configError({ COOKIE_REFRESH_NAME: '__Host-rt', COOKIE_PATH: '/v1/browser/auth' }).message, /COOKIE_REFRESH_NAME: a __Host- name requires COOKIE_PATH=\//, 'an explicit __Host- name with another path is still refused')
  t.match(configError({ COOKIE_CSRF_NAME: 'authd_refresh', COOKIE_SECURE: 'false' }).message, /COOKIE_CSRF_NAME: must differ/, 'an explicit name equal to the default of the other')
  const badSecure = configError({ COOKIE_SECURE: 'maybe' }).message
  t.match(badSecure, /COOKIE_SECURE/)
  t.notMatch(badSecure, /COOKIE_CSRF_NAME|COOKIE_REFRESH_NAME|COOKIE_PATH/, 'a bad COOKIE_SECURE blames only itself')
  // Resolved once: parsing the resolved config again gives the same values.
  const resolved = parseConfig({ COOKIE_CSRF_DOMAIN: 'example.com' })
  t.same(cookies({ COOKIE_REFRESH_NAME: resolved.COOKIE_REFRESH_NAME, COOKIE_PATH: resolved.COOKIE_PATH, COOKIE_CSRF_NAME: resolved.COOKIE_CSRF_NAME, COOKIE_CSRF_DOMAIN: 'example.com' }),
    [resolved.COOKIE_REFRESH_NAME, resolved.COOKIE_PATH, resolved.COOKIE_CSRF_NAME], 'stable when written back')
})

t.test('prefixedCookieName: __Host- only with Secure, Path=/ and no Domain', async (t) => {
  t.equal(prefixedCookieName('x', { secure: true, path: '/', domain: '' }), '__Host-x')
  t.equal(prefixedCookieName('x', { secure: true, path: '/a', domain: '' }), '__Secure-x')
  t.equal(prefixedCookieName('x', { secure: true, path: '/', domain: 'example.com' }), '__Secure-x')
  t.equal(prefixedCookieName('x', { secure: false, path: '/', domain: '' }), 'x')
})

// A production environment that passes every production rule but the ones under test (mail off).
const PRODUCTION = { NODE_ENV: 'production', EMAIL_VERIFICATION: 'none', PUBLIC_URL: 'https://auth.example.com' }

t.test('production: signing keys and the refresh secret come from configuration', async (t) => {
  const error = configError(PRODUCTION)
  t.match(error.message, /SIGNING_KEYS_FILE \/ SIGNING_KEYS: NODE_ENV=production needs the access-token signing keys from configuration/)
  t.match(error.message, /authd keys rotate --print/, 'says how to make a key set')
  t.match(error.message, /ALLOW_GENERATED_KEYS=true/, 'and how to accept generated keys')
  t.match(error.message, /REFRESH_TOKEN_SECRET: required with NODE_ENV=production/)
  // Listed with every other bad variable, in the one error.
  t.match(configError({ ...PRODUCTION, PORT: 'x' }).message, /PORT[\s\S]*SIGNING_KEYS_FILE[\s\S]*REFRESH_TOKEN_SECRET/)

  for (const keys of [{ SIGNING_KEYS_FILE: '/k.json' }, { SIGNING_KEYS: '{"keys":[]}' }, { SIGNING_KEY_FILE: '/k.pem' }] as Array<Record<string, string>>) {
    t.doesNotThrow(() => parseConfig({ ...PRODUCTION, ...keys, REFRESH_TOKEN_SECRET: 's'.repeat(48) }), `${Object.keys(keys)[0]} is configuration`)
    t.notMatch(configError({ ...PRODUCTION, ...keys }).message, /SIGNING_KEYS_FILE \/ SIGNING_KEYS/, `${Object.keys(keys)[0]}: only the refresh secret is missing`)
  }
  t.doesNotThrow(() => parseConfig({ ...PRODUCTION, ACCESS_TOKEN_ALG: 'HS256', ACCESS_TOKEN_SECRET: 'a'.repeat(40), REFRESH_TOKEN_SECRET: 's'.repeat(48) }),
    'HS256: the secret is configuration')
  t.match(configError({ ...PRODUCTION, ACCESS_TOKEN_ALG: 'HS256', ACCESS_TOKEN_SECRET: 'a'.repeat(40) }).message, /REFRESH_TOKEN_SECRET: required/)
  t.doesNotThrow(() => parseConfig({ ...PRODUCTION, ALLOW_GENERATED_KEYS: 'true' }), 'ALLOW_GENERATED_KEYS=true accepts generated keys')
  for (const env of ['development', 'test']) t.doesNotThrow(() => parseConfig({ NODE_ENV: env }), `${env}: keys may be generated`)
  t.equal(parseConfig({}).ALLOW_GENERATED_KEYS, false, 'off by default')
})

t.test('METRICS_PORT: off by default, a port of its own', async (t) => {
  t.equal(parseConfig({}).METRICS_PORT, 0)
  t.equal(parseConfig({ METRICS_PORT: '9464' }).METRICS_PORT, 9464)
  t.match(configError({ METRICS_PORT: '3000' }).message, /METRICS_PORT: must differ from PORT/)
  t.match(configError({ METRICS_PORT: '70000' }).message, /METRICS_PORT/)
})
