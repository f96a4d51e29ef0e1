// Every setting comes from the environment (and `.env` in development), is validated once
// here against one TypeBox schema, and its TypeScript type is derived from that schema.
// `.env.example` documents each variable with the same default.
import { existsSync } from 'node:fs'
import { Type, type Static } from 'typebox'
import { Value } from 'typebox/value'

const Int = (def: number, min: number, max: number, description: string) =>
  Type.Integer({ default: def, minimum: min, maximum: max, description })

export const ConfigSchema = Type.Object({
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')], { default: 'development' }),
  HOST: Type.String({ default: '0.0.0.0', minLength: 1 }),
  PORT: Int(3000, 0, 65535, 'TCP port to listen on'),
  LOG_LEVEL: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), { default: 'info' }),
  DATA_DIR: Type.String({ default: './data', minLength: 1, description: 'Embedded database and development keys live here' }),
  DATABASE_URL: Type.String({ default: '', description: 'postgresql://… for PostgreSQL; empty or pglite://<dir> or memory:// for embedded PGlite' }),
  DATABASE_POOL_SIZE: Int(10, 1, 200, 'PostgreSQL connections per process'),
  MIGRATE_ON_START: Type.Boolean({ default: true }),
  JWT_ISSUER: Type.String({ default: 'authd', minLength: 1 }),
  JWT_AUDIENCE: Type.String({ default: 'authd', minLength: 1 }),
  ACCESS_TOKEN_TTL: Int(300, 30, 86_400, 'seconds'),
  REFRESH_TOKEN_TTL: Int(86_400, 60, 31_536_000, 'seconds'),
  REFRESH_GRACE_SECONDS: Int(10, 0, 300, 'window in which a rotated refresh token may be presented again'),
  ACCESS_TOKEN_ALG: Type.Union([Type.Literal('RS256'), Type.Literal('ES256'), Type.Literal('EdDSA'), Type.Literal('HS256')], { default: 'RS256', description: 'algorithm of new access-token signing keys; HS256 = single-service mode' }),
  ACCESS_TOKEN_SECRET: Type.String({ default: '', description: 'HMAC secret (≥ 32 bytes) for access tokens; required with, and only used with, ACCESS_TOKEN_ALG=HS256' }),
  SIGNING_KEYS_FILE: Type.String({ default: '', description: 'JSON file holding the private JWK set of access-token signing keys (rotatable by `authd keys`)' }),
  SIGNING_KEYS: Type.String({ default: '', description: 'the same private JWK set as JSON, or one PEM private key' }),
  SIGNING_KEY_FILE: Type.String({ default: '', description: 'PEM private key (RSA, EC P-256 or Ed25519) for access tokens; with no key variable set, keys live in DATA_DIR/keys/access' }),
  SIGNING_KEYS_RELOAD_INTERVAL: Int(30, 0, 86_400, 'seconds between checks for a changed key directory or key file; 0 = never'),
  REFRESH_TOKEN_SECRET: Type.String({ default: '', description: 'HMAC secret (≥ 32 bytes) for refresh tokens; generated into DATA_DIR when empty' }),
  BCRYPT_COST: Int(12, 4, 16, 'bcrypt work factor'),
  PASSWORD_MIN_LENGTH: Int(8, 1, 1024, 'characters'),
  PASSWORD_MAX_LENGTH: Int(256, 8, 4096, 'characters'),
  BODY_LIMIT: Int(16_384, 1024, 1_048_576, 'bytes'),
  RATE_LIMIT_ENABLED: Type.Boolean({ default: true }),
  RATE_LIMIT_LOGIN: Int(10, 1, 100_000, 'requests per window per IP'),
  RATE_LIMIT_REGISTER: Int(5, 1, 100_000, 'requests per window per IP'),
  RATE_LIMIT_REFRESH: Int(60, 1, 100_000, 'requests per window per IP'),
  RATE_LIMIT_WINDOW: Int(60, 1, 86_400, 'seconds'),
  REDIS_URL: Type.String({ default: '', description: 'redis://… shares rate-limit counters between instances; empty = in memory' }),
  RATE_LIMIT_NAMESPACE: Type.String({ default: 'authd:rl:', minLength: 1, description: 'prefix of the rate-limit keys in Redis (separates deployments sharing one Redis)' }),
  TRUST_PROXY: Type.String({ default: '', description: 'comma-separated proxy addresses/CIDRs whose X-Forwarded-For is believed' }),
  HOUSEKEEPING_INTERVAL: Int(3600, 0, 604_800, 'seconds between in-service deletions of expired tokens and dead sessions; 0 = off')
})

