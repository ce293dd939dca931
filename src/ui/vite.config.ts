/**
 * Builds the analyst UI into dist/ui (served by `eastwatch serve`, see src/service/api/ui.ts).
 * The service's CSP allows only same-origin scripts, so everything is bundled: no CDN, no
 * inline script, and the module preload polyfill (an inline script) is off.
 */
import * as path from 'node:path';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const here = path.dirname(new URL(import.meta.url).pathname);

export default defineConfig({
  root: here,
  base: '/',
  plugins: [react()],
  build: {
    outDir: path.resolve(here, '../../dist/ui'),
    emptyOutDir: true,
    modulePreload: { polyfill: false },
    sourcemap: true,
  },
  // `npx vite --config src/ui/vite.config.ts` for development, against a running `eastwatch serve`.
  server: {
    proxy: { '/api': process.env.EASTWATCH_API ?? 'http://127.0.0.1:8080' },
  },
});
