import { defineConfig } from 'vite';
import solid from 'vite-plugin-solid';

// The server (Hono) serves `web/dist` on the same origin, under a strict CSP:
// no inline scripts, no CDN, WASM allowed via 'wasm-unsafe-eval', workers from 'self' or blob:.
// `COFFER_DEV_API` points the dev server's /api proxy at a running server (npm run dev -w @coffer/web).
export default defineConfig({
  plugins: [solid()],
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', sourcemap: false, modulePreload: { polyfill: false } },
  worker: { format: 'es' },
  server: {
    proxy: process.env.COFFER_DEV_API
      ? { '/api': { target: process.env.COFFER_DEV_API, ws: true, changeOrigin: true } }
      : undefined,
  },
});
