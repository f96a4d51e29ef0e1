// Other people's Python code trusting authd's tokens (issue 16, 5a): PyJWT's PyJWKClient
// (test/interop/python/verify_pyjwt.py) and a Django REST framework service configured with
// djangorestframework-simplejwt's JWK_URL (test/interop/python/drf_service, driven through
// check_drf.py). A real authd process (PGlite in a temporary DATA_DIR, default ES256 keys) issues
// the tokens; the Python side fetches authd's live JWKS over HTTP and says what it decided. Every
// refusal is asserted from the Python side's own output — exit code 1 and the PyJWT exception
// class — so the test fails if Python accepted the token, and also if it broke for another reason.
//
// Debian's packages (python3-jwt, python3-cryptography, python3-django, python3-djangorestframework,
// python3-djangorestframework-simplejwt) under Debian's /usr/bin/python3 (INTEROP_PYTHON to change
// it): .ci/run installs them. Not part of `npm test`: run it with `npm run test:interop`.
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { newAccount } from '../helper.js'
import { decodePayload, withPayload } from '../jwt-helper.js'
import { call, startAuthd } from '../resilience/authd-process.js'
import { repoRoot, sleep } from '../support/processes.js'

const python = process.env.INTEROP_PYTHON ?? '/usr/bin/python3'
const scripts = path.join(repoRoot, 'test/interop/python')
const MODULES = ['jwt', 'cryptography', 'django', 'rest_framework', 'rest_framework_simplejwt']
const PACKAGES = 'python3-jwt python3-cryptography python3-django python3-djangorestframework python3-djangorestframework-simplejwt'

// authd's settings under test: explicit, and not the defaults, so that a client configured with
// the defaults (or reading them out of the token) could not pass. The issuer is URL-shaped, as
// issuer-URL verifiers expect; the shortest access lifetime the configuration allows gives a
// genuinely expired token within the run.
const ISSUER = 'https://auth.interop.example'
const AUDIENCE = 'orders-api'
const ALGORITHM = 'ES256'
const ACCESS_TOKEN_TTL = 30

/** Python's environment: nothing of pyenv or of the shell's PYTHONPATH, no __pycache__ in the tree. */
const pythonEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  PATH: '/usr/bin:/bin',
  LANG: 'C.UTF-8',
  PYTHONDONTWRITEBYTECODE: '1',
  PYTHONNOUSERSITE: '1',
  ...extra
})

/** The prerequisites' versions, or why they cannot be used. */
function pythonPrerequisites (): { ok: true, versions: string } | { ok: false, reason: string } {
  const probe = spawnSync(python, ['-c', `import ${MODULES.join(', ')}, importlib.metadata as m
print(', '.join(f"{d} {m.version(d)}" for d in ("PyJWT", "cryptography", "Django", "djangorestframework", "djangorestframework-simplejwt")))`], { env: pythonEnv(), encoding: 'utf8' })
  if (probe.error !== undefined) return { ok: false, reason: `${python} cannot run (${probe.error.message})` }
  if (probe.status !== 0) return { ok: false, reason: `${python} lacks ${MODULES.join(', ')}: ${probe.stderr.trim().split('\n').at(-1) ?? ''}` }
  return { ok: true, versions: probe.stdout.trim() }
}

interface PythonRun { code: number | null, result: any, stdout: string, stderr: string }

