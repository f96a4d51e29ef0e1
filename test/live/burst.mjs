// A concurrent burst of the hot paths against a running authd: SESSIONS accounts are registered
// at once, then in each of ROUNDS rounds every session asks GET /v1/users/me twice and rotates
// its refresh token, all sessions at the same time. Behind a transaction-mode pooler this is
// what broke (named prepared statements landing on another server connection: 500s), so every
// answer must be the expected 2xx; any 5xx or other status counts as a failure.
//
//   BASE_URL=http://127.0.0.1:3999 SESSIONS=40 ROUNDS=5 node test/live/burst.mjs
//
// The server's RATE_LIMIT_REGISTER and RATE_LIMIT_REFRESH must allow SESSIONS registrations and
// SESSIONS × ROUNDS refreshes from one IP. Ends with "burst: N passed, M failed" (exit 1 on a failure).
import { randomBytes } from 'node:crypto'

const base = process.env.BASE_URL ?? 'http://127.0.0.1:3000'
const sessions = Number(process.env.SESSIONS ?? 40)
const rounds = Number(process.env.ROUNDS ?? 5)
const run = `${Date.now()}${Math.floor(Math.random() * 1e6)}`
// Unrelated to the address (the password policy refuses similar ones), unique per account.
const password = () => `correct horse ${randomBytes(6).toString('hex')} staple`

const statuses = new Map() // "METHOD path status" -> count
const samples = [] // a few unexpected replies, to show what went wrong
let passed = 0
let failed = 0

async function call (method, path, expected, { body, token } = {}) {
  let status = 0
  let text = ''
  try {
    const res = await fetch(base + path, {
      method,
      headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {})
    })
    status = res.status
    text = await res.text()
  } catch (error) {
    text = String(error)
  }
  const key = `${method} ${path.replace(/\?.*/, '')} ${status}`
  statuses.set(key, (statuses.get(key) ?? 0) + 1)
  if (status === expected) {
    passed += 1
    return JSON.parse(text)
  }
  failed += 1
  if (samples.length < 5) samples.push(`${key}: ${text.slice(0, 300)}`)
  return null
}

const registered = await Promise.all(Array.from({ length: sessions }, (_, i) =>
  call('POST', '/v1/app/auth/register', 201, { body: { email: `burst-${run}-${i}@example.com`, password: password() } })))
const live = registered.filter((r) => r !== null).map((r) => r.tokens)

for (let round = 0; round < rounds; round++) {
  await Promise.all(live.map(async (tokens) => {
    const [next] = await Promise.all([
      call('POST', '/v1/app/auth/refresh', 200, { body: { refresh: tokens.refresh } }),
      call('GET', '/v1/users/me', 200, { token: tokens.access }),
      call('GET', '/v1/users/me', 200, { token: tokens.access })
    ])
    if (next !== null) Object.assign(tokens, next.tokens)
  }))
}

for (const [key, count] of [...statuses].sort()) console.log(`${key}: ${count}`)
for (const sample of samples) console.log(`unexpected: ${sample}`)
const fiveHundreds = [...statuses].filter(([key]) => / 5\d\d$/.test(key)).reduce((sum, [, count]) => sum + count, 0)
console.log(`5xx answers: ${fiveHundreds}`)
console.log(`burst: ${passed} passed, ${failed} failed`)
process.exitCode = failed === 0 ? 0 : 1
