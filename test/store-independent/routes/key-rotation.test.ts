// Zero-failure key rotation under load. authd listens on a real port; clients keep refreshing
// to get fresh access tokens, and an outside verifier (jose's createRemoteJWKSet against the
// live JWKS URL, caching it) checks every one, as another service would. Mid-way the key is
// rotated with `authd keys rotate`. Not one verification may fail, and tokens of both keys
// must have been seen.
//
// Times are scaled down from production: there the JWKS may be cached 300 s and a new key
// signs 330 s after the rotation; here the verifier caches it 200 ms and the key signs after
// 5 s. The margin must cover the verifier's cache age plus a JWKS fetch already in flight when
// the key is published — on a loaded CI machine such a fetch took over a second, and a 1 s
// margin let the verifier hold a stale set when the new key began to sign (the failure this
// test exists to catch). The test asserts counts, never durations.
import t from 'tap'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import type { AddressInfo } from 'node:net'
import { runKeysCommand } from '../../../src/keys/keys-command.js'
import { build, newAccount, TEST_ISSUER } from '../../helper.js'
import { decodeHeader } from '../../jwt-helper.js'

const app = await build(t, { SIGNING_KEYS_RELOAD_INTERVAL: '0' }, { keys: undefined })
await app.listen({ host: '127.0.0.1', port: 0 })
const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`

const verifierJwks = createRemoteJWKSet(new URL(`${base}/.well-known/jwks.json`), { cacheMaxAge: 200, cooldownDuration: 30_000 })

async function post (path: string, body: unknown): Promise<{ status: number, json: Record<string, any> }> {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  return { status: res.status, json: await res.json() as Record<string, any> }
}

t.test('rotating the signing key during a load of verifications fails none of them', async (t) => {
  const [oldKid] = app.tokens.accessKeys.keys().map((k) => k.kid)
  const counts = { verified: 0, verifyFailures: 0, refreshFailures: 0, meFailures: 0 }
  const seenKids = new Map<string, number>()
  const failures: string[] = []
  let rotated = false
  const started = Date.now()
  // Counts, not durations, end the run: each key must have signed PER_KEY tokens (the old one
  // before the rotation starts, the new one after it). A generous time bound only keeps a
  // broken build from looping forever; the assertions below then fail.
  const PER_KEY = 20
  const signedBy = (kid: string | undefined) => (kid === undefined ? 0 : seenKids.get(kid) ?? 0)
  const newKid = () => [...seenKids.keys()].find((k) => k !== oldKid)
  const done = () => Date.now() - started > 120_000 || (rotated && signedBy(newKid()) >= PER_KEY)

  async function client (): Promise<void> {
    const account = newAccount()
    const registered = await post('/v1/app/auth/register', account)
    if (registered.status !== 201) throw new Error(`register: ${registered.status}`)
    let refresh = registered.json.tokens.refresh as string
    while (!done()) {
      const res = await post('/v1/app/auth/refresh', { refresh })
      if (res.status !== 200) {
        counts.refreshFailures += 1
        failures.push(`refresh ${res.status} ${JSON.stringify(res.json)}`)
        return
      }
      refresh = res.json.tokens.refresh
      const access = res.json.tokens.access as string
      const kid = String(decodeHeader(access).kid)
      seenKids.set(kid, (seenKids.get(kid) ?? 0) + 1)
      try {
        await jwtVerify(access, verifierJwks, { issuer: TEST_ISSUER, audience: 'authd', typ: 'at+jwt' })
        counts.verified += 1
      } catch (error) {
        counts.verifyFailures += 1
        failures.push(`jose: ${(error as Error).message} (kid ${kid})`)
      }
      const me = await fetch(`${base}/v1/users/me`, { headers: { authorization: `Bearer ${access}` } })
      if (me.status !== 200) {
        counts.meFailures += 1
        failures.push(`me ${me.status} (kid ${kid})`)
      }
    }
  }

  async function rotateMidway (): Promise<void> {
    while (signedBy(oldKid) < PER_KEY && Date.now() - started < 120_000) await new Promise((resolve) => setTimeout(resolve, 50))
    const code = await runKeysCommand(['rotate', '--activate-in', '5'], { loadConfig: () => app.config, out: () => {}, err: () => {} })
    if (code !== 0) throw new Error('rotate failed')
    // The service would notice within SIGNING_KEYS_RELOAD_INTERVAL; here it is told at once.
    await app.tokens.accessKeys.reload()
    rotated = true
  }

  await Promise.all([client(), client(), client(), client(), rotateMidway()])

  t.same(failures.slice(0, 5), [], 'no failure of any kind')
  t.equal(counts.verifyFailures, 0, 'zero failed verifications by the outside verifier')
  t.equal(counts.meFailures, 0, 'zero refusals by authd itself')
  t.equal(counts.refreshFailures, 0, 'zero failed refreshes')
  t.equal(seenKids.size, 2, `tokens of both keys were seen (${JSON.stringify(Object.fromEntries(seenKids))})`)
  t.ok(signedBy(oldKid) >= PER_KEY, 'the old key signed before the switch')
  t.ok(signedBy(newKid()) >= PER_KEY, 'the new key signed after it')
  t.ok(counts.verified >= 2 * PER_KEY, `every one of those tokens was verified (${counts.verified})`)
})
