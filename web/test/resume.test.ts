// Upload resume, in real Chromium against a real server: an upload cut off by a page reload, a
// closed tab or a network loss finishes later by sending only the chunks the server lacks, with
// no duplicate node, the same bytes back, and no resume record left behind.
// Uploads are cut off with page.route by request count, never by timing.
import { readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BrowserContext, Page, Route } from 'playwright-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { chromiumPath, NO_CHROMIUM } from '../../tests/support/env';
import type { RunningServer } from '../../tests/support/server';
import { browserSession, row, rowAction, seededBytes, watchConsole } from './support';

const EMAIL = 'resume@example.test';
const PASS = 'harbor pepper silent 42 kettle drum';
const MiB = 1024 * 1024;
// The server's log reaches the test through a pipe, a moment after the tray shows the result.
const LATE = { timeout: 10_000 };

/**
 * Counts the chunk records the server took from now on (`sent`) and the new chunks among them
 * (`stored`), from its log: a line per chunk PUT, and a "chunk batch" line per batch request with
 * its counts. The server is the authority here: Playwright can miss a dedicated worker's request
 * events in a freshly opened page.
 */
function putLog(server: RunningServer) {
  const from = server.output().length;
  const count = () => {
    const log = server.output().slice(from);
    const puts = [...log.matchAll(/"method":"PUT","path":"\/api\/chunks\/[0-9a-f]{64}","status":(\d+)/g)].map((m) => Number(m[1]));
    const batches = [...log.matchAll(/"msg":"chunk batch","chunks":(\d+),"created":(\d+)/g)].map((m) => [Number(m[1]), Number(m[2])] as const);
    return {
      sent: puts.length + batches.reduce((n, [chunks]) => n + chunks, 0),
      stored: puts.filter((st) => st === 201).length + batches.reduce((n, [, created]) => n + created, 0),
    };
  };
  return { sent: () => count().sent, stored: () => count().stored };
}

/** The records of the worker's resume store (IndexedDB `coffer-uploads`), each key and value as text (bytes as Latin-1). */
function resumeRecords(page: Page): Promise<string[]> {
  return page.evaluate(() => new Promise<string[]>((resolve, reject) => {
    const open = indexedDB.open('coffer-uploads', 1);
    open.onupgradeneeded = () => open.result.createObjectStore('uploads');
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const out: string[] = [];
      const show = (v: unknown): string => v instanceof ArrayBuffer || ArrayBuffer.isView(v)
        ? String.fromCharCode(...new Uint8Array(v instanceof ArrayBuffer ? v : v.buffer))
        : v && typeof v === 'object' ? Object.entries(v).map(([k, x]) => `${k}=${show(x)}`).join(';') : String(v);
      const req = open.result.transaction('uploads').objectStore('uploads').openCursor();
      req.onsuccess = () => {
        const c = req.result;
        if (!c) { open.result.close(); resolve(out); return; }
        out.push(`${String(c.key)} ${show(c.value)}`);
        c.continue();
      };
      req.onerror = () => reject(req.error);
    };
  }));
}

/** Groups of chunks recorded for resumed uploads (IndexedDB `coffer-upload-chunks`), each sealed. */
function journalGroups(page: Page): Promise<number> {
  return page.evaluate(() => new Promise<number>((resolve, reject) => {
    const open = indexedDB.open('coffer-upload-chunks', 1);
    open.onupgradeneeded = () => open.result.createObjectStore('chunks');
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const req = open.result.transaction('chunks').objectStore('chunks').count();
      req.onsuccess = () => { open.result.close(); resolve(req.result); };
      req.onerror = () => reject(req.error);
    };
  }));
}

/** Bytes that uploads resumed in this page took from their journal (the crypto worker's count). */
async function resumedBytes(page: Page): Promise<number> {
  const worker = page.workers().find((w) => /worker/.test(w.url()) && !w.url().includes('dh-worker'));
  expect(worker).toBeDefined();
  return Number(await worker!.evaluate('self.resumedBytes'));
}

