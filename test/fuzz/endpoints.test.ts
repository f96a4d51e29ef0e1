// Property-based fuzzing of every route the app has (fast-check): generated JSON bodies, raw
// bodies and content types, headers (bearer tokens, cookies, CSRF tokens, origins), path
// parameters and query strings. For every request: never a 5xx, and every 4xx is problem
// JSON with a string `code`. The routes are read from the app itself (printRoutes), so a
// route added later is fuzzed without touching this file.
//
// A failure prints fast-check's seed and the shrunk request; rerun with FUZZ_SEED=<seed>.
import { createHmac, randomUUID, sign } from 'node:crypto'
import fc from 'fast-check'
import t, { type Test } from 'tap'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import { buildWithDatabase, newAccount, testKeys } from '../helper.js'
import { decodeHeader, decodePayload, flipSignatureChar } from '../jwt-helper.js'
import { listRoutes, type Route } from './routes.js'

const BODY_LIMIT = 16_384
const ALLOWED_ORIGIN = 'https://app.example.com'
/** Runs per property; their sum plus the fixed corpus must reach MIN_REQUESTS. */
const RUNS = { json: 3_400, raw: 2_200, headers: 2_300, urls: 1_600 }
const MIN_REQUESTS = 10_000
const seedOption = process.env.FUZZ_SEED === undefined ? {} : { seed: Number(process.env.FUZZ_SEED) }

// About 30 s of CPU; on a busy two-core machine running two test files at once it can pass
// tap's default 120 s per file, so this file asks the runner for more.
t.setTimeout(300_000)

const { app, database } = await buildWithDatabase(t, {
  BODY_LIMIT: String(BODY_LIMIT),
  CORS_ORIGINS: ALLOWED_ORIGIN,
  COOKIE_SECURE: 'true'
})
const keys = await testKeys()
// COOKIE_SECURE=true: the __Host- names (config.ts); fuzz the names authd really reads.
const REFRESH_COOKIE = app.config.COOKIE_REFRESH_NAME
const CSRF_COOKIE = app.config.COOKIE_CSRF_NAME

// --- the routes, from the app (routes.ts) ----------------------------------------------------

const routes = listRoutes(app)

// --- principals whose real tokens the fuzzer can use (and mangle) -------------------------------

interface Principal {
  email: string
  username: string
  password: string
  userId: string
  access: string
  refresh: string
  /** Browser session: refresh cookie and its CSRF token. */
  cookie: string
  csrf: string
}

const principals: Principal[] = []

async function enroll (admin: boolean): Promise<Principal> {
  const account = newAccount()
  const reg = await app.inject({ method: 'POST', url: '/v1/app/auth/register', payload: account })
  if (reg.statusCode !== 201) throw new Error(`register failed: ${reg.statusCode} ${reg.body}`)
  const userId = reg.json().user.id as string
  // No admin API to grant a role with: an operator's direct change.
  if (admin) await database.prisma.user.update({ where: { id: userId }, data: { roles: ['admin'] } })
  const p: Principal = { email: account.email, username: account.username, password: account.password, userId, access: '', refresh: '', cookie: '', csrf: '' }
  if (!await renew(p)) throw new Error('a new account cannot log in')
  return p
}

/** Fresh tokens for a principal (the fuzzer may have revoked, changed or deleted it); false if it cannot log in. */
async function renew (p: Principal): Promise<boolean> {
  const res = await app.inject({ method: 'POST', url: '/v1/app/auth/login', payload: { login: p.email, password: p.password } })
  if (res.statusCode !== 200) return false
  p.access = res.json().tokens.access
  p.refresh = res.json().tokens.refresh
  const browser = await app.inject({ method: 'POST', url: '/v1/browser/auth/login', headers: { origin: ALLOWED_ORIGIN }, payload: { login: p.email, password: p.password } })
  if (browser.statusCode !== 200) return false
  p.csrf = browser.json().tokens.csrfToken
  p.cookie = browser.cookies.map((c) => `${c.name}=${c.value}`).join('; ')
  return true
}

async function refreshPrincipals (): Promise<void> {
  for (let i = 0; i < principals.length; i++) {
    const p = principals[i] as Principal
    if (!await renew(p)) principals[i] = await enroll(i === 0)
  }
}

principals.push(await enroll(true), await enroll(false), await enroll(false))
const pick = (i: number): Principal => principals[i % principals.length] as Principal

// --- sending and checking -------------------------------------------------------------------

let sent = 0

