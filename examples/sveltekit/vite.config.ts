import { sveltekit } from '@sveltejs/kit/vite'
import { defineConfig } from 'vite'

export default defineConfig({
  plugins: [sveltekit()],
  // Dev server on http://localhost:5173 (localhost, so SvelteKit's cookies drop `Secure` over http).
  server: { host: 'localhost', port: 5173, strictPort: true }
})