describe.skipIf(!chromiumPath)(`upload resume${chromiumPath ? '' : ` (${NO_CHROMIUM})`}`, () => {
  const session = browserSession({
    tmpPrefix: 'coffer-resume-test-',
    env: { LOG_LEVEL: 'info' }, // a log line per request: the PUT count
    signup: { email: EMAIL, pass: PASS },
  });
  const { logs } = session;
  let server: RunningServer;
  let ctx: BrowserContext;
  let page: Page;
  let dir: string;
  beforeAll(() => ({ server, ctx, page, dir } = session));

  async function download(name: string): Promise<Buffer> {
    const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), rowAction(page, name, 'Download')]);
    const target = join(dir, `dl-${Math.random().toString(36).slice(2)}`);
    await dl.saveAs(target);
    expect(await dl.failure()).toBeNull();
    return readFile(target);
  }

  /** Chunk records a batch request carries (its Coffer-Chunks header). */
  const recordsIn = (route: Route) => (route.request().headers()['coffer-chunks'] ?? '').split(',').filter(Boolean).length;
  const batchRequest = (u: URL) => u.pathname === '/api/chunks/batch';

  /**
   * Chunk batches from now on: those that keep the records let through at most `pass` go through,
   * every later one fails as a network error. `passed()`: the records let through.
   */
  async function failBatchesAfter(pass: number) {
    let passed = 0;
    let failing = false;
    const p = page;
    const handler = async (route: Route) => {
      const n = recordsIn(route);
      if (!failing && passed + n <= pass) {
        passed += n;
        return route.fallback();
      }
      failing = true;
      await route.abort('internetdisconnected');
    };
    await p.route(batchRequest, handler);
    return { passed: () => passed, ungate: () => p.unroute(batchRequest, handler) };
  }

  /** Chunk batches from now on: the first `pass` go through, the next `fail` fail as a network error, the rest go through. */
  async function blipAfter(pass: number, fail: number) {
    let seen = 0;
    const p = page;
    const handler = async (route: Route) => {
      seen++;
      if (seen <= pass || seen > pass + fail) return route.fallback();
      await route.abort('internetdisconnected');
    };
    await p.route(batchRequest, handler);
    return { lost: () => Math.max(0, Math.min(fail, seen - pass)), ungate: () => p.unroute(batchRequest, handler) };
  }

  /**
   * Freezes an upload part-way: the first `pass` chunk checks go through (counting the chunks the
   * server reports missing, which the upload then PUTs), later ones are held, so the upload stalls
   * with exactly those stored. Checks are held rather than PUTs: a page that goes away can let a
   * paused request through to the server, and a late check stores nothing.
   */
  async function holdChecksAfter(pass: number) {
    let seen = 0;
    let missing = 0;
    let failing = false;
    const held: Route[] = [];
    const p = page;
    const handler = async (route: Route) => {
      if (failing) return route.abort('internetdisconnected');
      if (seen++ >= pass) return void held.push(route);
      const res = await route.fetch();
      missing += ((await res.json()) as { missing: string[] }).missing.length;
      await route.fulfill({ response: res });
    };
    await p.route('**/api/chunks/check', handler);
    return {
      /** Chunks the passed checks reported missing: final once a later check is held. */
      missing: () => missing,
      held: () => held.length,
      /** Fails the held checks and every later one (as a network error): the connection is gone. */
      fail: async () => {
        failing = true;
        await Promise.all(held.splice(0).map((r) => r.abort('internetdisconnected').catch(() => {})));
      },
      /** Fails the held checks (as a network error) and lets later ones through. */
      release: async () => {
        await Promise.all(held.splice(0).map((r) => r.abort('internetdisconnected').catch(() => {}))); // gone with their page
        await p.unroute('**/api/chunks/check', handler).catch(() => {});
      },
    };
  }

  /**
   * Starts uploading `file` with the chunk checks after the first `pass` held, and resolves once the
   * upload stalls: with the gate, and the number of chunks the passed checks had stored.
   */
  async function stallUpload(file: string, pass: number) {
    const gate = await holdChecksAfter(pass);
    const log = putLog(server);
    await page.locator('#upload-files').setInputFiles(file);
    await expect.poll(() => gate.held(), { timeout: 60_000 }).toBeGreaterThan(0);
    const stored = gate.missing();
    await expect.poll(() => log.stored(), LATE).toBe(stored);
    return { gate, stored };
  }

  /**
   * Stalls an upload of `file` after two chunk checks, once some of its chunks are recorded, then
   * reloads the page and unlocks: the tray offers to resume `name`.
   */
  async function interruptByReload(file: string, name: string): Promise<void> {
    const { gate } = await stallUpload(file, 2);
    await expect.poll(() => journalGroups(page), LATE).toBeGreaterThan(0);
    await page.reload();
    await gate.release();
    await page.getByLabel('Passphrase').fill(PASS);
    await page.getByRole('button', { name: 'Unlock' }).click();
    await page.locator(`[data-interrupted="${name}"]`).waitFor({ timeout: 60_000 });
  }

  /** Blob files the server's folder store holds (one per distinct chunk of this account). */
  async function blobCount(): Promise<number> {
    const walk = async (d: string): Promise<number> => {
      let n = 0;
      for (const e of await readdir(d, { withFileTypes: true })) {
        if (e.isDirectory()) n += await walk(join(d, e.name));
        else if (/^[0-9a-f]{64}$/.test(e.name)) n++;
      }
      return n;
    };
    return walk(server.dataDir);
  }

  /** Writes `<name>.bin` of `size` seeded bytes into the temp folder; the bytes, the path, and the server's blob count now. */
  async function localFile(name: string, size: number): Promise<{ bytes: Buffer; file: string; before: number }> {
    const bytes = seededBytes(`coffer-resume-${name}`, size);
    const file = join(dir, `${name}.bin`);
    await writeFile(file, bytes);
    return { bytes, file, before: await blobCount() };
  }

  test('a reload mid-upload: picking the file again sends only the missing chunks', async () => {
    const { bytes, file } = await localFile('reload', 32 * MiB + 4321); // ~32 chunks of ~1 MiB

    // First attempt: two chunk checks pass (at most 16 chunks: the upload holds no more in flight)
    // and the chunks they report missing are stored; the third check is held, so the upload is
    // still running when the page reloads.
    const { gate, stored: STORED } = await stallUpload(file, 2);
    expect(STORED).toBeGreaterThan(0);
    const kept = await resumeRecords(page);
    expect(kept).toHaveLength(1);
    // Sealed: neither the key nor the value names the file or its size.
    expect(kept[0]).not.toContain('reload');
    expect(kept[0]).not.toContain(String(bytes.length));
    // The chunks stored so far are recorded, in order from the first (at least one group of them).
    await expect.poll(() => journalGroups(page), LATE).toBeGreaterThan(0);

    await page.reload();
    await gate.release();
    expect(await blobCount()).toBe(STORED);
    await page.getByLabel('Passphrase').fill(PASS);
    await page.getByRole('button', { name: 'Unlock' }).click();
    await page.locator('[data-interrupted="reload.bin"]').waitFor({ timeout: 60_000 }); // the tray offers to resume
    await row(page, 'reload.bin').waitFor();

    // Second attempt: the same file, picked again in the same folder.
    const second = putLog(server);
    await page.locator('#upload-files').setInputFiles(file);
    await page.locator('[data-upload="reload.bin"][data-phase="done"]').waitFor({ timeout: 90_000 });
    const total = await blobCount();
    expect(total).toBeGreaterThan(STORED + 8);
    await expect.poll(() => second.sent(), LATE).toBe(total - STORED); // only the chunks the server lacked were sent
    await expect.poll(() => second.stored(), LATE).toBe(total - STORED);
    // The recorded chunks were hashed again, not chunked and sealed again: the second attempt took
    // some of the file from its journal, never more than the first had stored.
    const resumed = await resumedBytes(page);
    expect(resumed).toBeGreaterThan(0);
    expect(resumed).toBeLessThanOrEqual(STORED * 4 * MiB);

    expect(await resumeRecords(page)).toHaveLength(0);
    expect(await journalGroups(page)).toBe(0);
    await page.locator('[data-interrupted="reload.bin"]').waitFor({ state: 'detached' });
    expect(await page.locator('.row').count()).toBe(1); // no second node, no conflict copy
    await rowAction(page, 'reload.bin', 'Versions');
    const dlg = page.getByRole('dialog');
    await dlg.locator('tr[data-version="1"]').waitFor();
    expect(await dlg.locator('tr[data-version]').count()).toBe(1);
    await dlg.getByRole('button', { name: 'Close' }).click();
    expect((await download('reload.bin')).equals(bytes)).toBe(true);
  });

  test('a short network loss mid-upload heals by itself: failed requests are sent again', async () => {
    const { bytes, file, before } = await localFile('blip', 8 * MiB + 5);
    const blip = await blipAfter(1, 1); // the second batch request lost
    const log = putLog(server);
    await page.locator('#upload-files').setInputFiles(file);
    await page.locator('[data-upload="blip.bin"][data-phase="done"]').waitFor({ timeout: 60_000 });
    await blip.ungate();
    expect(blip.lost()).toBe(1);
    const total = (await blobCount()) - before;
    expect(total).toBeGreaterThanOrEqual(4);
    await expect.poll(() => log.stored(), LATE).toBe(total); // every chunk once; the lost request never reached it
    expect(await resumeRecords(page)).toHaveLength(0);
    expect(await row(page, 'blip.bin').count()).toBe(1);
    expect((await download('blip.bin')).equals(bytes)).toBe(true);
  });

  test('a short network loss mid-download heals by itself: the lost chunk fetches are sent again', async () => {
    const bytes = seededBytes('coffer-resume-blip', 8 * MiB + 5); // blip.bin, uploaded above
    let gets = 0;
    const match = (u: URL) => /\/api\/chunks\/[0-9a-f]{64}$/.test(u.pathname);
    const handler = async (route: Route) => {
      if (route.request().method() !== 'GET') return route.fallback();
      gets++;
      if (gets === 2 || gets === 3) return route.abort('internetdisconnected'); // the second and third fetch
      return route.fallback();
    };
    await page.route(match, handler);
    try {
      expect((await download('blip.bin')).equals(bytes)).toBe(true);
      expect(gets).toBeGreaterThanOrEqual(6); // at least 4 chunks, and the two lost fetches again
    } finally {
      await page.unroute(match, handler);
    }
  });

  test('a network loss mid-upload: Retry sends only the missing chunks', async () => {
    const { bytes, file, before } = await localFile('offline', 24 * MiB + 99);
    // The connection drops after about five chunks: every later batch request fails as a network error.
    const gate = await failBatchesAfter(5);
    const first = putLog(server);
    await page.locator('#upload-files').setInputFiles(file);
    const task = page.locator('[data-upload="offline.bin"]');
    await page.locator('[data-upload="offline.bin"][data-phase="error"]').waitFor({ timeout: 60_000 });
    expect(await task.textContent()).toContain('cannot be reached');
    const STORED = gate.passed();
    expect(STORED).toBeGreaterThan(0);
    await expect.poll(() => first.stored(), { timeout: 30_000 }).toBe(STORED);
    expect(await resumeRecords(page)).toHaveLength(1); // kept, so a retry continues this upload

    // Back online: Retry continues the same upload.
    await gate.ungate();
    const second = putLog(server);
    await page.getByRole('button', { name: 'Retry offline.bin' }).click();
    await page.locator('[data-upload="offline.bin"][data-phase="done"]').waitFor({ timeout: 90_000 });
    const total = (await blobCount()) - before;
    expect(total).toBeGreaterThanOrEqual(15);
    await expect.poll(() => second.sent(), LATE).toBe(total - STORED);
    await expect.poll(() => second.stored(), LATE).toBe(total - STORED);

    expect(await resumeRecords(page)).toHaveLength(0);
    expect(await row(page, 'offline.bin').count()).toBe(1);
    expect(await page.locator('.row').count()).toBe(3); // with reload.bin and blip.bin
    expect((await download('offline.bin')).equals(bytes)).toBe(true);
  });

  test('a failed upload, tab closed: in a new tab, once unlocked, the tray\'s Resume button finishes it', async () => {
    const { bytes, file, before } = await localFile('tab', 12 * MiB + 7);

    const { gate, stored: STORED } = await stallUpload(file, 1); // the first check carries the first chunk alone
    expect(STORED).toBe(1);

    // The connection drops (the held check and its retries fail) and the tab is closed; IndexedDB
    // and the session cookie stay with the context. The failure is awaited first: a closed page's
    // worker can run on for a moment, and this one must send nothing more.
    await gate.fail();
    await page.locator('[data-upload="tab.bin"][data-phase="error"]').waitFor({ timeout: 60_000 });
    await page.close();
    expect((await blobCount()) - before).toBe(STORED);
    page = await ctx.newPage();
    watchConsole(page, logs);
    // The browser's session lives on in its cookie: the new tab asks only for the passphrase.
    await page.goto(server.url + '/');
    await page.getByLabel('Passphrase').fill(PASS);
    await page.getByRole('button', { name: 'Unlock' }).click();
    await page.locator('[data-interrupted="tab.bin"]').waitFor({ timeout: 60_000 });

    const second = putLog(server);
    const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.getByRole('button', { name: 'Resume tab.bin' }).click()]);
    await chooser.setFiles(file);
    await page.locator('[data-upload="tab.bin"][data-phase="done"]').waitFor({ timeout: 90_000 });
    await page.locator('[data-interrupted="tab.bin"]').waitFor({ state: 'detached' });
    const total = (await blobCount()) - before;
    expect(total).toBeGreaterThan(STORED + 5);
    await expect.poll(() => second.sent(), LATE).toBe(total - STORED);
    expect(await resumeRecords(page)).toHaveLength(0);
    expect(await row(page, 'tab.bin').count()).toBe(1);
    expect(await page.locator('.row').count()).toBe(4);
    expect((await download('tab.bin')).equals(bytes)).toBe(true);
  });

  test('a reload mid-upload, then other bytes under the same name, size and time: all of them are sent', async () => {
    const { file } = await localFile('swap', 32 * MiB + 3);
    const time = new Date('2026-01-02T03:04:05Z'); // whole seconds: the same after a rewrite, however the browser rounds
    await utimes(file, time, time);
    await interruptByReload(file, 'swap.bin');

    // The file is rewritten in place with other bytes, its modification time set back: the page
    // sees the same name, size and time, and offers to resume.
    const other = seededBytes('coffer-resume-swap-other', 32 * MiB + 3);
    await writeFile(file, other);
    await utimes(file, time, time);
    await page.locator('#upload-files').setInputFiles(file);
    await page.locator('[data-upload="swap.bin"][data-phase="done"]').waitFor({ timeout: 90_000 });

    expect(await resumedBytes(page)).toBe(0); // the first recorded chunk no longer matched
    expect(await resumeRecords(page)).toHaveLength(0);
    expect(await journalGroups(page)).toBe(0);
    expect(await row(page, 'swap.bin').count()).toBe(1);
    expect((await download('swap.bin')).equals(other)).toBe(true);
  });

  test('discarding an interrupted upload forgets its record and the chunks it recorded', async () => {
    const { file } = await localFile('discard', 32 * MiB + 11);
    await interruptByReload(file, 'discard.bin');
    expect(await resumeRecords(page)).toHaveLength(1);

    await page.getByRole('button', { name: 'Discard discard.bin' }).click();
    await page.locator('[data-interrupted="discard.bin"]').waitFor({ state: 'detached' });
    expect(await resumeRecords(page)).toHaveLength(0);
    expect(await journalGroups(page)).toBe(0);
  });

  test('nothing secret reached the console or the server log', () => {
    expect(logs.join('\n') + server.output()).not.toContain(PASS);
  });
});