/** What went wrong with a response, or null. */
function violation (req: InjectOptions, res: LightMyRequestResponse): string | null {
  if (res.statusCode >= 500) return `status ${res.statusCode}: ${res.body.slice(0, 500)}`
  if (res.statusCode < 400) return null
  const type = String(res.headers['content-type'] ?? '')
  // The OAuth endpoints answer RFC 6749 §5.2 JSON instead (an unknown /oauth path is a 404 problem).
  if (String(req.url).startsWith('/oauth/') && type.startsWith('application/json')) return oauthViolation(res, type)
  if (!type.startsWith('application/problem+json')) return `${res.statusCode} with content-type "${type}"`
  if (req.method === 'HEAD') return null // no body to check
  let body: unknown
  try {
    body = JSON.parse(res.body)
  } catch {
    return `${res.statusCode} body is not JSON: ${res.body.slice(0, 200)}`
  }
  const problem = body as { code?: unknown, status?: unknown }
  if (typeof problem.code !== 'string') return `${res.statusCode} problem without a string code: ${res.body.slice(0, 200)}`
  if (problem.status !== res.statusCode) return `problem status ${String(problem.status)} ≠ ${res.statusCode}`
  return null
}

/** What is wrong with an error reply of an OAuth endpoint: it must be `{ error, error_description }` JSON. */
function oauthViolation (res: LightMyRequestResponse, type: string): string | null {
  if (!type.startsWith('application/json')) return `OAuth ${res.statusCode} with content-type "${type}"`
  const body = JSON.parse(res.body) as { error?: unknown, error_description?: unknown }
  if (typeof body.error !== 'string' || typeof body.error_description !== 'string') return `OAuth ${res.statusCode} without error/error_description: ${res.body.slice(0, 200)}`
  return null
}

const shorten = (value: unknown): string => {
  const text = typeof value === 'string' ? value : Buffer.isBuffer(value) ? `<${value.length} bytes> ${value.subarray(0, 80).toString('hex')}` : JSON.stringify(value) ?? String(value)
  return text.length > 300 ? `${text.slice(0, 300)}… (${text.length} chars)` : text
}

/** Sends one request; throws (so fast-check records and shrinks it) on a violation. */
async function send (req: InjectOptions): Promise<LightMyRequestResponse> {
  sent += 1
  if (sent % 400 === 0) await refreshPrincipals()
  const res = await app.inject(req)
  const problem = violation(req, res)
  if (problem !== null) {
    throw new Error(`${req.method} ${shorten(req.url)} → ${problem}\nheaders: ${shorten(req.headers)}\nbody: ${shorten(req.payload)}`)
  }
  return res
}

// --- JSON values, serialised by hand so that __proto__ keys and duplicates reach the wire -------

type JV = null | boolean | number | string | Raw | JV[] | { entries: Array<[string, JV]> }
/** Text placed into the JSON as is (deep nesting, numbers JSON.stringify cannot write). */
interface Raw { raw: string }
/** A placeholder resolved when the request is built: a live token or a principal's field. */
const REF = '\u0001ref:'

function resolveRef (text: string): string {
  if (!text.startsWith(REF)) return text
  const [what, index] = text.slice(REF.length).split(':') as [string, string]
  const p = pick(Number(index))
  switch (what) {
    case 'access': return p.access
    case 'refresh': return p.refresh
    case 'email': return p.email
    case 'EMAIL': return p.email.toUpperCase()
    case 'username': return p.username
    case 'password': return p.password
    case 'userId': return p.userId
    case 'sid': return String(decodePayload(p.access).sid)
    case 'csrf': return p.csrf
    default: return text
  }
}

function toJson (v: JV): string {
  if (v === null || typeof v === 'boolean' || typeof v === 'number') return JSON.stringify(v) ?? 'null'
  if (typeof v === 'string') return JSON.stringify(resolveRef(v))
  if (Array.isArray(v)) return `[${v.map(toJson).join(',')}]`
  if ('raw' in v) return v.raw
  return `{${v.entries.map(([k, val]) => `${JSON.stringify(resolveRef(k))}:${toJson(val)}`).join(',')}}`
}

const FIELDS = [
  'email', 'password', 'username', 'fullName', 'bio', 'birthDate', 'login', 'refresh', 'token',
  'currentPassword', 'newPassword', 'isActive', 'roles', 'emailVerified', 'passwordHash', 'id',
  'user', 'tokens', 'access', 'csrfToken', 'q', 'search', 'cursor', 'limit', 'type', 'sessionId'
]
const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__', 'then']

