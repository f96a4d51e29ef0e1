// A burst of logins must not hold up refreshes. bcrypt and access-token signing share libuv's
// thread pool; with every login's bcrypt queued there at once, a refresh's signature waited
// behind all of them (seconds, under a real storm). The hasher runs at most
// bcryptConcurrency() hashes at once and always leaves a pool thread free, so the refresh is
// answered while the logins are still being hashed. Order is asserted, not time.
import t from 'tap'
import { build, login, refresh, register } from '../../helper.js'

const LOGINS = 12

t.test('a refresh during a burst of logins is answered before most of the logins', async (t) => {
  // A real cost (≈ 60–70 ms a hash here), so the logins stay in bcrypt long enough to matter.
  const app = await build(t, { BCRYPT_COST: '10' })
  const accounts = await Promise.all(Array.from({ length: LOGINS }, async () => await register(app)))
  const holder = await register(app)

  // The refresh starts when the first login is answered: by then every login has had time to
  // reach bcrypt (their database reads take milliseconds, a hash tens of them).
  const finished: string[] = []
  let firstLogin: () => void = () => {}
  const firstAnswered = new Promise<void>((resolve) => { firstLogin = resolve })
  const logins = accounts.map(async (a, i) => {
    const res = await login(app, a.email, a.password)
    finished.push(`login ${i}: ${res.statusCode}`)
    firstLogin()
  })
  await firstAnswered
  const refreshed = refresh(app, holder.tokens.refresh).then((res) => { finished.push(`refresh: ${res.statusCode}`) })
  await Promise.all([...logins, refreshed])

  t.equal(finished.length, LOGINS + 1)
  t.ok(finished.every((entry) => entry.endsWith(': 200')), finished.join(', '))
  const before = finished.indexOf('refresh: 200')
  t.ok(before < LOGINS / 2, `the refresh came back after ${before} of ${LOGINS} logins (order: ${finished.join(', ')})`)
})
