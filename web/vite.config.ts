import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

/**
 * The dashboard (docs/dashboard.md): a Preact single-page app built into dist/web, which the
 * service serves at `/`. Everything it needs is bundled: nothing is fetched from outside at run time.
 */
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  // Preact's automatic JSX runtime, without a Babel plugin.
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  // `npm run dev:web` serves the sources with hot reload and hands the API to `npm run dev` on :3000.
  server: { proxy: { '/v1': 'http://127.0.0.1:3000', '/dashboard': 'http://127.0.0.1:3000' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    // The CSP allows no inline scripts or data: URLs for scripts; keep every asset a file.
    assetsInlineLimit: 0,
    // The service's CSP has no 'unsafe-eval'; Vite's output needs none, and a modern target keeps it small.
    target: 'es2022',
    chunkSizeWarningLimit: 600,
  },
})
