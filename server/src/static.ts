// Serves the web vault's build (web/dist) from the same origin: files as they are, 404 for a
// missing file, and index.html for any other non-API path (SPA routes such as /s/:id). Without a build, a plain page
// says how to make one.
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import type { Context } from 'hono';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json', '.woff2': 'font/woff2', '.map': 'application/json',
};

const NO_BUILD = `<!doctype html><meta charset="utf-8"><title>Coffer</title>
<p>The web vault is not built. Run <code>npm run build -w @coffer/web</code>, then reload.</p>\n`;

async function fileAt(path: string): Promise<Buffer | null> {
  try {
    if (!(await stat(path)).isFile()) return null;
    return await readFile(path);
  } catch {
    return null;
  }
}

export function serveWeb(distDir: string) {
  const root = normalize(distDir) + sep;
  return async (c: Context) => {
    let rel: string;
    try {
      rel = decodeURIComponent(c.req.path);
    } catch {
      rel = '/';
    }
    const target = normalize(join(root, rel));
    if (target.startsWith(root) && rel !== '/') {
      const body = await fileAt(target);
      if (body) {
        const immutable = rel.startsWith('/assets/');
        return c.body(new Uint8Array(body), 200, {
          'Content-Type': TYPES[extname(target)] ?? 'application/octet-stream',
          'Cache-Control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
        });
      }
    }
    // A missing file of the build (an asset of an older build, say) is a 404: the vault's page in
    // its place would reach a script or style tag as HTML.
    if (rel.startsWith('/assets/') || extname(rel) !== '') return c.text('Not found', 404, { 'Cache-Control': 'no-store' });
    const index = await fileAt(join(root, 'index.html'));
    if (!index) return c.html(NO_BUILD, 200, { 'Cache-Control': 'no-store' });
    return c.body(new Uint8Array(index), 200, { 'Content-Type': TYPES['.html']!, 'Cache-Control': 'no-cache' });
  };
}
