// Two authd processes on one PostgreSQL database and one Redis, no proxy in front: a client
// may reach either. Concurrent refreshes of one token split across both obey the rotation
// rules (docs/tokens.md "Token rules"), and the login rate limit (Redis) and the per-account lockout
// (database) are shared: what one instance counted, the other enforces.
//
// Needs Redis (TEST_REDIS_URL, default redis://127.0.0.1:6379); PostgreSQL is a server the
// test starts itself. Each part sends its requests from its own client address
// (X-Forwarded-For, believed from 127.0.0.1 by TRUST_PROXY), so the per-IP rate limits of one
// part do not spill into another.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import pg from 'pg'
import { Redis } from 'ioredis'
import { sleep } from '../support/processes.js'
import { call, startAuthd, type HttpResult } from './authd-process.js'
import { requirePostgresBinaries, startOwnedPostgres } from './owned-postgres.js'

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'
const CONCURRENT = 24
const GRACE_SECONDS = 3
const LOGIN_LIMIT = 3
const LOCKOUT_THRESHOLD = 3
const PASSWORD = 'correct horse battery staple'

const claims = (token: string): { sid: string, jti: string } =>
  JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { sid: string, jti: string }
const from = (ip: string) => ({ 'x-forwarded-for': ip })
const show = (r: HttpResult) => `${r.status}${r.body?.code === undefined ? '' : ` ${String(r.body.code)}`}`