const SPECIAL_STRINGS = [
  '', ' ', '\u0000', 'a\u0000b', 'admin@example.com\u0000.evil', '\ud800', '\udfff', 'x\ud83d', '\ude00x', '\ud83d\ude00',
  '\u202eevil\u202c', '\u200b', '\ufeff', 'e\u0301', '👨‍👩‍👧‍👦', '🇺🇳', 'İ', 'ß', 'ﬀ', '＠', 'аdmin@example.com',
  'ADMIN@EXAMPLE.COM', 'a@b', 'a@b.c', '@', 'a@', '@b.c', 'a@b@c.d', '"a b"@example.com', 'user+tag@example.com',
  '../../etc/passwd', "' OR 1=1 --", '\'; DROP TABLE users; --', '$' + '{jndi:ldap://x/a}', '<script>alert(1)</script>',
  'true', 'null', '0', '-1', '1e309', 'NaN', 'Infinity', '00000000-0000-0000-0000-000000000000',
  'ffffffff-ffff-ffff-ffff-ffffffffffff', '2000-02-30', '1900-01-01', '9999-12-31', '0000-00-00', '2024-01-01T00:00:00Z',
  'Bearer', 'eyJ', 'a.b.c', '...', '%00', '%', '\r\n', '\t', '\\', '"', '{}', '[]'
]

const refArb = fc.tuple(fc.constantFrom('access', 'refresh', 'email', 'EMAIL', 'username', 'password', 'userId', 'sid', 'csrf'), fc.nat(5))
  .map(([what, i]) => `${REF}${what}:${i}`)

/** Long strings around and beyond BODY_LIMIT, of one- to four-byte characters and escapes. */
const hugeString = fc.tuple(
  fc.constantFrom(BODY_LIMIT - 200, BODY_LIMIT - 40, BODY_LIMIT, BODY_LIMIT + 1, 4 * BODY_LIMIT, 300, 1_025, 4_097),
  fc.constantFrom('a', 'é', '€', '😀', '\u0000', '"', '\\', '\ud800', ' ')
).map(([n, c]) => c.repeat(Math.max(1, Math.floor(n / Buffer.byteLength(c)))))

const nastyString: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.string(), weight: 3 },
  { arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 40 }), weight: 1 },
  { arbitrary: fc.constantFrom(...SPECIAL_STRINGS), weight: 4 },
  { arbitrary: fc.emailAddress(), weight: 2 },
  { arbitrary: fc.uuid(), weight: 1 },
  { arbitrary: refArb, weight: 3 },
  { arbitrary: hugeString, weight: 1 }
)

const nastyNumber: fc.Arbitrary<JV> = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom<JV>(0, -1, 1e308, -1e308, 2 ** 53 + 2, 5e-324, { raw: '1e999' }, { raw: '-0' }, { raw: '1E+2' }, { raw: '123456789012345678901234567890' })
)

/** Arrays or objects nested thousands deep, as text (JSON.stringify would need the objects). */
const deepNesting: fc.Arbitrary<JV> = fc.tuple(fc.constantFrom(10, 100, 1_000, 4_000, 7_000), fc.boolean())
  .map(([depth, arrays]) => ({ raw: arrays ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth) }))

const keyArb = fc.oneof(
  { arbitrary: fc.constantFrom(...FIELDS), weight: 6 },
  { arbitrary: fc.constantFrom(...PROTO_KEYS), weight: 2 },
  { arbitrary: nastyString, weight: 1 }
)

const { value: jsonValue } = fc.letrec<{ value: JV }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { arbitrary: nastyString, weight: 5 },
    { arbitrary: nastyNumber, weight: 2 },
    { arbitrary: fc.constantFrom<JV>(null, true, false), weight: 2 },
    { arbitrary: fc.array(tie('value'), { maxLength: 5 }), weight: 1 },
    { arbitrary: fc.array(fc.tuple(keyArb, tie('value')), { maxLength: 6 }).map((entries): JV => ({ entries })), weight: 2 },
    { arbitrary: deepNesting, weight: 1 }
  )
}))

/** Objects shaped like a real request body (known fields, plausible or hostile values). */
const plausible: fc.Arbitrary<JV> = fc.oneof(nastyString, fc.constantFrom('correct horse battery staple', 'Tr0ub4dor&3', 'user@example.com', 'alice', '1990-05-17'))
const shapedBody: fc.Arbitrary<JV> = fc.constantFrom<string[]>(
  ['email', 'password', 'username', 'fullName', 'bio'], ['login', 'password'], ['refresh'], ['token'],
  ['currentPassword', 'newPassword'], ['password'], ['username', 'fullName', 'bio', 'birthDate'], ['email'],
  ['token', 'newPassword'], ['isActive', 'roles'], ['email', 'password']
).chain((fields) => fc.tuple(
  fc.subarray(fields, { minLength: 0 }),
  fc.array(fc.oneof(plausible, jsonValue), { minLength: fields.length, maxLength: fields.length }),
  fc.array(fc.tuple(keyArb, jsonValue), { maxLength: 2 })
).map(([chosen, values, extra]): JV => ({ entries: [...chosen.map((f, i): [string, JV] => [f, values[i] ?? null]), ...extra] })))

const jsonBody: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: shapedBody, weight: 5 },
  { arbitrary: jsonValue, weight: 3 },
  { arbitrary: fc.constantFrom<JV>({ entries: [['__proto__', { entries: [['isAdmin', true]] }]] }, { entries: [['constructor', { entries: [['prototype', { entries: [['roles', ['admin']]] }]] }]] }), weight: 1 }
).map(toJson)

