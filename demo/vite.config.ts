import { fileURLToPath } from 'node:url'
import { defaultClientConditions, defineConfig } from 'vite'

/**
 * The demo's Vite config. `@weft/*` resolve to their TypeScript sources (the `source` export condition), so the
 * demo builds without building the packages first. `npm run dev` proxies /relay, /workspace and /signal to a
 * `weft serve` running on port 4444 (override with WEFT_SERVER=http://host:port).
 */
const server = process.env['WEFT_SERVER'] ?? 'http://127.0.0.1:4444'

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  resolve: { conditions: ['source', ...defaultClientConditions] },
  // CodeMirror with the Markdown language (which embeds HTML, CSS and JS parsers) is most of the bundle.
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    chunkSizeWarningLimit: 1024,
  },
  server: {
    proxy: {
      '/relay': { target: server, ws: true },
      '/signal': { target: server, ws: true },
      '/workspace': { target: server, ws: true },
    },
  },
})
