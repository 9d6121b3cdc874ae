// End to end, in real Chromium against a real server on the embedded default store:
// sign up, upload (picker, drag and drop, folder), live sync to a second browser context,
// download and compare bytes, rename / move / trash / restore, versions, share links.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { chromiumPath, NO_CHROMIUM } from '../../tests/support/env';
import type { RunningServer } from '../../tests/support/server';
import { ARTIFACTS, browserSession, login, newContext, row, rowAction, seededBytes, signup, tamperEveryBlob, watchConsole } from './support';

const EMAIL = 'alice@example.test';
const PASS = 'orbit lantern quiet meadow 7 violin';
const BIG = seededBytes('coffer-web-big', 3 * 1024 * 1024 + 12_345); // several FastCDC chunks

describe.skipIf(!chromiumPath)(`web vault end to end${chromiumPath ? '' : ` (${NO_CHROMIUM})`}`, () => {
  // A signs up in the first test; B, in a browser context of its own, logs in to the same account.
  const session = browserSession({ tmpPrefix: 'coffer-web-test-' });
  const { logs } = session;
  let server: RunningServer;
  let browser: Browser;
  let a: Page;
  let b: Page;
  let dir: string;
  const linkSecrets: string[] = [];

  beforeAll(async () => {
    ({ server, browser, page: a, dir } = session);
    b = await (await newContext(browser)).newPage();
    watchConsole(b, logs);
  });

  async function download(page: Page, name: string, action = 'Download'): Promise<Buffer> {
    const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), rowAction(page, name, action)]);
    const target = join(dir, `dl-${Math.random().toString(36).slice(2)}`);
    await dl.saveAs(target);
    expect(await dl.failure()).toBeNull();
    return readFile(target);
  }

  test('sign up, then a wrong passphrase and a second session', async () => {
    await signup(a, server.url, EMAIL, PASS, 'a');
    await expect.poll(() => a.getByTestId('sync-status').textContent(), { timeout: 30_000 }).toContain('Synced');
    await a.screenshot({ path: `${ARTIFACTS}/vault-empty.png` });

    await b.goto(server.url + '/');
    await b.getByLabel('E-mail').fill(EMAIL);
    await b.getByLabel('Passphrase').fill('not the passphrase');
    await b.getByRole('button', { name: 'Log in' }).click();
    await expect.poll(() => b.getByRole('alert').first().textContent(), { timeout: 30_000 }).toContain('Wrong e-mail or passphrase');
    await b.screenshot({ path: `${ARTIFACTS}/login-wrong-passphrase.png` });
    await login(b, server.url, EMAIL, PASS);
    await expect.poll(() => b.getByTestId('sync-status').textContent(), { timeout: 30_000 }).toContain('Synced');
  });

  test('login errors: rate limited (429) and server unreachable are told apart', async () => {
    const ctx = await newContext(browser);
    const page = await ctx.newPage();
    await page.goto(server.url + '/');
    await page.route('**/api/auth/login', (route) =>
      route.fulfill({ status: 429, headers: { 'Retry-After': '30', 'Content-Type': 'application/json' }, body: '{"code":"RATE_LIMITED","message":"slow down"}' }));
    await page.getByLabel('E-mail').fill(EMAIL);
    await page.getByLabel('Passphrase').fill('anything at all here');
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect.poll(() => page.getByRole('alert').first().textContent(), { timeout: 60_000 }).toContain('Too many attempts. Please wait 30 s');
    await page.unroute('**/api/auth/login');
    await page.route('**/api/auth/prelogin', (route) => route.abort('connectionrefused'));
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect.poll(() => page.getByRole('alert').first().textContent(), { timeout: 60_000 }).toContain('cannot be reached');
    await ctx.close();
  });

  test('upload a multi-chunk file with the picker; it appears live in the second context; download matches', async () => {
    const file = join(dir, 'big.bin');
    await writeFile(file, BIG);
    await a.locator('#upload-files').setInputFiles(file);
    await a.locator('[data-upload="big.bin"][data-phase="done"]').waitFor({ timeout: 90_000 });
    await a.screenshot({ path: `${ARTIFACTS}/upload-tray.png` });
    await row(a, 'big.bin').waitFor();
    await row(b, 'big.bin').waitFor({ timeout: 30_000 }); // live, via the WebSocket
    const got = await download(b, 'big.bin');
    expect(got.length).toBe(BIG.length);
    expect(got.equals(BIG)).toBe(true);

    // That download went through the service worker, which controls only its own path: the
    // vault's requests (chunk PUTs above all) never pass through it (src/ui/download.ts).
    const sw = `navigator.serviceWorker.getRegistrations().then((r) => ({
      controlled: navigator.serviceWorker.controller !== null, scopes: r.map((x) => new URL(x.scope).pathname) }))`;
    expect(await b.evaluate(sw)).toEqual({ controlled: false, scopes: ['/__coffer_dl/'] });

    // A registration for the whole origin, as an earlier version made, is removed.
    const old = await (await newContext(browser)).newPage();
    await old.goto(server.url + '/');
    await old.evaluate(`navigator.serviceWorker.register('/sw.js', { scope: '/' }).then(() => navigator.serviceWorker.ready)`);
    await old.reload();
    await expect.poll(() => old.evaluate(sw), { timeout: 30_000 }).toMatchObject({ scopes: ['/__coffer_dl/'] });
    await old.context().close();
  });

  test('drag and drop a file, and upload a folder', async () => {
    const dropped = seededBytes('dropped', 70_000);
    await a.evaluate(async (bytes) => {
      const dt = new DataTransfer();
      dt.items.add(new File([new Uint8Array(bytes)], 'dropped.txt', { type: 'text/plain' }));
      const target = document.querySelector('[data-testid="vault"]')!;
      target.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
      target.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, [...dropped]);
    await row(a, 'dropped.txt').waitFor({ timeout: 60_000 });

    const folder = join(dir, 'photos');
    await mkdir(join(folder, 'inner'), { recursive: true });
    await writeFile(join(folder, 'one.txt'), 'first file\n');
    await writeFile(join(folder, 'inner', 'two.txt'), 'second file\n');
    await a.locator('#upload-folder').setInputFiles(folder);
    await a.locator('[data-upload="two.txt"][data-phase="done"]').waitFor({ timeout: 60_000 });
    await row(a, 'photos').waitFor();
    await row(a, 'photos').locator('button.name').click();
    await row(a, 'one.txt').waitFor();
    await row(a, 'inner').locator('button.name').click();
    await row(a, 'two.txt').waitFor();
    await row(a, 'two.txt').locator('button.name').click(); // small text: preview, decrypted in the tab
    await expect.poll(() => a.getByRole('dialog').locator('pre').textContent(), { timeout: 30_000 }).toBe('second file\n');
    await a.screenshot({ path: `${ARTIFACTS}/preview-text.png` });
    await a.getByRole('dialog').getByRole('button', { name: 'Close' }).click();
    expect((await download(a, 'two.txt')).toString()).toBe('second file\n');
    await a.getByRole('navigation', { name: 'Folder path' }).getByRole('button', { name: 'My files' }).click();
    await row(a, 'big.bin').waitFor();
    await a.screenshot({ path: `${ARTIFACTS}/vault-list.png` });
  });

  test('rename, move (dialog and drag onto a folder), trash and restore', async () => {
    await rowAction(a, 'dropped.txt', 'Rename');
    await a.getByLabel('Name', { exact: true }).fill('notes.txt');
    await a.getByRole('button', { name: 'Rename', exact: true }).click();
    await row(a, 'notes.txt').waitFor();
    await row(b, 'notes.txt').waitFor({ timeout: 30_000 });

    await a.getByRole('button', { name: 'New folder' }).click();
    await a.getByLabel('Name', { exact: true }).fill('Archive');
    await a.getByRole('button', { name: 'Create', exact: true }).click();
    await row(a, 'Archive').waitFor();

    await rowAction(a, 'notes.txt', 'Move');
    const dlg = a.getByRole('dialog');
    await dlg.getByRole('button', { name: 'Open folder Archive' }).click();
    await dlg.getByRole('button', { name: 'Move here' }).click();
    await row(a, 'notes.txt').waitFor({ state: 'detached' });

    // Drag "photos" onto "Archive" (HTML5 drag and drop).
    await row(a, 'photos').dragTo(row(a, 'Archive'));
    await row(a, 'photos').waitFor({ state: 'detached' });
    await row(a, 'Archive').locator('button.name').click();
    await row(a, 'notes.txt').waitFor();
    await row(a, 'photos').waitFor();

    await rowAction(a, 'notes.txt', 'Move to trash');
    await row(a, 'notes.txt').waitFor({ state: 'detached' });
    await a.getByRole('button', { name: 'Trash', exact: true }).click();
    await a.getByRole('button', { name: 'Restore notes.txt' }).click();
    await a.getByRole('button', { name: 'Restore notes.txt' }).waitFor({ state: 'detached' });
    await a.getByRole('button', { name: 'Files', exact: true }).click();
    await row(a, 'notes.txt').waitFor();
    expect(await download(a, 'notes.txt')).toEqual(seededBytes('dropped', 70_000));
    await a.getByRole('navigation', { name: 'Folder path' }).getByRole('button', { name: 'My files' }).click();
    await row(a, 'big.bin').waitFor();
  });

  test('a new version, then restore the old one', async () => {
    const v2 = seededBytes('version-two', 300_000);
    const file = join(dir, 'v', 'big.bin');
    await mkdir(join(dir, 'v'), { recursive: true });
    await writeFile(file, v2);
    await a.locator('#upload-files').setInputFiles(file);
    await a.locator('[data-upload="big.bin"][data-phase="done"]').nth(1).waitFor({ timeout: 60_000 });
    expect((await download(a, 'big.bin')).equals(v2)).toBe(true);

    await rowAction(a, 'big.bin', 'Versions');
    const dlg = a.getByRole('dialog');
    await dlg.locator('tr[data-version="2"]').waitFor();
    await a.screenshot({ path: `${ARTIFACTS}/versions.png` });
    await dlg.getByRole('button', { name: 'Restore version 1' }).click();
    await dlg.locator('tr[data-version="3"]').waitFor();
    await dlg.getByRole('button', { name: 'Close' }).click();
    expect((await download(a, 'big.bin')).equals(BIG)).toBe(true);
  });

  test('share links: password right and wrong, expired, revoked', async () => {
    const makeLink = async (opts: { password?: string; expiry?: string }) => {
      await rowAction(a, 'big.bin', 'Share');
      const dlg = a.getByRole('dialog');
      if (opts.password) {
        await dlg.getByLabel('Password (optional)').fill(opts.password);
        await dlg.getByLabel('Repeat password').fill(opts.password);
      }
      if (opts.expiry) {
        await dlg.getByLabel('Expires').selectOption('custom');
        await dlg.getByLabel('Expiry time').fill(opts.expiry);
      }
      await dlg.getByRole('button', { name: 'Create link' }).click();
      const url = await dlg.getByLabel('Link').inputValue({ timeout: 60_000 });
      await a.screenshot({ path: `${ARTIFACTS}/share-dialog.png` });
      await dlg.getByRole('button', { name: 'Done' }).click();
      linkSecrets.push(new URL(url).hash.slice(1));
      return url;
    };
    const open = async (url: string) => {
      const ctx = await newContext(browser);
      const page = await ctx.newPage();
      watchConsole(page, logs);
      await page.goto(url);
      return { ctx, page };
    };

    const pwUrl = await makeLink({ password: 'tea for two' });
    expect(pwUrl).toMatch(new RegExp(`^${server.url}/s/[0-9a-f]{32}#[A-Za-z0-9_-]{43}$`));
    {
      const { ctx, page } = await open(pwUrl);
      await page.getByLabel('This link needs a password').fill('coffee for one');
      await page.getByRole('button', { name: 'Open' }).click();
      await expect.poll(() => page.getByTestId('alert').textContent(), { timeout: 60_000 }).toContain('Wrong password');
      expect(page.url()).not.toContain('#'); // the fragment left the address bar
      await page.getByLabel('This link needs a password').fill('tea for two');
      await page.getByRole('button', { name: 'Open' }).click();
      await expect.poll(() => page.getByTestId('shared-name').textContent(), { timeout: 60_000 }).toBe('big.bin');
      await page.screenshot({ path: `${ARTIFACTS}/receive-page.png` });
      const [dl] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download' }).click()]);
      const target = join(dir, 'shared.bin');
      await dl.saveAs(target);
      expect((await readFile(target)).equals(BIG)).toBe(true);
      await ctx.close();
    }

    // Expired: a link whose expiry is a few seconds away, opened after it passed.
    const soon = new Date(Date.now() + 4000);
    const local = new Date(soon.getTime() - soon.getTimezoneOffset() * 60_000).toISOString().slice(0, 19);
    const expUrl = await makeLink({ expiry: local });
    await new Promise((r) => setTimeout(r, Math.max(0, soon.getTime() - Date.now()) + 1500));
    {
      const { ctx, page } = await open(expUrl);
      await expect.poll(() => page.getByTestId('alert').textContent(), { timeout: 30_000 }).toContain('expired');
      await ctx.close();
    }

    // Revoked.
    const revUrl = await makeLink({});
    await a.getByRole('button', { name: 'Shared links' }).click();
    await a.locator('table[aria-label="Shared links"]').waitFor();
    await a.screenshot({ path: `${ARTIFACTS}/links.png` });
    const id = new URL(revUrl).pathname.split('/')[2]!;
    await a.locator(`tr[data-link="${id}"]`).getByRole('button', { name: /Revoke/ }).click();
    await expect.poll(() => a.locator(`tr[data-link="${id}"]`).textContent(), { timeout: 30_000 }).toContain('Revoked');
    {
      const { ctx, page } = await open(revUrl);
      await expect.poll(() => page.getByTestId('alert').textContent(), { timeout: 30_000 }).toContain('revoked');
      await ctx.close();
    }
    await a.getByRole('button', { name: 'Files', exact: true }).click();
    await row(a, 'Archive').waitFor();

    // A shared folder: the receive page lists its children and downloads one.
    await rowAction(a, 'Archive', 'Share');
    const dlg = a.getByRole('dialog');
    await dlg.getByRole('button', { name: 'Create link' }).click();
    const folderUrl = await dlg.getByLabel('Link').inputValue({ timeout: 60_000 });
    linkSecrets.push(new URL(folderUrl).hash.slice(1));
    await dlg.getByRole('button', { name: 'Done' }).click();
    {
      const { ctx, page } = await open(folderUrl);
      await expect.poll(() => page.getByTestId('shared-name').textContent(), { timeout: 60_000 }).toBe('Archive');
      const [dl] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download notes.txt' }).click()]);
      const target = join(dir, 'shared-notes.txt');
      await dl.saveAs(target);
      expect(await readFile(target)).toEqual(seededBytes('dropped', 70_000));
      await page.screenshot({ path: `${ARTIFACTS}/receive-folder.png` });
      await ctx.close();
    }
  });

  test('lock drops keys and unlock reopens; phone width and dark theme render', async () => {
    await a.getByRole('button', { name: 'Lock' }).click();
    await a.getByLabel('Passphrase').fill('wrong wrong wrong');
    await a.getByRole('button', { name: 'Unlock' }).click();
    await expect.poll(() => a.getByRole('alert').first().textContent(), { timeout: 60_000 }).toContain('Wrong passphrase');
    await a.getByLabel('Passphrase').fill(PASS);
    await a.getByRole('button', { name: 'Unlock' }).click();
    await row(a, 'big.bin').waitFor({ timeout: 60_000 });

    const phone = await newContext(browser, { width: 360, dark: true });
    const p = await phone.newPage();
    await login(p, server.url, EMAIL, PASS);
    await row(p, 'big.bin').waitFor();
    await p.screenshot({ path: `${ARTIFACTS}/phone-dark.png`, fullPage: true });
    await phone.close();
  });

  test('upload tray: pause, resume and cancel', async () => {
    // Hold the chunk checks so the uploads are still running when we press the buttons.
    let release!: () => void;
    let held = new Promise<void>((r) => (release = r));
    await a.route('**/api/chunks/check', async (route) => { await held; await route.continue(); });
    const p1 = join(dir, 'pause.bin');
    await writeFile(p1, seededBytes('pause', 600_000));
    await a.locator('#upload-files').setInputFiles(p1);
    await a.getByRole('button', { name: 'Pause pause.bin' }).click();
    release(); // a pause is complete once the requests under way end ("Pausing…" until then)
    await a.locator('[data-upload="pause.bin"][data-phase="paused"]').waitFor();
    await a.getByRole('button', { name: 'Resume pause.bin' }).click();
    await a.locator('[data-upload="pause.bin"][data-phase="done"]').waitFor({ timeout: 60_000 });
    await row(a, 'pause.bin').waitFor();

    held = new Promise<void>((r) => (release = r));
    const trashed = async () => (await a.evaluate(async () => (await fetch('/api/trash')).json()) as { items: unknown[] }).items.length;
    const trashedBefore = await trashed();
    const p2 = join(dir, 'cancel.bin');
    await writeFile(p2, seededBytes('cancel', 600_000));
    await a.locator('#upload-files').setInputFiles(p2);
    await a.getByRole('button', { name: 'Cancel cancel.bin' }).click();
    release();
    await a.locator('[data-upload="cancel.bin"][data-phase="cancelled"]').waitFor({ timeout: 60_000 });
    await a.unroute('**/api/chunks/check');
    expect(await trashed()).toBe(trashedBefore); // the empty node it made was purged, not left in the trash
    await row(a, 'big.bin').waitFor();
    await row(a, 'cancel.bin').waitFor({ state: 'detached' });
  });

  test('an empty file and a file of zeros (chunks of the maximum size, the largest records) round-trip', async () => {
    const files: Array<[string, Buffer]> = [['empty.bin', Buffer.alloc(0)], ['zeros.bin', Buffer.alloc(9 * 1024 * 1024 + 5)]];
    for (const [name, bytes] of files) {
      await writeFile(join(dir, name), bytes);
      await a.locator('#upload-files').setInputFiles(join(dir, name));
      await a.locator(`[data-upload="${name}"][data-phase="done"]`).waitFor({ timeout: 90_000 });
      // The tray stays open over the list's lowest rows: the list has room to scroll them above it.
      expect((await download(a, name)).equals(bytes)).toBe(true);
    }
  });

  test('a tampered chunk fails the download plainly; no file is kept as good', async () => {
    expect(await tamperEveryBlob(server.dataDir)).toBeGreaterThan(0);
    const dl = a.waitForEvent('download', { timeout: 30_000 }).catch(() => null);
    await rowAction(a, 'big.bin', 'Download');
    await expect.poll(() => a.getByTestId('alert').textContent(), { timeout: 60_000 }).toContain('failed its integrity check');
    const started = await dl;
    if (started) expect(await started.failure()).not.toBeNull(); // the browser marks it failed, not complete
    await a.screenshot({ path: `${ARTIFACTS}/integrity-failure.png` });
  });

  test('sessions: listed with when each ends; ending one from another tab sends it back to log-in', async () => {
    const ctx = await newContext(browser);
    const c = await ctx.newPage();
    await login(c, server.url, EMAIL, PASS);
    await expect.poll(() => c.getByTestId('sync-status').textContent(), { timeout: 30_000 }).toContain('Synced');
    await c.getByRole('button', { name: 'Sessions' }).click();
    const own = await c.locator('tr[data-current="true"]').getAttribute('data-session', { timeout: 30_000 });

    await a.getByRole('button', { name: 'Sessions' }).click();
    await a.locator(`tr[data-session="${own}"]`).waitFor();
    expect(await a.locator('tr[data-current="true"]').count()).toBe(1);
    await a.screenshot({ path: `${ARTIFACTS}/sessions.png` });
    await a.locator(`tr[data-session="${own}"]`).getByRole('button', { name: /^End the/ }).click();
    await expect.poll(() => a.locator(`tr[data-session="${own}"]`).count(), { timeout: 30_000 }).toBe(0);

    // The ended tab is told (its WebSocket is closed, and the next request is refused): its keys are
    // dropped and it asks for a log-in.
    await c.getByText('Your session has ended. Please log in again.').waitFor({ timeout: 30_000 });
    expect(await c.getByTestId('vault').count()).toBe(0);
    await ctx.close();

    await a.getByRole('button', { name: 'End all other sessions' }).click();
    await expect.poll(() => a.locator('tr[data-session]').count(), { timeout: 30_000 }).toBe(1);
    await b.getByText('Your session has ended. Please log in again.').waitFor({ timeout: 30_000 });
    await a.getByRole('button', { name: 'Files' }).click();
    await row(a, 'big.bin').waitFor();
  });

  test('no secret reached the console or the server log', () => {
    const all = logs.join('\n') + server.output();
    expect(all).not.toContain(PASS);
    expect(all).not.toContain('tea for two');
    expect(linkSecrets.length).toBeGreaterThan(0);
    for (const secret of linkSecrets) expect(all).not.toContain(secret);
  });
});
