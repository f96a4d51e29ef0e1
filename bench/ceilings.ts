// Raw rates the scenarios are compared with, measured in a process of their own (started by
// bench/run.ts, one JSON line on stdout):
//   node --import tsx bench/ceilings.ts sign <alg> <seconds> <in flight>   signatures/s as authd
//       signs access tokens (src/keys/jws-sign.ts: node:crypto, signatures in flight run on
//       libuv's thread pool)
//   node --import tsx bench/ceilings.ts verify <alg> <seconds>   verifications/s with fast-jwt and no
//       cache, as authd verifies a token it has not seen yet (synchronous)
//   node --import tsx bench/ceilings.ts bcrypt <cost> <seconds> <in flight>   bcrypt.compare/s at that
//       cost (authd's async bcrypt runs on libuv's thread pool, UV_THREADPOOL_SIZE threads)
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import bcrypt from 'bcrypt'
import { createVerifier } from 'fast-jwt'
import { signJws } from '../src/keys/jws-sign.js'
import { generateAccessKey, hs256AccessKey, type AccessKey, type AsymmetricAlg } from '../src/keys/access-key.js'

async function timed (seconds: number, concurrency: number, operation: () => Promise<void>): Promise<number> {
  let count = 0
  const deadline = performance.now() + seconds * 1000
  const started = performance.now()
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < deadline) {
      await operation()
      count++
    }
  }))
  return count / ((performance.now() - started) / 1000)
}

async function accessKey (alg: string): Promise<AccessKey> {
  return alg === 'HS256'
    ? await hs256AccessKey(randomBytes(32).toString('base64url'))
    : await generateAccessKey(alg as AsymmetricAlg, { createdAt: new Date(), activatesAt: new Date() })
}

/** The same call as TokenService.signAccess. */
async function sign (key: AccessKey): Promise<string> {
  const iat = Math.floor(Date.now() / 1000)
  return await signJws(key, { alg: key.alg, kid: key.kid, typ: 'at+jwt' },
    { sid: randomUUID(), roles: [], iss: 'authd', aud: 'authd', sub: randomUUID(), jti: randomUUID(), iat, exp: iat + 300 })
}

async function signRate (alg: string, seconds: number, concurrency: number): Promise<{ perSecond: number, concurrency: number }> {
  const key = await accessKey(alg)
  await sign(key)
  return { perSecond: await timed(seconds, concurrency, async () => { await sign(key) }), concurrency }
}

async function verifyRate (alg: string, seconds: number): Promise<{ perSecond: number }> {
  const key = await accessKey(alg)
  const tokens = await Promise.all(Array.from({ length: 64 }, async () => await sign(key)))
  const verify = createVerifier({ key: key.verifyKey, algorithms: [key.alg as 'RS256'], allowedIss: 'authd', allowedAud: 'authd', cache: false })
  let index = 0
  const perHundred = await timed(seconds, 1, async () => {
    for (let i = 0; i < 100; i++) verify(tokens[index++ % tokens.length] as string)
  })
  return { perSecond: perHundred * 100 }
}

async function bcryptRate (cost: number, seconds: number, concurrency: number): Promise<{ perSecond: number, concurrency: number }> {
  // authd compares SHA-256(password) in hex (Django's BCryptSHA256PasswordHasher).
  const input = createHash('sha256').update('bench password correct horse').digest('hex')
  const hash = await bcrypt.hash(input, cost)
  await bcrypt.compare(input, hash)
  const perSecond = await timed(seconds, concurrency, async () => {
    if (!await bcrypt.compare(input, hash)) throw new Error('bcrypt.compare failed')
  })
  return { perSecond, concurrency }
}

const [mode, parameter = '', seconds = '5', inFlight = '1'] = process.argv.slice(2)
const duration = Number(seconds)
const concurrency = Math.max(1, Number(inFlight))
const result = mode === 'sign'
  ? await signRate(parameter, duration, concurrency)
  : mode === 'verify'
    ? await verifyRate(parameter, duration)
    : mode === 'bcrypt'
      ? await bcryptRate(Number(parameter), duration, concurrency)
      : undefined
if (result === undefined) {
  process.stderr.write('usage: ceilings.ts sign <alg> <seconds> <in flight> | verify <alg> <seconds> | bcrypt <cost> <seconds> <in flight>\n')
  process.exit(2)
}
process.stdout.write(JSON.stringify(result) + '\n')