// --- raw bodies and content types ---------------------------------------------------------------

const RAW_TEXTS = [
  '', ' ', 'null', 'true', '0', '""', '[]', '{}', '{', '}', '{"a":', '{"email":"x","password":"y"', '{"email":"x",}',
  '\ufeff{}', '{"a":1}{"b":2}', '{"a":1} trailing', "{'a':1}", '{"a":NaN}', '{"a":Infinity}', '{"a":undefined}',
  '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{"x":1}}}', '{"a":"\\ud800"}', '{"a":"\\u0000"}', '{"a":"\\x41"}',
  'email=a@b.c&password=x', '<xml/>', '--boundary\r\n', '1e999', '-', '{"a":1e999}', '{"a":' + '9'.repeat(400) + '}'
]

/** Sent to every route before the random runs. */
const CORPUS = [
  '', '{', '[]', '"x"', '\ufeff{}', '{"a":1}{"b":2}', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{"x":1}}}',
  '{"a":"\ud800"}', '['.repeat(5_000) + ']'.repeat(5_000), JSON.stringify({ email: 'é'.repeat(BODY_LIMIT) })
]

const rawBody: fc.Arbitrary<string | Buffer> = fc.oneof(
  fc.constantFrom(...RAW_TEXTS),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  // Invalid UTF-8 inside otherwise valid JSON: overlong, surrogate half, stray continuation.
  fc.constantFrom([0xc0, 0xaf], [0xed, 0xa0, 0x80], [0x80], [0xff, 0xfe], [0xf4, 0x90, 0x80, 0x80]).map((bytes) => Buffer.concat([Buffer.from('{"email":"'), Buffer.from(bytes), Buffer.from('","password":"x"}')])),
  jsonBody.map((s) => s.slice(0, Math.max(0, s.length - 1))), // truncated JSON
  fc.tuple(fc.nat(3), fc.constantFrom('utf16le', 'latin1', 'ucs2') as fc.Arbitrary<BufferEncoding>).map(([_n, enc]) => Buffer.from('{"login":"a@b.c","password":"x"}', enc))
)

const CONTENT_TYPES = [
  'application/json', 'application/json; charset=utf-8', 'application/json; charset=latin1', 'application/json; charset=utf-16le',
  'APPLICATION/JSON', 'Application/Json ; Charset="UTF-8"', 'application/problem+json', 'application/vnd.api+json', 'application/jsonx',
  'application/json;;;', 'application/json; boundary=x', 'text/plain', 'text/json', 'text/html', 'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=----x', 'application/octet-stream', 'application/xml', '*/*', ';', 'json', ' application/json'
]
const latin1Char = fc.integer({ min: 0x20, max: 0xff }).filter((c) => c !== 0x7f).map((c) => String.fromCharCode(c))
/** Header values a real HTTP parser would let through (no control characters). */
const headerText = (maxLength = 60): fc.Arbitrary<string> => fc.string({ unit: latin1Char, maxLength })
const contentType: fc.Arbitrary<string | undefined> = fc.oneof(
  { arbitrary: fc.constantFrom(...CONTENT_TYPES), weight: 6 },
  { arbitrary: headerText(), weight: 1 },
  { arbitrary: fc.constant(undefined), weight: 1 }
)

// --- tokens, cookies and the other headers ------------------------------------------------------

const b64 = (text: string | Buffer): string => Buffer.from(text).toString('base64url')

/** A JWS signed with authd's real keys (test key material) over whatever header and payload text. */
function signWithRealKey (headerText: string, payloadText: string, kind: 'access' | 'refresh'): string {
  const input = `${b64(headerText)}.${b64(payloadText)}`
  const signature = kind === 'access'
    ? sign('sha256', Buffer.from(input), keys.access.privateKey)
    : createHmac('sha256', keys.refreshSecret).update(input).digest()
  return `${input}.${b64(signature)}`
}

const now = () => Math.floor(Date.now() / 1000)

/** Claims close to real ones with some of them replaced by hostile values. */
const forgedClaims: fc.Arbitrary<string> = fc.tuple(
  fc.constantFrom('access', 'refresh'),
  fc.nat(5),
  fc.array(fc.tuple(fc.constantFrom('sub', 'sid', 'jti', 'iat', 'exp', 'nbf', 'iss', 'aud', 'roles', 'typ', '__proto__'), jsonValue), { maxLength: 3 })
).map(([kind, i, changes]) => {
  const base = decodePayload(kind === 'access' ? pick(i).access : pick(i).refresh)
  const entries: Array<[string, JV]> = Object.entries({ ...base, jti: randomUUID(), iat: now(), exp: now() + 300 })
    .map(([k, v]) => [k, v as JV])
  for (const [k, v] of changes) {
    const at = entries.findIndex(([key]) => key === k)
    if (at >= 0) entries[at] = [k, v]
    else entries.push([k, v])
  }
  return `${kind}\u0002${toJson({ entries })}`
})

