// A folder's "Download" in real Chromium against a real server: `<name>.zip` through the download
// service worker, read back with a real zip reader (yauzl, test/unzip.ts): every live file's bytes,
// name (UTF-8) and time, nested and empty folders, nothing from the trash nor unfinished, names that
// would clash numbered; a listing slower than the service worker's wait; and a tampered chunk that
// fails the whole download plainly, as it does a file's.
import { mkdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page, Route } from 'playwright-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { chromiumPath, NO_CHROMIUM } from '../../tests/support/env';
import type { RunningServer } from '../../tests/support/server';
import { ARTIFACTS, browserSession, newContext, row, rowAction, seededBytes, tamperEveryBlob } from './support';
import { unzip } from './unzip';

/** What is uploaded (paths under the test's temp folder), all with the time MTIME. */
const FILES: Record<string, Buffer> = {
  'Trip/nested/big.bin': seededBytes('coffer-zip-big', 9 * 1024 * 1024), // several chunks
  'Trip/notes.txt': Buffer.from('pack the tent\n'),
  'Trip/Ünïcødé 📷.txt': seededBytes('coffer-zip-unicode', 5_000),
};
const MTIME = new Date(2023, 2, 4, 5, 6, 8).getTime(); // local time, as a zip stores it

describe.skipIf(!chromiumPath)(`folder download as a zip${chromiumPath ? '' : ` (${NO_CHROMIUM})`}`, () => {
  const session = browserSession({ tmpPrefix: 'coffer-zip-test-', signup: { email: 'zip@example.test', pass: 'orbit lantern quiet meadow 7 violin' } });
  let page: Page;
  let server: RunningServer;
  let dir: string;
  beforeAll(() => {
    ({ page, server, dir } = session);
  });
  const status = () => page.getByTestId('status').textContent();

  test('a folder downloads as <name>.zip holding every live file and folder below it', async () => {
    for (const [path, bytes] of Object.entries(FILES)) {
      await mkdir(join(dir, path, '..'), { recursive: true });
      await writeFile(join(dir, path), bytes);
      await utimes(join(dir, path), MTIME / 1000, MTIME / 1000);
    }
    await writeFile(join(dir, 'Trip/gone.txt'), 'to the trash\n');
    const created = Date.now();
    await page.locator('#upload-folder').setInputFiles(join(dir, 'Trip'));
    for (const name of ['big.bin', 'notes.txt', 'Ünïcødé 📷.txt', 'gone.txt']) {
      await page.locator(`[data-upload="${name}"][data-phase="done"]`).waitFor({ timeout: 60_000 });
    }
    await row(page, 'Trip').locator('button.name').click();
    await row(page, 'gone.txt').waitFor();
    await rowAction(page, 'gone.txt', 'Move to trash');
    await expect.poll(() => row(page, 'gone.txt').count()).toBe(0);
    await page.getByRole('button', { name: 'New folder' }).click();
    await page.getByRole('textbox', { name: 'Name' }).fill('empty');
    await page.getByRole('button', { name: 'Create', exact: true }).click();
    await expect.poll(status).toBe('Created “empty”.');
    await page.getByRole('navigation', { name: 'Folder path' }).getByRole('button', { name: 'My files' }).click();
    await row(page, 'Trip').waitFor();

    const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), rowAction(page, 'Trip', 'Download')]);
    expect(dl.suggestedFilename()).toBe('Trip.zip');
    const target = join(dir, 'Trip.zip');
    await dl.saveAs(target);
    expect(await dl.failure()).toBeNull(); // also: the service worker's Content-Length was the archive's length
    await expect.poll(status, { timeout: 30_000 }).toMatch(/^Downloaded “Trip\.zip” \(/);
    await page.screenshot({ path: `${ARTIFACTS}/folder-zip-downloaded.png` });

    const { entries } = await unzip(await readFile(target));
    // Each folder before what it holds, children in name order; the trashed file is not there.
    expect(entries.map((e) => e.name)).toEqual(['Trip/', 'Trip/empty/', 'Trip/nested/', 'Trip/nested/big.bin', 'Trip/notes.txt', 'Trip/Ünïcødé 📷.txt']);
    for (const e of entries) {
      expect(e.utf8).toBe(true);
      if (e.name.endsWith('/')) {
        expect(e.data.length).toBe(0);
        // A folder's time is when it was made (MS-DOS time: 2-second steps).
        expect(e.mtime.getTime()).toBeGreaterThanOrEqual(Math.floor(created / 2000) * 2000);
        expect(e.mtime.getTime()).toBeLessThanOrEqual(Date.now());
      } else {
        expect(e.data.equals(FILES[e.name]!)).toBe(true);
        expect(e.mtime.getTime()).toBe(Math.floor(MTIME / 2000) * 2000);
      }
    }
  });

  /** The link to "Trip" made by the receive-page test, opened again after the tamper. */
  let linkUrl = '';
  /** The receive page of `url` in a fresh browser context (no account, no vault), once it lists "Trip". */
  const receive = async (url: string) => {
    const ctx = await newContext(session.browser);
    const p = await ctx.newPage();
    await p.goto(url);
    await expect.poll(() => p.getByTestId('shared-name').textContent(), { timeout: 60_000 }).toBe('Trip');
    await p.getByRole('list', { name: 'Shared folder contents' }).getByText('notes.txt').waitFor();
    return { ctx, p };
  };

  test('the receive page of a folder link downloads it, or the subfolder on view, as <name>.zip', async () => {
    await rowAction(page, 'Trip', 'Share');
    const dlg = page.getByRole('dialog');
    await dlg.getByRole('button', { name: 'Create link' }).click();
    linkUrl = await dlg.getByLabel('Link').inputValue({ timeout: 60_000 });
    await dlg.getByRole('button', { name: 'Done' }).click();
    const { ctx, p } = await receive(linkUrl);
    try {
      const zipOf = async (name: string) => {
        const [dl] = await Promise.all([p.waitForEvent('download', { timeout: 60_000 }), p.getByRole('button', { name: 'Download all (.zip)' }).click()]);
        expect(dl.suggestedFilename()).toBe(name);
        await dl.saveAs(join(dir, `received-${name}`));
        expect(await dl.failure()).toBeNull();
        await expect.poll(() => p.getByTestId('status').textContent(), { timeout: 30_000 }).toBe(`Downloaded “${name}”.`);
        return (await unzip(await readFile(join(dir, `received-${name}`)))).entries;
      };
      const all = await zipOf('Trip.zip');
      expect(all.map((e) => e.name)).toEqual(['Trip/', 'Trip/empty/', 'Trip/nested/', 'Trip/nested/big.bin', 'Trip/notes.txt', 'Trip/Ünïcødé 📷.txt']);
      for (const e of all) expect(e.data.equals(FILES[e.name] ?? Buffer.alloc(0))).toBe(true);
      await p.screenshot({ path: `${ARTIFACTS}/receive-folder-zip.png` });

      // Browsed into a subfolder, the button zips that subfolder only.
      await p.getByRole('button', { name: 'nested' }).click();
      await p.getByRole('navigation', { name: 'Folder path' }).waitFor();
      const nested = await zipOf('nested.zip');
      expect(nested.map((e) => e.name)).toEqual(['nested/', 'nested/big.bin']);
      expect(nested[1]!.data.equals(FILES['Trip/nested/big.bin']!)).toBe(true);
    } finally {
      await ctx.close();
    }
  });

  test('siblings that would share a path are numbered; a file whose upload never finished is left out', async () => {
    // A '\' is written as '_', and unzip on Windows or macOS takes names differing by case for one.
    const CLASH: Record<string, string> = { 'a_b.txt': 'underscore\n', 'report.txt': 'lower\n', 'Report.txt': 'upper\n' };
    await mkdir(join(dir, 'Clash'));
    for (const [name, text] of Object.entries(CLASH)) await writeFile(join(dir, 'Clash', name), text);
    await page.locator('#upload-folder').setInputFiles(join(dir, 'Clash'));
    for (const name of Object.keys(CLASH)) await page.locator(`[data-upload="${name}"][data-phase="done"]`).waitFor({ timeout: 60_000 });
    // Into the folder as a file of its own: Chromium's folder picker makes a '\' in a name a folder.
    await row(page, 'Clash').locator('button.name').click();
    await row(page, 'report.txt').waitFor();
    await writeFile(join(dir, 'a\\b.txt'), 'backslash\n');
    await page.locator('#upload-files').setInputFiles(join(dir, 'a\\b.txt'));
    await page.locator('[data-upload="a\\\\b.txt"][data-phase="done"]').waitFor({ timeout: 60_000 });
    // One more file whose commit is held: its node stays at version 0, listed as unfinished.
    const commit = (u: URL) => /^\/api\/nodes\/[^/]+\/versions$/.test(u.pathname);
    const held: Route[] = [];
    await page.route(commit, (route) => (route.request().method() === 'POST' ? void held.push(route) : route.fallback()));
    try {
      await writeFile(join(dir, 'half.txt'), 'half\n');
      await page.locator('#upload-files').setInputFiles(join(dir, 'half.txt'));
      await expect.poll(() => row(page, 'half.txt').locator('.meta').first().textContent(), { timeout: 30_000 }).toBe('Unfinished');
      await page.getByRole('navigation', { name: 'Folder path' }).getByRole('button', { name: 'My files' }).click();
      await row(page, 'Clash').waitFor();

      const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), rowAction(page, 'Clash', 'Download')]);
      await dl.saveAs(join(dir, 'Clash.zip'));
      expect(await dl.failure()).toBeNull();
      const { entries } = await unzip(await readFile(join(dir, 'Clash.zip')));
      const text = (e: { data: Buffer }) => e.data.toString();
      expect(entries.map((e) => [e.name, text(e)])).toEqual([
        ['Clash/', ''],
        ['Clash/a_b.txt', 'underscore\n'],
        ['Clash/a_b (2).txt', 'backslash\n'],
        ['Clash/report.txt', 'lower\n'],
        ['Clash/Report (2).txt', 'upper\n'],
      ]);
      expect(held).toHaveLength(1); // half.txt was waiting to commit all along
    } finally {
      for (const r of held) await r.continue();
      await page.unroute(commit);
    }
  });

  test('a listing that takes longer than the service worker waits for the stream still downloads', async () => {
    // The worker waits 60 s after the page last said the stream is coming; here 1 s, and every
    // folder's listing takes 1.5 s (three folders, walked one after another).
    const sw = session.ctx.serviceWorkers().find((w) => new URL(w.url()).pathname === '/sw.js');
    expect(sw).toBeDefined();
    await sw!.evaluate(() => ((self as unknown as { downloadWaitMs: number }).downloadWaitMs = 1000));
    const children = (u: URL) => /^\/api\/nodes\/[^/]+\/children$/.test(u.pathname);
    const listed: string[] = [];
    await page.route(children, async (route) => {
      listed.push(route.request().url());
      await new Promise((r) => setTimeout(r, 1500));
      await route.fallback();
    });
    try {
      const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), rowAction(page, 'Trip', 'Download')]);
      await dl.saveAs(join(dir, 'Trip-slow.zip'));
      expect(await dl.failure()).toBeNull();
      await expect.poll(status, { timeout: 30_000 }).toMatch(/^Downloaded “Trip\.zip” \(/);
      const { entries } = await unzip(await readFile(join(dir, 'Trip-slow.zip')));
      expect(entries.map((e) => e.name)).toEqual(['Trip/', 'Trip/empty/', 'Trip/nested/', 'Trip/nested/big.bin', 'Trip/notes.txt', 'Trip/Ünïcødé 📷.txt']);
      expect(listed.length).toBeGreaterThanOrEqual(3);
    } finally {
      await page.unroute(children);
      await sw!.evaluate(() => ((self as unknown as { downloadWaitMs: number }).downloadWaitMs = 60000));
    }
  });

  test('a tampered chunk fails the folder download plainly; no zip is kept as good', async () => {
    expect(await tamperEveryBlob(server.dataDir)).toBeGreaterThan(0);
    const dl = page.waitForEvent('download', { timeout: 30_000 }).catch(() => null);
    await rowAction(page, 'Trip', 'Download');
    await expect.poll(() => page.getByTestId('alert').textContent(), { timeout: 60_000 })
      .toBe('A file in “Trip” failed its integrity check, so “Trip.zip” was not saved: the stored data was altered or is incomplete.');
    const started = await dl;
    if (started) expect(await started.failure()).not.toBeNull(); // the browser marks it failed, not complete
    await page.screenshot({ path: `${ARTIFACTS}/folder-zip-integrity-failure.png` });

    // The same on the receive page, in its own words.
    const { ctx, p } = await receive(linkUrl);
    try {
      const got = p.waitForEvent('download', { timeout: 30_000 }).catch(() => null);
      await p.getByRole('button', { name: 'Download all (.zip)' }).click();
      await expect.poll(() => p.getByTestId('alert').textContent(), { timeout: 60_000 })
        .toBe('A file in “Trip” failed its integrity check, so “Trip.zip” was not saved.');
      const begun = await got;
      if (begun) expect(await begun.failure()).not.toBeNull();
    } finally {
      await ctx.close();
    }
  });
});
