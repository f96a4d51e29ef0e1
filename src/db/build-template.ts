// The last step of `npm run build` (scripts/build.mjs): the embedded store's template, a migrated
// PGlite data folder that a first start copies instead of running initdb (see pglite.ts).
import { buildTemplate } from './pglite.js'

const started = Date.now()
const { folder, built } = await buildTemplate()
console.log(built
  ? `authd: made the embedded store's template in ${Date.now() - started} ms (${folder})`
  : `authd: the embedded store's template is up to date (${folder})`)