const forgedHeader: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '{"alg":"none","typ":"at+jwt"}', '{"alg":"HS256","typ":"at+jwt"}', '{"alg":"RS256"}', '{"alg":"RS256","kid":"../../etc/passwd"}',
    '{"alg":"RS256","kid":{"a":1}}', '{"alg":"RS256","kid":null,"typ":"at+jwt"}', '{"alg":"RS256","jku":"http://127.0.0.1:1/jwks"}',
    '{"alg":"RS256","x5u":"http://127.0.0.1:1/x"}', '{"alg":"RS256","crit":["b64"],"b64":false}', '{"alg":["RS256"]}', '[]', 'null', '"RS256"',
    '{"alg":"HS256","typ":"refresh+jwt"}', '{"alg":"HS256","typ":"refresh+jwt","kid":"x"}', '{"alg":"RS256","typ":"refresh+jwt"}', 'not json'
  ),
  jsonValue.map(toJson)
)

const garbageToken: fc.Arbitrary<string> = fc.oneof(
  fc.array(fc.oneof(fc.base64String({ maxLength: 60 }), fc.string({ unit: 'grapheme-ascii', maxLength: 30 }), fc.constant('')), { minLength: 1, maxLength: 6 }).map((parts) => parts.join('.')),
  fc.tuple(forgedHeader, jsonValue).map(([h, p]) => `${b64(h)}.${b64(toJson(p))}.${b64('sig')}`),
  fc.constantFrom('a'.repeat(9_000), `${b64('{"alg":"RS256"}')}.${'A'.repeat(8_000)}.x`, '..', '.', 'eyJ.eyJ.', 'null', 'undefined', '[object Object]')
)

/** Token descriptions, turned into text when the request is sent (principals change meanwhile). */
type TokenSpec =
  | { kind: 'live', which: 'access' | 'refresh', who: number, mangle: 'none' | 'flip' | 'drop-sig' | 'alg-none' | 'extra-part' | 'truncate' | 'swap-parts' | 'upper' }
  | { kind: 'forged', header: string, claims: string }
  | { kind: 'garbage', text: string }

const tokenSpec: fc.Arbitrary<TokenSpec> = fc.oneof(
  fc.record({
    kind: fc.constant('live' as const),
    which: fc.constantFrom('access' as const, 'refresh' as const),
    who: fc.nat(5),
    mangle: fc.constantFrom('none' as const, 'flip' as const, 'drop-sig' as const, 'alg-none' as const, 'extra-part' as const, 'truncate' as const, 'swap-parts' as const, 'upper' as const)
  }),
  fc.record({ kind: fc.constant('forged' as const), header: fc.oneof(fc.constant(''), forgedHeader), claims: forgedClaims }),
  fc.record({ kind: fc.constant('garbage' as const), text: garbageToken })
)

function tokenText (spec: TokenSpec): string {
  if (spec.kind === 'garbage') return spec.text
  if (spec.kind === 'forged') {
    const [kind, claims] = spec.claims.split('\u0002') as ['access' | 'refresh', string]
    const real = kind === 'access' ? pick(0).access : pick(0).refresh
    const header = spec.header === '' ? JSON.stringify(decodeHeader(real)) : spec.header
    return signWithRealKey(header, claims, kind)
  }
  const p = pick(spec.who)
  const token = spec.which === 'access' ? p.access : p.refresh
  const [h, pl, s] = token.split('.') as [string, string, string]
  switch (spec.mangle) {
    case 'none': return token
    case 'flip': return flipSignatureChar(token)
    case 'drop-sig': return `${h}.${pl}.`
    case 'alg-none': return `${b64(JSON.stringify({ ...decodeHeader(token), alg: 'none' }))}.${pl}.`
    case 'extra-part': return `${token}.${s}`
    case 'truncate': return token.slice(0, Math.floor(token.length / 2))
    case 'swap-parts': return `${pl}.${h}.${s}`
    case 'upper': return token.toUpperCase()
  }
}

type AuthSpec = { scheme: string, token: TokenSpec } | { raw: string }
const authSpec: fc.Arbitrary<AuthSpec> = fc.oneof(
  { arbitrary: fc.record({ scheme: fc.constantFrom('Bearer ', 'bearer ', 'BEARER ', 'Bearer  ', 'Bearer\t', 'Basic ', 'Token ', '', 'Bearer'), token: tokenSpec }), weight: 6 },
  { arbitrary: fc.record({ raw: fc.oneof(headerText(), fc.constantFrom('Bearer', 'Bearer ', 'Bearer a b', 'Basic dXNlcjpwYXNz', 'Bearer ' + 'x'.repeat(12_000))) }), weight: 1 }
)

