// `npm run docs`: rewrites the generated reference pages (docs/configuration.md, docs/errors.md)
// from src/config.ts and src/errors.ts. Run it after changing a setting or an error code; the
// docs test fails until the committed pages match.
import { writeFileSync } from 'node:fs'
import { GENERATED_PAGES } from './docs-pages.js'

const root = new URL('../', import.meta.url)
for (const [path, render] of Object.entries(GENERATED_PAGES)) {
  writeFileSync(new URL(path, root), render())
  console.log(`wrote ${path}`)
}
