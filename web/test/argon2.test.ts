// The web vault's Argon2id (src/crypto/argon2.ts: the `argon2id` package's SIMD wasm, standing in for
// hash-wasm in the browser build) in real Chromium, served by the real server under its CSP:
// the wasm loads from our origin, the RFC 9106 vector and the reference KAT trace come out right,
// it gives hash-wasm's bytes for Coffer's parameters, and crypto-core's derivePassphraseKeys through
// it matches the same call in Node (hash-wasm).
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodeKdfParams, derivePassphraseKeys, encodeKdfParams, newKdfParams } from '@coffer/crypto-core';
import { chromiumPath, NO_CHROMIUM } from '../../tests/support/env';
import { REPO_ROOT, type RunningServer } from '../../tests/support/server';
import { launch, seededBytes, startWebServer } from './support';
import type { Check, Result, Vector } from './argon2/types';

const VECTORS = resolve(REPO_ROOT, 'tests/vectors/third-party/argon2');

/** The phc-winner-argon2 KAT trace: a parameter line, the inputs, then the tag. */
function katTrace(text: string): (Vector & { tag: string })[] {
  const out: (Vector & { tag: string })[] = [];
  let cur: Partial<Vector> = {};
  const bytes = (line: string) => line.slice(line.indexOf(':') + 1).trim().replace(/\s+/g, '');
  for (const line of text.split('\n')) {
    const p = /^Memory: (\d+) KiB, Iterations: (\d+), Parallelism: (\d+) lanes, Tag length: (\d+) bytes/.exec(line);
    if (p) cur = { m: +p[1]!, t: +p[2]!, p: +p[3]!, tagLength: +p[4]! };
    else if (line.startsWith('Password[')) cur.password = bytes(line);
    else if (line.startsWith('Salt[')) cur.salt = bytes(line);
    else if (line.startsWith('Secret[')) cur.secret = bytes(line);
    else if (line.startsWith('Associated data[')) cur.ad = bytes(line);
    else if (line.startsWith('Tag:')) { out.push({ ...(cur as Vector), tag: bytes(line) }); cur = {}; }
  }
  return out;
}

describe.skipIf(!chromiumPath)(`web Argon2id in Chromium${chromiumPath ? '' : ` (${NO_CHROMIUM})`}`, () => {
  let dist: string;
  let server: RunningServer;
  let browser: Browser;

  beforeAll(async () => {
    dist = await mkdtemp(join(tmpdir(), 'coffer-web-argon2-'));
    const webRoot = resolve(import.meta.dirname, '..');
    await build({ root: join(webRoot, 'test/argon2'), configFile: join(webRoot, 'vite.config.ts'), logLevel: 'error', build: { outDir: dist, emptyOutDir: true } });
    server = await startWebServer({ COFFER_WEB_DIST: dist });
    browser = await launch();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (dist) await rm(dist, { recursive: true, force: true });
  });

  test('matches RFC 9106, the KAT trace, hash-wasm and Node, with the wasm from our origin under the CSP', async () => {
    const rfc = JSON.parse(await readFile(join(VECTORS, 'argon2id_rfc9106.json'), 'utf8')) as Vector & { taglen: number; tag: string };
    const kats = katTrace(await readFile(join(VECTORS, 'argon2id'), 'utf8'));
    expect(kats.length).toBeGreaterThan(0);
    const vectors = [{ ...rfc, tagLength: rfc.taglen }, ...kats];
    const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
    // Coffer's own shape (no secret, no ad), from tiny to the real 64 MiB, t = 3; 1 to 2 lanes; one
    // 7-byte password (below the package's minimum: the hash-wasm path).
    const params = ([[8, 1, 1, 9], [64, 3, 1, 12], [256, 2, 2, 31], [1024, 3, 1, 64], [65536, 3, 1, 40], [64, 1, 1, 7]] as const)
      .map(([m, t, p, len], i) => ({ m, t, p, password: hex(seededBytes(`argon2-pw-${i}`, len)), salt: hex(seededBytes(`argon2-salt-${i}`, 16)) }));
    const kdf = encodeKdfParams(newKdfParams());
    const passphrase = `Grüße, ${randomBytes(4).toString('hex')} ünïcode passphrase`;
    const check: Check = { vectors, params, passphrase, kdf };

    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    await page.goto(server.url + '/');
    const res = await page.evaluate((c) => (window as unknown as { runChecks: (c: Check) => Promise<Result> }).runChecks(c), check);
    await page.close();

    expect(errors).toEqual([]); // no CSP violation, no failed fetch
    expect(res.wasmLoaded).toBe(true);
    expect(res.simdValid).toBe(true);
    expect(res.vectors).toEqual(vectors.map((v) => v.tag));
    expect(res.vectors[0]).toBe('0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659');
    for (const [shim, wasm] of res.pairs) expect(shim).toBe(wasm);
    const node = await derivePassphraseKeys(passphrase, decodeKdfParams(kdf));
    expect(res.loginKey).toBe(hex(node.loginKey));
    expect(res.emptyPassword[0]).toMatch(/^rejected/);
    expect(res.emptyPassword[1]).toMatch(/^rejected/);
  });
});