const authText = (spec: AuthSpec): string => 'raw' in spec ? spec.raw : spec.scheme + tokenText(spec.token)

/** For the body runs: mostly a live access token, so that bodies get past authentication. */
const bodyAuth: fc.Arbitrary<AuthSpec | null> = fc.oneof(
  { arbitrary: fc.nat(5).map((who): AuthSpec => ({ scheme: 'Bearer ', token: { kind: 'live', which: 'access', who, mangle: 'none' } })), weight: 3 },
  { arbitrary: authSpec, weight: 2 },
  { arbitrary: fc.constant(null), weight: 1 }
)

interface HeaderSpec {
  authorization?: AuthSpec
  cookie?: { refresh?: TokenSpec | string, csrf?: string, extra?: string, live?: number }
  csrf?: string
  origin?: string
  secFetchSite?: string
  forwardedFor?: string
  userAgent?: string
  accept?: string
  /** Conditional and range headers: the static files under /docs honour them. */
  conditional?: Record<string, string>
}

const csrfValue: fc.Arbitrary<string> = fc.oneof(refArb, headerText(80), fc.constantFrom('', 'null', 'A'.repeat(43), '%00'))

const headerSpec: fc.Arbitrary<HeaderSpec> = fc.record({
  authorization: authSpec,
  cookie: fc.record({
    refresh: fc.oneof(tokenSpec, headerText(40), fc.constant('%E0%A4%A')),
    csrf: csrfValue,
    extra: fc.oneof(headerText(80), fc.constantFrom(';;;', '=', '==;=', `${REFRESH_COOKIE}=a; ${REFRESH_COOKIE}=b`, 'a=' + 'b'.repeat(6_000))),
    live: fc.nat(5)
  }, { requiredKeys: [] }),
  csrf: csrfValue,
  origin: fc.oneof(
    fc.constantFrom(ALLOWED_ORIGIN, ALLOWED_ORIGIN, 'https://evil.example', 'null', `${ALLOWED_ORIGIN}.evil.example`, ALLOWED_ORIGIN.toUpperCase(), `${ALLOWED_ORIGIN}/`, `${ALLOWED_ORIGIN}:443`, 'file://', '*'),
    headerText(40)
  ),
  secFetchSite: fc.constantFrom('cross-site', 'same-site', 'same-origin', 'none', 'CROSS-SITE', ''),
  forwardedFor: fc.oneof(headerText(40), fc.constantFrom('1.2.3.4', '::1', '999.999.999.999', '1.2.3.4, 5.6.7.8', 'unknown')),
  userAgent: fc.oneof(headerText(80), fc.constant('U'.repeat(4_000))),
  accept: fc.constantFrom('application/json', 'text/html', '*/*', 'application/problem+json', '', 'application/xml;q=0.9'),
  conditional: fc.record({
    range: fc.oneof(fc.constantFrom('bytes=0-0', 'bytes=999999999-', 'bytes=5-1', 'bytes=-0', 'bytes=0-1,2-3,4-5', 'items=0-1', 'bytes=abc', ''), headerText(30)),
    'if-none-match': fc.oneof(fc.constantFrom('*', 'W/"x"', '"x"', ''), headerText(30)),
    'if-match': fc.oneof(fc.constantFrom('*', '"nope"', ''), headerText(30)),
    'if-modified-since': fc.oneof(fc.constantFrom('Thu, 01 Jan 1970 00:00:00 GMT', 'Fri, 31 Dec 9999 23:59:59 GMT', 'yesterday'), headerText(30)),
    'if-unmodified-since': fc.constantFrom('Thu, 01 Jan 1970 00:00:00 GMT', 'garbage'),
    'if-range': fc.constantFrom('"x"', 'Thu, 01 Jan 1970 00:00:00 GMT'),
    'accept-encoding': fc.constantFrom('gzip', 'br', 'identity;q=0', '*;q=0', 'x'.repeat(500))
  }, { requiredKeys: [] })
}, { requiredKeys: [] })

