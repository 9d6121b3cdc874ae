// Builds the web vault once per test run into a temp directory; servers started by the web tests
// serve it via COFFER_WEB_DIST, so parallel runs never fight over web/dist.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'vite';

export default async function setup(): Promise<() => Promise<void>> {
  const outDir = await mkdtemp(join(tmpdir(), 'coffer-web-dist-'));
  const root = resolve(import.meta.dirname, '..');
  await build({ root, configFile: join(root, 'vite.config.ts'), logLevel: 'error', build: { outDir, emptyOutDir: true } });
  process.env.COFFER_WEB_DIST = outDir;
  return async () => {
    await rm(outDir, { recursive: true, force: true });
  };
}
