// The same crypto-core source, bundled for the browser, run in headless Chromium: in a page and in
// a Web Worker, checked against the RFC 9180 vector and our format vectors.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import { CHROMIUM_ARGS, chromiumPath, NO_CHROMIUM } from '../../tests/support/env';
import { readVector } from './helpers';

/* eslint-disable @typescript-eslint/no-explicit-any -- vectors are untyped JSON */
const hpke = readVector<any[]>('third-party/hpke/rfc9180-base-x25519-sha256-aes256gcm.json')[0];
const passphrase = readVector<any>('format-v1/passphrase.json');
const input = {
  hpke: { ikmE: hpke.ikmE, pkRm: hpke.pkRm, info: hpke.info, aad: hpke.encryptions[0].aad, pt: hpke.encryptions[0].pt },
  passphrase: { passphrase: passphrase.inputs.passphrase, kdfParams: passphrase.inputs.kdfParams },
};

describe.skipIf(!chromiumPath)(chromiumPath ? 'crypto-core in Chromium' : `crypto-core in Chromium (${NO_CHROMIUM})`, () => {
  let server: Server;
  let browser: Browser;
  let origin: string;

  beforeAll(async () => {
    const bundle = await build({
      entryPoints: [new URL('./browser/smoke-entry.ts', import.meta.url).pathname],
      bundle: true, format: 'iife', globalName: 'cofferSmoke', platform: 'browser', target: 'es2022', write: false,
    });
    const js = bundle.outputFiles[0]!.text;
    const worker = `${js}\nself.onmessage = async (e) => { try { self.postMessage({ ok: await cofferSmoke.smoke(e.data) }); } catch (err) { self.postMessage({ error: String(err) }); } };`;
    server = createServer((req, res) => {
      const body = req.url === '/smoke.js' ? js : req.url === '/worker.js' ? worker : '<!doctype html><script src="/smoke.js"></script>';
      res.writeHead(200, { 'content-type': req.url?.endsWith('.js') ? 'text/javascript' : 'text/html' }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({ executablePath: chromiumPath!, args: CHROMIUM_ARGS });
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
  });

  const check = (out: Record<string, any>) => {
    expect(out.streamRoundTrip).toBe(true);
    expect(out.chunks).toBeGreaterThan(3);
    expect(out.unwrap).toBe(true);
    expect(out.metadata).toEqual({ name: 'caf\u00e9.txt', mime: 'text/plain', size: 1, mtime: 2 });
    expect(out.hpke).toEqual({ enc: hpke.enc, ct: hpke.encryptions[0].ct });
    expect(out.loginKey).toBe(passphrase.expected.loginKey);
  };

  it('runs in a page', async () => {
    const page = await browser.newPage();
    await page.goto(`${origin}/`);
    const out = await page.evaluate((i) => (globalThis as any).cofferSmoke.smoke(i), input);
    check(out);
    await page.close();
  });

  it('runs in a Web Worker', async () => {
    const page = await browser.newPage();
    await page.goto(`${origin}/`);
    const reply = await page.evaluate(
      (i) => new Promise<any>((resolve) => {
        const w = new Worker('/worker.js');
        w.onmessage = (e) => resolve(e.data);
        w.postMessage(i);
      }),
      input,
    );
    expect(reply.error).toBeUndefined();
    check(reply.ok);
    await page.close();
  });
});
