import { defaultClientConditions, defineConfig } from 'vite'
import react from '@vitejs/plugin-react'

// The dev server runs on http://localhost:5173: authd's CORS_ORIGINS must list exactly that origin.
export default defineConfig({
  plugins: [react()],
  // @authd/client is installed as a link to ../../packages/client (file: dependency). Resolving it
  // where npm linked it (not at its real path) makes its own `import 'react'` find this app's
  // React, as it would after a registry install. The "@authd/source" condition of its `exports`
  // picks its TypeScript sources, which Vite compiles, so the example needs no build of the package
  // (a registry install gets its dist/ JavaScript instead); tsconfig.json's customConditions says
  // the same to TypeScript.
  resolve: { preserveSymlinks: true, conditions: ['@authd/source', ...defaultClientConditions] },
  server: { host: 'localhost', port: 5173, strictPort: true },
  preview: { host: 'localhost', port: 5173, strictPort: true }
})