const binDir = requirePostgresBinaries(t)
if (binDir !== null) {
  t.test('two instances, one PostgreSQL, one Redis', async (t) => {
    const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null })
    try {
      await redis.connect()
      await redis.ping()
    } catch (error) {
      throw new Error(`Redis is not reachable at ${REDIS_URL} (set TEST_REDIS_URL): ${(error as Error).message}`)
    }
    const namespace = `authd-resilience-${randomUUID()}:`
    t.teardown(async () => {
      const keys = await redis.keys(`${namespace}*`)
      if (keys.length > 0) await redis.del(...keys)
      redis.disconnect()
    })

    const owned = await startOwnedPostgres(t, binDir)
    const url = await owned.createDatabase('authd')
    const env = {
    // One DATA_DIR: the second instance reads the keys the first one created.
      DATA_DIR: t.testdir(),
      DATABASE_URL: url,
      REDIS_URL,
      RATE_LIMIT_NAMESPACE: namespace,
      RATE_LIMIT_ENABLED: 'true',
      RATE_LIMIT_LOGIN: String(LOGIN_LIMIT),
      RATE_LIMIT_REGISTER: '1000',
      RATE_LIMIT_REFRESH: '1000',
      RATE_LIMIT_WINDOW: '60',
      TRUST_PROXY: '127.0.0.1',
      REFRESH_GRACE_SECONDS: String(GRACE_SECONDS),
      LOCKOUT_THRESHOLD: String(LOCKOUT_THRESHOLD),
      LOCKOUT_COOLOFF: '600'
    }
    const a = await startAuthd(t, env)
    const b = await startAuthd(t, { ...env, MIGRATE_ON_START: 'false' })
    const instances = [a, b]
    const db = new pg.Client({ connectionString: url })
    await db.connect()
    t.teardown(async () => { await db.end() })

    await t.test(`${CONCURRENT} concurrent refreshes of one token, split across both`, async (t) => {
      const ip = '10.0.0.1'
      const reg = await call(a.url, 'POST', '/v1/app/auth/register', { email: `split-${Date.now()}@example.com`, password: PASSWORD }, from(ip))
      t.equal(reg.status, 201, 'registered on instance A')
      const original = reg.body.tokens.refresh as string
      const { sid, jti } = claims(original)

      const replies = await Promise.all(Array.from({ length: CONCURRENT }, async (_, i) =>
        await call((instances[i % 2] ?? a).url, 'POST', '/v1/app/auth/refresh', { refresh: original }, from(ip))))
      t.same(replies.filter((r) => r.status >= 500 || r.status === 0).map(show), [], 'no 5xx, no dropped request')
      // All within the grace window: the rule is a valid pair for everyone (two tabs at once),
      // whichever instance answered, and one refresh token for all: the session does not fork.
      t.same(replies.filter((r) => r.status !== 200).map(show), [], `all ${CONCURRENT} got a pair`)
      const handedOut = replies.filter((r) => r.status === 200).map((r) => r.body.tokens.refresh as string)
      t.equal(new Set(handedOut).size, 1, 'every caller got the identical refresh token, from either instance')
      const [child] = handedOut as [string]
      t.equal(claims(child).sid, sid, 'in the original session')

      // One family: one session, alive; only the presented token blacklisted (rotated); the one
      // token handed out is the session's only live one.
      const sessions = await db.query('SELECT id::text AS id, revoked_at FROM sessions WHERE user_id = (SELECT user_id FROM sessions WHERE id = $1)', [sid])
      t.same(sessions.rows, [{ id: sid, revoked_at: null }], 'still exactly one session, not revoked')
      const blacklisted = await db.query('SELECT b.jti::text AS jti, b.reason FROM blacklisted_tokens b JOIN outstanding_tokens o ON o.jti = b.jti WHERE o.session_id = $1', [sid])
      t.same(blacklisted.rows, [{ jti, reason: 'rotated' }], 'only the presented token is blacklisted, as rotated')
      const live = await db.query('SELECT o.jti::text AS jti FROM outstanding_tokens o WHERE o.session_id = $1 AND NOT EXISTS (SELECT 1 FROM blacklisted_tokens b WHERE b.jti = o.jti)', [sid])
      t.same(live.rows.map((r) => r.jti), [claims(child).jti], 'exactly one live token: the one handed out')

      // It refreshes on both instances at once (one rotates it, the other replays that rotation).
      const next = await Promise.all(instances.map(async (instance) => await call(instance.url, 'POST', '/v1/app/auth/refresh', { refresh: child }, from(ip))))
      t.same(next.filter((r) => r.status !== 200).map(show), [], 'the token handed out refreshes on either instance')
      t.equal(new Set(next.map((r) => r.body.tokens.refresh as string)).size, 1, 'both instances hand out the same next token')

      // After the grace window the original is theft evidence on either instance: the whole
      // family ends, the newest tokens included.
      await sleep((GRACE_SECONDS + 1) * 1000)
      const reused = await call(b.url, 'POST', '/v1/app/auth/refresh', { refresh: original }, from(ip))
      t.equal(reused.body?.code, 'token_reused', `the original after the grace window → ${show(reused)}`)
      const newest = next.map((r) => r.body.tokens.refresh as string)
      const after = await Promise.all(newest.map(async (token, i) => await call((instances[i % 2] ?? a).url, 'POST', '/v1/app/auth/refresh', { refresh: token }, from(ip))))
      t.same([...new Set(after.map(show))], ['401 token_invalid'], 'every newest token of the family is now refused, on both instances')
      const revoked = await db.query('SELECT revoke_reason FROM sessions WHERE id = $1', [sid])
      t.same(revoked.rows, [{ revoke_reason: 'reuse_detected' }], 'the session is revoked for reuse')
    })

    await t.test(`the login rate limit (${LOGIN_LIMIT} per window per IP) is shared through Redis`, async (t) => {
      const ip = '10.0.0.2'
      const attempt = async (instance: typeof a) => await call(instance.url, 'POST', '/v1/app/auth/login', { login: `nobody-${randomUUID()}@example.com`, password: 'wrong password' }, from(ip))
      const allowed = [await attempt(a), await attempt(b), await attempt(a)]
      t.same(allowed.map(show), Array(LOGIN_LIMIT).fill('401 invalid_credentials'), `${LOGIN_LIMIT} attempts over both instances are let through`)
      const overB = await attempt(b)
      const overA = await attempt(a)
      t.equal(show(overB), '429 rate_limited', 'the next one is refused on B')
      t.equal(show(overA), '429 rate_limited', 'and on A')
      const other = await call(b.url, 'POST', '/v1/app/auth/login', { login: 'nobody@example.com', password: 'wrong password' }, from('10.0.0.3'))
      t.equal(show(other), '401 invalid_credentials', 'another client address has its own budget')
    })

    await t.test(`the lockout (${LOCKOUT_THRESHOLD} failed logins) is shared through the database`, async (t) => {
      const email = `lockout-${Date.now()}@example.com`
      t.equal((await call(a.url, 'POST', '/v1/app/auth/register', { email, password: PASSWORD }, from('10.0.1.1'))).status, 201, 'registered')
      // A new client address per attempt: the per-IP rate limit must not be what stops them.
      let n = 0
      const attempt = async (instance: typeof a, password: string) => await call(instance.url, 'POST', '/v1/app/auth/login', { login: email, password }, from(`10.0.2.${++n}`))
      const failures = [await attempt(a, 'wrong password 1'), await attempt(b, 'wrong password 2')]
      t.same(failures.map(show), ['401 invalid_credentials', '401 invalid_credentials'], 'two failures, one on each instance')
      const locking = await attempt(a, 'wrong password 3')
      t.equal(show(locking), '429 account_locked', `the ${LOCKOUT_THRESHOLD}rd failure, wherever it lands, locks the account`)
      const rightOnB = await attempt(b, PASSWORD)
      const rightOnA = await attempt(a, PASSWORD)
      t.equal(show(rightOnB), '429 account_locked', 'the right password is refused on B')
      t.equal(show(rightOnA), '429 account_locked', 'and on A')
    })
  })
}
