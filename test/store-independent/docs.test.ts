// The reference pages written from code (docs/configuration.md, docs/errors.md) must be what
// `npm run docs` writes today: by hand they drifted from src/config.ts and src/errors.ts, so a
// changed setting or error code now fails here until the pages are regenerated. `.env.example`
// is still written by hand (its grouping and comments are for people), so it is held to naming
// every setting.
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { ConfigSchema } from '../../src/config.js'
import { GENERATED_PAGES, REGENERATE_COMMAND } from '../../scripts/docs-pages.js'

const root = new URL('../../', import.meta.url)
const read = (path: string) => readFileSync(new URL(path, root), 'utf8')

for (const [path, render] of Object.entries(GENERATED_PAGES)) {
  t.test(`${path} is what the generator writes`, async (t) => {
    const committed = read(path)
    const expected = render()
    t.ok(committed.startsWith('<!-- Generated '), `${path} says it is generated`)
    // A plain boolean, not t.equal: a diff of two 70-line tables says less than the fix does.
    t.ok(committed === expected, `${path} matches its sources (when it does not: run \`${REGENERATE_COMMAND}\` and commit the result)`)
  })
}

t.test('.env.example names every setting of ConfigSchema', async (t) => {
  const example = read('.env.example')
  const missing = Object.keys(ConfigSchema.properties).filter((name) => !new RegExp(`^(# )?${name}=`, 'm').test(example))
  t.same(missing, [], 'each as NAME= or # NAME= at the start of a line (commented with its default when it is not set)')
})

// The docs were split out of one README, and every cross-reference was rewritten on the way; a
// relative link to a file that is not there is the kind of break nobody notices by reading.
t.test('relative links in README.md and docs/ point at files that exist', async (t) => {
  const pages = ['README.md', ...readdirSync(new URL('docs/', root)).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)]
  const repo = fileURLToPath(root)
  const broken: string[] = []
  for (const page of pages) {
    let inFence = false
    for (const line of read(page).split('\n')) {
      if (line.trimStart().startsWith('```')) inFence = !inFence
      if (inFence) continue
      for (const [, target] of line.matchAll(/\]\(([^)\s#]+)(?:#[^)\s]*)?\)/g)) {
        if (target === undefined || /^[a-z]+:/.test(target)) continue
        const file = new URL(target, new URL(page, root))
        // API.md lives beside the repository, not in it: only links inside the repository count.
        if (!fileURLToPath(file).startsWith(repo)) continue
        if (!existsSync(file)) broken.push(`${page}: ${target}`)
      }
    }
  }
  t.same(broken, [], 'no broken relative link')
})
