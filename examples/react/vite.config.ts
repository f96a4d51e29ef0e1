import { defineConfig } from 'vite'
import react from '@vitejs/plugin-react'

// The dev server runs on http://localhost:5173: authd's CORS_ORIGINS must list exactly that origin.
export default defineConfig({
  plugins: [react()],
  // @authd/client is installed as a link to ../../packages/client (file: dependency). Resolving it
  // where npm linked it (not at its real path) makes its own `import 'react'` find this app's
  // React, as it would after a registry install; its TypeScript sources are compiled by Vite.
  resolve: { preserveSymlinks: true },
  server: { host: 'localhost', port: 5173, strictPort: true },
  preview: { host: 'localhost', port: 5173, strictPort: true }
})