export type Config = Static<typeof ConfigSchema>

export class ConfigError extends Error {}

/** Build the configuration from an environment-like object (strings), applying defaults. */
export function parseConfig (env: Record<string, string | undefined>): Config {
  const input: Record<string, unknown> = {}
  for (const key of Object.keys(ConfigSchema.properties)) {
    const raw = env[key]
    if (raw !== undefined && raw !== '') input[key] = raw
  }
  const withDefaults = Value.Default(ConfigSchema, input)
  const converted = Value.Convert(ConfigSchema, withDefaults)
  // Checked one variable at a time so that every bad variable is named, not only the first.
  const problems: string[] = []
  for (const [name, schema] of Object.entries(ConfigSchema.properties)) {
    const error = Value.Errors(schema, (converted as Record<string, unknown>)[name])[0]
    // Value.Convert truncates "1.5" to 1: a whole number must be written as one.
    const raw = env[name]
    const notWhole = (schema as { type?: string }).type === 'integer' && raw !== undefined && raw !== '' && !Number.isInteger(Number(raw))
    if (notWhole) {
      problems.push(`  ${name}=${JSON.stringify(raw)}: must be integer`)
      continue
    }
    if (error === undefined) continue
    const choices = (schema as { anyOf?: Array<{ const: string }> }).anyOf
    const message = choices ? `must be one of ${choices.map((c) => c.const).join(', ')}` : error.message
    problems.push(`  ${name}=${JSON.stringify(env[name] ?? '')}: ${message}`)
  }
  const config = converted as Config
  // Checked with the others, so that these too are named alongside every other bad variable.
  if (config.PASSWORD_MIN_LENGTH > config.PASSWORD_MAX_LENGTH) {
    problems.push('  PASSWORD_MIN_LENGTH: must not exceed PASSWORD_MAX_LENGTH')
  }
  if (typeof config.REFRESH_TOKEN_SECRET === 'string' && config.REFRESH_TOKEN_SECRET !== '' && Buffer.byteLength(config.REFRESH_TOKEN_SECRET) < 32) {
    problems.push('  REFRESH_TOKEN_SECRET: must be at least 32 bytes')
  }
  problems.push(...signingKeyProblems(config))
  if (problems.length > 0) throw new ConfigError(`Invalid configuration:\n${problems.join('\n')}`)
  return config
}

/** Access-token key variables that contradict each other (see README "Keys and rotation"). */
function signingKeyProblems (config: Config): string[] {
  const problems: string[] = []
  const secret = typeof config.ACCESS_TOKEN_SECRET === 'string' ? config.ACCESS_TOKEN_SECRET : ''
  const keyVariables = (['SIGNING_KEYS_FILE', 'SIGNING_KEYS', 'SIGNING_KEY_FILE'] as const).filter((name) => typeof config[name] === 'string' && config[name] !== '')
  if (config.ACCESS_TOKEN_ALG === 'HS256') {
    if (secret === '') problems.push('  ACCESS_TOKEN_SECRET: required when ACCESS_TOKEN_ALG=HS256')
    for (const name of keyVariables) problems.push(`  ${name}: not used with ACCESS_TOKEN_ALG=HS256 (the key is ACCESS_TOKEN_SECRET)`)
  } else {
    if (secret !== '') problems.push(`  ACCESS_TOKEN_SECRET: only used with ACCESS_TOKEN_ALG=HS256 (ACCESS_TOKEN_ALG is ${String(config.ACCESS_TOKEN_ALG)})`)
    if (keyVariables.length > 1) problems.push(`  ${keyVariables.join(', ')}: set only one of them`)
  }
  if (secret !== '' && Buffer.byteLength(secret) < 32) problems.push('  ACCESS_TOKEN_SECRET: must be at least 32 bytes')
  if (secret !== '' && secret === config.REFRESH_TOKEN_SECRET) problems.push('  ACCESS_TOKEN_SECRET: must differ from REFRESH_TOKEN_SECRET')
  return problems
}

/** Read `.env` (when present, without overriding the real environment) and parse process.env. */
export function loadConfig (): Config {
  if (existsSync('.env')) process.loadEnvFile('.env')
  return parseConfig(process.env)
}
