import { sveltekit } from '@sveltejs/kit/vite'
import { defineConfig } from 'vite'

export default defineConfig({
  plugins: [sveltekit()],
  // @authd/client (the /browser page) is a link to ../../packages/client: resolved where npm linked
  // it, its `import 'svelte/store'` finds this app's Svelte; bundled (not left external) on the
  // server side, since it ships TypeScript sources.
  resolve: { preserveSymlinks: true },
  ssr: { noExternal: ['@authd/client'] },
  // Dev server on http://localhost:5173 (localhost, so SvelteKit's cookies drop `Secure` over http).
  server: { host: 'localhost', port: 5173, strictPort: true }
})
