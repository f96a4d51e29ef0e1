import { sveltekit } from '@sveltejs/kit/vite'
import { defaultClientConditions, defaultServerConditions, defineConfig } from 'vite'

export default defineConfig({
  plugins: [sveltekit()],
  // @authd/client (the /browser page) is a link to ../../packages/client: resolved where npm linked
  // it, its `import 'svelte/store'` finds this app's Svelte. The "@authd/source" condition of its
  // `exports` picks its TypeScript sources (so the example needs no build of the package; a registry
  // install gets its dist/ JavaScript), for the browser and the server bundles alike (tsconfig.json's
  // customConditions says the same to TypeScript); bundled, not left external, on the server side,
  // since Node cannot load those sources itself.
  resolve: { preserveSymlinks: true, conditions: ['@authd/source', ...defaultClientConditions] },
  ssr: { noExternal: ['@authd/client'], resolve: { conditions: ['@authd/source', ...defaultServerConditions] } },
  // Dev server on http://localhost:5173 (localhost, so SvelteKit's cookies drop `Secure` over http).
  server: { host: 'localhost', port: 5173, strictPort: true }
})