function headersOf (spec: HeaderSpec): Record<string, string> {
  const h: Record<string, string> = {}
  if (spec.authorization !== undefined) h.authorization = authText(spec.authorization)
  if (spec.cookie !== undefined) {
    const parts: string[] = []
    const c = spec.cookie
    if (c.live !== undefined) parts.push(pick(c.live).cookie)
    if (c.refresh !== undefined) parts.push(`${REFRESH_COOKIE}=${typeof c.refresh === 'string' ? c.refresh : tokenText(c.refresh)}`)
    if (c.csrf !== undefined) parts.push(`${CSRF_COOKIE}=${resolveRef(c.csrf)}`)
    if (c.extra !== undefined) parts.push(c.extra)
    h.cookie = parts.join('; ')
  }
  if (spec.csrf !== undefined) h['x-csrf-token'] = resolveRef(spec.csrf)
  if (spec.origin !== undefined) h.origin = spec.origin
  if (spec.secFetchSite !== undefined) h['sec-fetch-site'] = spec.secFetchSite
  if (spec.forwardedFor !== undefined) h['x-forwarded-for'] = spec.forwardedFor
  if (spec.userAgent !== undefined) h['user-agent'] = spec.userAgent
  if (spec.accept !== undefined) h.accept = spec.accept
  Object.assign(h, spec.conditional)
  // Header values travel as latin1 on the wire: anything beyond it could not have been sent.
  for (const [k, v] of Object.entries(h)) h[k] = Buffer.from(v, 'latin1').toString('latin1')
  return h
}

// --- URLs: path parameters, wildcards, query strings --------------------------------------------

const PATH_SEGMENTS = [
  '..', '.', '%', '%zz', '%00', '%2F', '%2e%2e', '%ED%A0%80', '%C0%AF', '%FF', 'a%20b', '%E2%80%AE', encodeURIComponent('😀'),
  '00000000-0000-0000-0000-000000000000', 'null', 'undefined', '-1', '0', '1e9', '__proto__', 'constructor', 'me', 'x'.repeat(3_000),
  '%25', '*', ';', ';a=b', '..%2F..%2F', '%5C', 'A%0D%0AX-Injected:%201'
]
const segmentArb: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...PATH_SEGMENTS), weight: 4 },
  { arbitrary: fc.uuid(), weight: 2 },
  // Spellings of a UUID that Ajv's format 'uuid' or PostgreSQL's uuid type accept and authd's
  // id rule does not (a urn:uuid: session id once reached the ::uuid cast as a 500).
  { arbitrary: fc.tuple(fc.uuid(), fc.constantFrom('urn:uuid:', 'URN:UUID:', '%7B', 'upper', 'nodash')).map(([u, how]) => how === 'upper' ? u.toUpperCase() : how === 'nodash' ? u.replaceAll('-', '') : how === '%7B' ? `%7B${u}%7D` : `${how}${u}`), weight: 1 },
  { arbitrary: fc.constantFrom(`${REF}userId:0`, `${REF}userId:1`, `${REF}sid:0`, `${REF}sid:1`), weight: 2 },
  { arbitrary: nastyString.filter((s) => s !== '' && s.length < 5_000).map((s) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, 'x'))), weight: 3 }
)
const QUERY_KEYS = ['q', 'search', 'email', 'cursor', 'limit', 'after', 'before', 'page', 'token', 'refresh', '__proto__', '__proto__[x]', 'constructor[prototype][x]', 'a[]', 'a[0]', '']
const queryArb: fc.Arbitrary<string> = fc.oneof(
  fc.array(fc.tuple(fc.oneof(fc.constantFrom(...QUERY_KEYS), segmentArb), fc.oneof(segmentArb, fc.constantFrom('', '1', '-1', '0', '100000', '1.5', 'abc', 'true', '[]'))), { maxLength: 4 })
    .map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join('&')),
  fc.constantFrom('', '&', '&&&', '=', '==', '%', 'a', 'a=1&a=2&a=3', 'limit=1&limit=2', `q=${'x'.repeat(5_000)}`, 'cursor=%ZZ')
)

function urlFor (template: string, segments: string[]): string {
  let i = 0
  const next = () => resolveRef(segments[i++ % Math.max(1, segments.length)] ?? 'x')
  const path = template === '*'
    ? `/${segments.map(resolveRef).join('/')}`
    : template.split('/').map((part) => part.startsWith(':') ? next() : part === '*' ? next() : part).join('/')
  return path.startsWith('/') ? path : `/${path}`
}

// --- request builders ---------------------------------------------------------------------------

const routeArb = fc.constantFrom(...routes)
// Bodies matter only where a method carries one; GET and HEAD routes get the header and URL runs.
const bodyRouteArb = fc.constantFrom(...routes.filter((r) => r.method !== 'GET' && r.method !== 'HEAD'))
const OTHER_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'] as const
const methodFor = (route: Route, other: number | null): string => other === null ? route.method : OTHER_METHODS[other % OTHER_METHODS.length] as string
const withBody = (method: string): boolean => method !== 'GET' && method !== 'HEAD'
const paramSegments = fc.array(segmentArb, { minLength: 1, maxLength: 3 })

// --- the properties --------------------------------------------------------------------------

