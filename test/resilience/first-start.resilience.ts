// kill -9 during a first start on the embedded store (issue 18): the store's folder is made
// beside its place (`pglite.init`) and renamed into place when complete, so a first start
// killed at any moment leaves either nothing usable, which the next start rebuilds, or a
// complete database.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { buildTemplate } from '../../src/db/pglite.js'
import { freePort, repoRoot, sleep } from '../support/processes.js'
import { authdEnv, call, startAuthd } from './authd-process.js'

/**
 * Starts authd from its sources on a fresh DATA_DIR and SIGKILLs it as soon as `when(dataDir)`
 * holds (polled every 2 ms). Returns whether the kill landed at that moment (false: the start
 * got past it first).
 */
async function killDuringFirstStart (dataDir: string, when: (dataDir: string) => boolean): Promise<boolean> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src/server.ts')], {
    cwd: repoRoot,
    env: authdEnv({ DATA_DIR: dataDir, PORT: String(await freePort()) }),
    stdio: 'ignore'
  })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  let landed = false
  const deadline = Date.now() + 120_000
  while (Date.now() < deadline && child.exitCode === null) {
    if (when(dataDir)) {
      child.kill('SIGKILL')
      landed = true
      break
    }
    await sleep(2)
  }
  if (!landed) child.kill('SIGKILL')
  await exited
  return landed
}

const partial = (dataDir: string): string => path.join(dataDir, 'pglite.init')
const store = (dataDir: string): string => path.join(dataDir, 'pglite')

async function startsAndServes (t: Test, dataDir: string): Promise<void> {
  const server = await startAuthd(t, { DATA_DIR: dataDir })
  const email = `after-kill-${Math.random().toString(36).slice(2)}@example.com`
  const registered = await call(server.url, 'POST', '/v1/app/auth/register', { email, password: 'a long enough passphrase 42' })
  t.equal(registered.status, 201, 'the next start serves: register answers 201')
  const login = await call(server.url, 'POST', '/v1/app/auth/login', { login: email, password: 'a long enough passphrase 42' })
  t.equal(login.status, 200, 'and the account logs in')
  t.notOk(existsSync(partial(dataDir)), 'no half-made folder is left')
  await server.kill()
}

t.test('killed while the store folder is being made: the next start makes it again', async (t) => {
  // What `npm run build` does: the first start copies this template (the path users take).
  await buildTemplate()
  const root = t.testdir()
  let landed = 0
  // The copy takes a fraction of a second; a few tries make sure one kill lands inside it.
  for (let attempt = 0; attempt < 5 && landed === 0; attempt++) {
    const dataDir = path.join(root, `try-${attempt}`)
    if (await killDuringFirstStart(dataDir, (dir) => existsSync(partial(dir)))) {
      if (existsSync(store(dataDir))) continue
      landed++
      t.ok(existsSync(partial(dataDir)), `attempt ${attempt}: killed with pglite.init half-made and no pglite folder`)
      await startsAndServes(t, dataDir)
    }
  }
  t.equal(landed, 1, 'a kill landed while the folder was being made')
})

t.test('killed right after the folder was renamed into place, while it opens: the next start opens it', async (t) => {
  const dataDir = path.join(t.testdir(), 'renamed')
  const landed = await killDuringFirstStart(dataDir, (dir) => existsSync(path.join(store(dir), 'PG_VERSION')))
  t.ok(landed, 'killed once the folder was in place')
  await startsAndServes(t, dataDir)
})
