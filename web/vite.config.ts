import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import solid from 'vite-plugin-solid';

// The server (Hono) serves `web/dist` on the same origin, under a strict CSP:
// no inline scripts, no CDN, WASM allowed via 'wasm-unsafe-eval', workers from 'self' or blob:.
// `COFFER_DEV_API` points the dev server's /api proxy at a running server (npm run dev -w @coffer/web).
// crypto-core's Argon2id import of hash-wasm resolves to src/crypto/argon2.ts in this build (a SIMD
// WebAssembly Argon2id with the same output; why and how it is checked: that file's header).
// Wasm files are never inlined: a data: URL would need connect-src data: under the CSP.
export default defineConfig({
  plugins: [solid()],
  resolve: { alias: [{ find: /^hash-wasm$/, replacement: fileURLToPath(new URL('./src/crypto/argon2.ts', import.meta.url)) }] },
  build: {
    outDir: 'dist', emptyOutDir: true, target: 'es2022', sourcemap: false, modulePreload: { polyfill: false },
    assetsInlineLimit: (file) => (file.endsWith('.wasm') ? false : undefined),
  },
  worker: { format: 'es' },
  server: {
    proxy: process.env.COFFER_DEV_API
      ? { '/api': { target: process.env.COFFER_DEV_API, ws: true, changeOrigin: true } }
      : undefined,
  },
});
