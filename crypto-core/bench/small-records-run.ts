// Runs small-records.ts in Node (with the node:crypto backend as a further implementation), then,
// bundled with esbuild, in a headless Chromium page and prints both as tables:
//   node --import tsx crypto-core/bench/small-records-run.ts [--no-browser | --browser-only] [n]
// Chromium is /usr/bin/chromium or COFFER_TEST_CHROMIUM.
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { nodeCryptoBackend } from '../node/backend.ts';
import { measureSmallRecords, type Row } from './small-records.ts';

const args = process.argv.slice(2);
const n = Number(args.find((a) => /^\d+$/.test(a)) ?? 2000);

function print(title: string, rows: Row[]): void {
  console.log(`\n### ${title}`);
  const cols = Object.keys(rows[0] ?? {});
  console.log(cols.join(' | '));
  for (const r of rows) console.log(cols.map((c) => (typeof r[c] === 'number' && c !== 'size' ? (r[c] as number).toFixed(1) : String(r[c]))).join(' | '));
}

const sizes = [32, 64, 128, 256, 512, 1024, 2048, 4096, 16384];
if (!args.includes('--browser-only')) {
  const node = await measureSmallRecords({
    n, sizes,
    extra: [{ name: 'node:crypto backend', seal: nodeCryptoBackend.aesGcmSeal, open: nodeCryptoBackend.aesGcmOpen }],
  });
  print(`Node ${process.version}: AES-256-GCM, fresh key per call (µs per call)`, node.aes);
  print(`Node ${process.version}: HPKE Open steps (µs per call)`, node.hpke);
}

const chromiumPath = process.env.COFFER_TEST_CHROMIUM ?? '/usr/bin/chromium';
if (!args.includes('--no-browser') && existsSync(chromiumPath)) {
  const bundle = await build({
    entryPoints: [new URL('./small-records.ts', import.meta.url).pathname],
    bundle: true, format: 'iife', globalName: 'smallRecords', platform: 'browser', target: 'es2022', write: false,
  });
  const js = bundle.outputFiles[0]!.text;
  const server = createServer((req, res) => {
    const worker = `importScripts('/b.js'); onmessage = async (e) => postMessage(await smallRecords.measureSmallRecords(e.data));`;
    const body = req.url === '/b.js' ? js : req.url === '/w.js' ? worker : '<!doctype html><script src="/b.js"></script>';
    res.writeHead(200, { 'content-type': req.url?.endsWith('.js') ? 'text/javascript' : 'text/html' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    const version = browser.version();
    const out = await page.evaluate((o) => (globalThis as unknown as { smallRecords: typeof import('./small-records.ts') }).smallRecords.measureSmallRecords(o), { n, sizes });
    print(`Chromium ${version} page: AES-256-GCM, fresh key per call (µs per call, wall)`, out.aes);
    print(`Chromium ${version} page: HPKE Open steps (µs per call, wall)`, out.hpke);
    // The web vault lists folders in a dedicated worker (web/src/crypto): the same there.
    const inWorker = await page.evaluate((o) => new Promise<{ aes: Row[]; hpke: Row[] }>((resolve) => {
      const w = new Worker('/w.js');
      w.onmessage = (e) => resolve(e.data);
      w.postMessage(o);
    }), { n, sizes });
    print(`Chromium ${version} dedicated worker: AES-256-GCM, fresh key per call (µs per call, wall)`, inWorker.aes);
    print(`Chromium ${version} dedicated worker: HPKE Open steps (µs per call, wall)`, inWorker.hpke);
  } finally {
    await browser.close();
    server.close();
  }
}