t.test('the route list is read from the app', async (t) => {
  t.ok(routes.length >= 20, `${routes.length} method+path pairs`)
  for (const known of [['POST', '/v1/app/auth/login'], ['POST', '/v1/browser/auth/refresh'], ['DELETE', '/v1/sessions/:id'], ['GET', '/readyz'],
    // The public documents: discovery (both names) and the JWKS get the same runs as every route.
    ['GET', '/.well-known/openid-configuration'], ['GET', '/.well-known/oauth-authorization-server'], ['GET', '/.well-known/jwks.json']]) {
    t.ok(routes.some((r) => r.method === known[0] && r.url === known[1]), `${known.join(' ')} is listed`)
  }
  // hasRoute() knows no wildcard patterns (the CORS `OPTIONS *`, static files under /docs/*).
  const unknown = routes.filter((r) => !r.url.includes('*') && !app.hasRoute({ method: r.method as 'GET', url: r.url }))
  t.same(unknown, [], 'the router confirms every parsed route')
})

const property = async (t: Test, name: string, numRuns: number, arb: fc.Arbitrary<InjectOptions>) => {
  await t.test(name, async (t) => {
    const before = sent
    await fc.assert(fc.asyncProperty(arb, async (req) => { await send(req) }), { numRuns, ...seedOption })
    t.ok(sent - before >= numRuns, `${sent - before} requests, no 5xx, every 4xx problem JSON`)
  })
}

t.test('fuzzing every route', async (t) => {
  // A fixed corpus first: every route × the classic bad bodies, so each route sees them even
  // when the random runs happen not to pick it.
  await t.test('fixed corpus on every route', async (t) => {
    const before = sent
    for (const route of routes) {
      for (const text of CORPUS) {
        const method = route.method
        await send({
          method: method as 'POST',
          url: urlFor(route.url, ['..', '%zz', '00000000-0000-0000-0000-000000000000']),
          headers: { 'content-type': 'application/json', authorization: `Bearer ${pick(1).access}`, origin: ALLOWED_ORIGIN },
          ...(withBody(method) ? { payload: text } : {})
        })
      }
    }
    t.ok(sent - before >= routes.length, `${sent - before} requests`)
  })

  await property(t, 'JSON bodies (wrong types, huge and unicode strings, nesting, prototype keys)', RUNS.json,
    fc.tuple(bodyRouteArb, paramSegments, jsonBody, bodyAuth, fc.option(fc.nat(6), { freq: 8 }), fc.boolean()).map(([route, segs, body, auth, other, browserOrigin]) => {
      const method = methodFor(route, other)
      const headers: Record<string, string> = { 'content-type': 'application/json' }
      if (auth !== null) headers.authorization = authText(auth)
      if (browserOrigin) headers.origin = ALLOWED_ORIGIN
      return { method: method as 'POST', url: urlFor(route.url, segs), headers, ...(withBody(method) ? { payload: body } : {}) }
    }))

  await property(t, 'raw bodies and content types', RUNS.raw,
    fc.tuple(bodyRouteArb, paramSegments, fc.oneof(rawBody, jsonBody), contentType, fc.option(fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'chunked, gzip'), { freq: 5 })).map(([route, segs, body, type, encoding]) => {
      const headers: Record<string, string> = {}
      if (type !== undefined) headers['content-type'] = type
      if (encoding !== null) headers['content-encoding'] = encoding
      return { method: route.method as 'POST', url: urlFor(route.url, segs), headers, ...(withBody(route.method) ? { payload: body } : {}) }
    }))

  await property(t, 'headers: bearer tokens, cookies, CSRF tokens, origins', RUNS.headers,
    fc.tuple(routeArb, paramSegments, headerSpec, fc.oneof(shapedBody.map(toJson), fc.constant('{}'), fc.constant(''))).map(([route, segs, spec, body]) => {
      const headers = headersOf(spec)
      if (body !== '') headers['content-type'] = 'application/json'
      return { method: route.method as 'POST', url: urlFor(route.url, segs), headers, ...(withBody(route.method) && body !== '' ? { payload: body } : {}) }
    }))

  await property(t, 'paths, path parameters and query strings', RUNS.urls,
    fc.tuple(routeArb, fc.array(segmentArb, { minLength: 1, maxLength: 4 }), queryArb, fc.option(fc.nat(6), { freq: 4 }), fc.constantFrom('', '/', '//', '/.', '?', '#x', ';x')).map(([route, segs, query, other, suffix]) => {
      const method = methodFor(route, other)
      const url = `${urlFor(route.url, segs)}${suffix}${query === '' ? '' : `${suffix.includes('?') ? '&' : '?'}${query}`}`
      return {
        method: method as 'GET',
        url,
        headers: { authorization: `Bearer ${pick(0).access}`, 'content-type': 'application/json' },
        ...(withBody(method) ? { payload: '{}' } : {})
      }
    }))

  t.ok(sent >= MIN_REQUESTS, `${sent} fuzzed requests in total (at least ${MIN_REQUESTS})`)
  const health = await app.inject({ method: 'GET', url: '/readyz' })
  t.equal(health.statusCode, 200, 'the app still serves afterwards')
})
