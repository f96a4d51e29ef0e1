// What both browser tests need around the page itself: Chromium (Debian's, driven by
// playwright-core), the attacker's page, and scenario steps that leave screenshots behind when
// they fail. One copy, so both examples are tested under the same rules.
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { chromium, type Browser, type BrowserContext, type Page, type Response } from 'playwright-core'
import { repoRoot } from '../support/processes.js'
import { close, listen } from './local-servers.js'

// Browser globals used inside page.evaluate() callbacks, which run in the page, not in Node.
interface FormElement { method: string, action: string, submit (): void }
declare const document: { body: { append (node: FormElement): void }, createElement (tag: 'form'): FormElement }

interface TestLike {
  fail: (message: string) => void
  comment: (message: string) => void
  teardown: (fn: () => unknown) => void
}

export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
/** How long one browser action (a click, a wait for text) may take. */
export const STEP_TIMEOUT = 15_000
/** How long a whole step may take: a browser call that never settles fails the step by name. */
const STEP_DEADLINE = 90_000

/** Chromium and the example's dependencies must be there: a missing one fails, never skips. */
export function prerequisites (t: TestLike, example: 'react' | 'sveltekit'): boolean {
  if (!existsSync(chromiumPath)) {
    t.fail(`no Chromium at ${chromiumPath}: apt-get install -y chromium (or set CHROMIUM_PATH)`)
    return false
  }
  if (!existsSync(path.join(repoRoot, 'examples', example, 'node_modules/vite/bin/vite.js'))) {
    t.fail(`examples/${example} has no node_modules: run (cd examples/${example} && npm ci)`)
    return false
  }
  return true
}

/** Builds examples/react into `outDir` against the authd at `authdOrigin` (its own Vite, from its own node_modules). */
export async function buildReactExample (outDir: string, authdOrigin: string): Promise<void> {
  const exampleDir = path.join(repoRoot, 'examples/react')
  await promisify(execFile)(process.execPath, [path.join(exampleDir, 'node_modules/vite/bin/vite.js'), 'build', '--outDir', outDir, '--emptyOutDir', '--logLevel', 'warn'], {
    cwd: exampleDir,
    env: { ...process.env, VITE_AUTHD_URL: authdOrigin }
  })
}

/** The attacker: a harmless-looking page on http://localhost:<port>, stopped at teardown. */
export async function startEvilSite (t: TestLike): Promise<string> {
  const evil = await listen((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    res.end('<!doctype html><title>evil</title><h1>Totally harmless page</h1>')
  })
  t.teardown(async () => await close(evil.server))
  return `http://localhost:${evil.port}`
}

/** Headless Chromium, closed at teardown. */
export async function launchChromium (t: TestLike): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking']
  })
  t.teardown(async () => await browser.close())
  return browser
}

/**
 * Returns `step(name, fn)`: runs one scenario step; on failure saves a screenshot of every open
 * page of `context` under $E2E_ARTIFACTS (default <tmp>/authd-e2e)/<label>-<time>/ and comments
 * where, with `diagnostics()` (e.g. a server's output).
 */
export function stepRunner (t: TestLike, context: BrowserContext, label: string, diagnostics: () => string = () => ''): (name: string, fn: () => Promise<void>) => Promise<void> {
  const artifacts = path.join(process.env.E2E_ARTIFACTS ?? path.join(tmpdir(), 'authd-e2e'), `${label}-${new Date().toISOString().replaceAll(':', '-')}`)
  return async (name, fn) => {
    let timer: ReturnType<typeof setTimeout> | undefined
    t.comment(`step: ${name}`)
    try {
      await Promise.race([
        fn(),
        new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`step "${name}" did not finish within ${STEP_DEADLINE / 1000} s`)), STEP_DEADLINE) })
      ])
    } catch (error) {
      mkdirSync(artifacts, { recursive: true })
      const shots: string[] = []
      for (const [i, page] of context.pages().entries()) {
        const file = path.join(artifacts, `${name.replace(/\W+/g, '-')}-tab${i + 1}.png`)
        try { await page.screenshot({ path: file, fullPage: true }); shots.push(file) } catch { /* page gone */ }
      }
      const more = diagnostics()
      t.comment(`step "${name}" failed; screenshots: ${shots.join(', ') || 'none'}${more === '' ? '' : `\n${more}`}`)
      throw error
    } finally {
      clearTimeout(timer)
    }
  }
}

/**
 * A classic CSRF from `page` (the attacker's): an auto-submitted HTML form POST to `action`, a
 * top-level navigation that carries the site's cookies. Resolves with the answer to it.
 */
export async function postForgedForm (page: Page, action: string): Promise<Response> {
  const answer = page.waitForResponse((r) => r.url() === action)
  await page.evaluate((url) => {
    const form = document.createElement('form')
    form.method = 'POST'
    form.action = url
    document.body.append(form)
    form.submit()
  }, action)
  return await answer
}