/** Runs a script of test/interop/python with the token on stdin; its one JSON line parsed. */
async function runPython (script: string, args: string[], token: string, env: Record<string, string> = {}): Promise<PythonRun> {
  return await new Promise((resolve, reject) => {
    const child = spawn(python, [path.join(scripts, script), ...args], { env: pythonEnv(env), stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    child.once('error', reject)
    child.once('close', (code) => {
      let result: unknown = null
      try { result = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') } catch {}
      resolve({ code, result, stdout, stderr })
    })
    child.stdin.end(token)
  })
}

const prerequisites = pythonPrerequisites()
if (!prerequisites.ok) {
  const reason = `${prerequisites.reason} — apt-get install -y ${PACKAGES}`
  // In CI a missing package is a failure (.ci/run installs them); elsewhere a visible skip.
  if (process.env.CI === 'true') t.fail(reason)
  else t.skip(`Python interop: ${reason}`, () => {})
} else {
  t.comment(`${python}: ${prerequisites.versions}`)
  await interop(t, prerequisites.versions)
}

async function interop (t: Test, versions: string): Promise<void> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'authd-interop-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const authd = await startAuthd(t, {
    DATA_DIR: dataDir,
    // The issuer as deployments set it: the public URL (discovery's `issuer`, every token's `iss`).
    PUBLIC_URL: ISSUER,
    JWT_AUDIENCE: AUDIENCE,
    ACCESS_TOKEN_ALG: ALGORITHM,
    ACCESS_TOKEN_TTL: String(ACCESS_TOKEN_TTL)
  })
  const jwksUrl = `${authd.url}/.well-known/jwks.json`

  const pyjwt = async (token: string, settings: { issuer?: string, audience?: string } = {}): Promise<PythonRun> =>
    await runPython('verify_pyjwt.py', ['--jwks-url', jwksUrl, '--issuer', settings.issuer ?? ISSUER, '--audience', settings.audience ?? AUDIENCE, '--algorithm', ALGORITHM], token)
  const drf = async (token: string, settings: { issuer?: string, audience?: string } = {}): Promise<PythonRun> =>
    await runPython('check_drf.py', [], token, { AUTHD_JWKS_URL: jwksUrl, AUTHD_ISSUER: settings.issuer ?? ISSUER, AUTHD_AUDIENCE: settings.audience ?? AUDIENCE, AUTHD_ALGORITHM: ALGORITHM })

  /** A new account, logged in: its id and a token pair issued just now. */
  async function signIn (): Promise<{ userId: string, access: string, refresh: string }> {
    const account = newAccount()
    const registered = await call(authd.url, 'POST', '/v1/app/auth/register', account)
    if (registered.status !== 201) throw new Error(`register: ${registered.status} ${JSON.stringify(registered.body)}`)
    const loggedIn = await call(authd.url, 'POST', '/v1/app/auth/login', { login: account.email, password: account.password })
    if (loggedIn.status !== 200) throw new Error(`login: ${loggedIn.status} ${JSON.stringify(loggedIn.body)}`)
    return { userId: loggedIn.body.user.id, access: loggedIn.body.tokens.access, refresh: loggedIn.body.tokens.refresh }
  }

  /** PyJWT refused the token with `error` (exit 1), not accepted it and not crashed. */
  function refusedByPyjwt (t: Test, run: PythonRun, error: string, message?: RegExp): void {
    t.equal(run.code, 1, `PyJWT exits 1, refused (${run.stdout.trim()}${run.stderr.trim().slice(-600)})`)
    t.equal(run.result?.accepted, false, 'accepted: false')
    t.equal(run.result?.error, error, `PyJWT raised ${error}`)
    if (message !== undefined) t.match(run.result?.message, message, 'for the reason expected')
    t.notOk(run.result?.claims, 'no claims')
  }

  /** The DRF service answered 401 token_not_valid, with the PyJWT exception `cause` underneath. */
  function refusedByDrf (t: Test, run: PythonRun, cause: string): void {
    t.equal(run.code, 1, `check_drf.py exits 1, refused (${run.stdout.trim()}${run.stderr.trim().slice(-600)})`)
    t.equal(run.result?.status, 401, 'the view answers 401')
    t.equal(run.result?.body?.code, 'token_not_valid', 'simplejwt: token_not_valid')
    t.notOk(run.result?.body?.sub, 'the view did not run')
    t.equal(run.result?.cause, cause, `simplejwt's backend: ${cause}`)
  }

  // Issued first and kept for last: by then it has expired, with no clock faked anywhere.
  const early = await signIn()
  const earlyExp = decodePayload<{ exp: number }>(early.access).exp
  t.comment(`authd ${authd.url}: iss ${ISSUER}, aud ${AUDIENCE}, ${ALGORITHM}, ACCESS_TOKEN_TTL=${ACCESS_TOKEN_TTL}; ${versions}`)

  t.test('a valid access token is accepted, and its sub is the user id', async (t) => {
    const { userId, access } = await signIn()
    const byPyjwt = await pyjwt(access)
    t.equal(byPyjwt.code, 0, `PyJWT exits 0 (${byPyjwt.stdout.trim()}${byPyjwt.stderr.trim().slice(-600)})`)
    t.match(byPyjwt.result, { accepted: true, claims: { sub: userId, iss: ISSUER, aud: AUDIENCE, roles: Array } }, 'PyJWT: accepted, sub = the user id')

    const byDrf = await drf(access)
    t.equal(byDrf.code, 0, `check_drf.py exits 0 (${byDrf.stdout.trim()}${byDrf.stderr.trim().slice(-600)})`)
    t.equal(byDrf.result?.status, 200, 'the DRF view answers 200')
    t.equal(byDrf.result?.body?.sub, userId, 'request.user.id in Django is the authd user id')
    t.same(byDrf.result?.body?.roles, decodePayload<{ roles: string[] }>(access).roles, 'and the token\'s roles reach the view')
  })

  t.test('a tampered token (another sub, the signature kept) is refused', async (t) => {
    const { access } = await signIn()
    const other = await signIn()
    const tampered = withPayload(access, (claims) => ({ ...claims, sub: other.userId }))
    refusedByPyjwt(t, await pyjwt(tampered), 'InvalidSignatureError')
    refusedByDrf(t, await drf(tampered), 'InvalidSignatureError')
  })

  t.test('a refresh token is refused', async (t) => {
    const { refresh } = await signIn()
    // HS256 under a secret only authd holds, so no key of the JWKS matches it.
    refusedByPyjwt(t, await pyjwt(refresh), 'PyJWKClientError', /Unable to find a signing key/)
    refusedByDrf(t, await drf(refresh), 'PyJWKClientError')
  })

  t.test('a token for another audience or from another issuer is refused', async (t) => {
    const { access } = await signIn()
    refusedByPyjwt(t, await pyjwt(access, { audience: 'billing-api' }), 'InvalidAudienceError')
    refusedByDrf(t, await drf(access, { audience: 'billing-api' }), 'InvalidAudienceError')
    refusedByPyjwt(t, await pyjwt(access, { issuer: 'https://other-issuer.example' }), 'InvalidIssuerError')
    refusedByDrf(t, await drf(access, { issuer: 'https://other-issuer.example' }), 'InvalidIssuerError')
  })

  t.test('an expired access token is refused', async (t) => {
    // PyJWT's exp check is `exp <= now`; a second more keeps whole-second clocks out of it.
    while (Date.now() / 1000 < earlyExp + 1) await sleep(250)
    // The same check as the other refusals: PyJWT reaches exp only after the signature verified.
    refusedByPyjwt(t, await pyjwt(early.access), 'ExpiredSignatureError')
    refusedByDrf(t, await drf(early.access), 'ExpiredSignatureError')
  })
}
