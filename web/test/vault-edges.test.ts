// The vault when things go wrong or change under it: a preview that fails, a folder uploaded over
// one that exists, a folder trashed from another tab, an upload that never finished, links that
// no longer open, a receive page rate limited or reloaded, the keyboard, a catch-up that fails
// after a reconnect, and an upload into a folder that is slow to open.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page, Route, WebSocketRoute } from 'playwright-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { chromiumPath, NO_CHROMIUM } from '../../tests/support/env';
import type { RunningServer } from '../../tests/support/server';
import { browserSession, login, newContext, row, rowAction, watchConsole } from './support';

const EMAIL = 'edges@example.test';
const PASS = 'orbit lantern quiet meadow 7 violin';

describe.skipIf(!chromiumPath)(`web vault edge cases${chromiumPath ? '' : ` (${NO_CHROMIUM})`}`, () => {
  const sockets: WebSocketRoute[] = [];
  const session = browserSession({
    tmpPrefix: 'coffer-web-edges-',
    // The vault's socket passes through the test, which can drop it.
    before: (page) => page.routeWebSocket((u) => u.pathname === '/api/ws', (ws) => { sockets.push(ws); ws.connectToServer(); }),
    signup: { email: EMAIL, pass: PASS },
  });
  const { logs } = session;
  let server: RunningServer;
  let browser: Browser;
  let a: Page;
  let dir: string;
  beforeAll(() => ({ server, browser, page: a, dir } = session));

  const upload = async (name: string, text: string) => {
    await writeFile(join(dir, name), text);
    await a.locator('#upload-files').setInputFiles(join(dir, name));
    await a.locator(`[data-upload="${name}"][data-phase="done"]`).waitFor({ timeout: 60_000 });
  };
  const home = () => a.getByRole('navigation', { name: 'Folder path' }).getByRole('button', { name: 'My files' }).click();

  test('a preview that fails says why and closes; an empty file says it is empty', async () => {
    await upload('note.txt', 'a note\n');
    const node = (u: URL) => /^\/api\/nodes\/[^/]+$/.test(u.pathname);
    await a.route(node, (route) => route.abort('connectionrefused'));
    await row(a, 'note.txt').locator('button.name').click();
    const dlg = a.getByRole('dialog');
    await expect.poll(() => dlg.getByRole('alert').textContent(), { timeout: 30_000 }).toContain('cannot be reached');
    await a.keyboard.press('Escape');
    await expect.poll(() => dlg.count()).toBe(0);
    await row(a, 'note.txt').locator('button.name').click();
    await dlg.getByRole('alert').waitFor();
    await dlg.getByRole('button', { name: 'Close' }).click();
    await expect.poll(() => dlg.count()).toBe(0);
    await a.unroute(node);
    expect(logs.filter((l) => l.startsWith('pageerror'))).toEqual([]);

    await upload('empty.txt', '');
    await row(a, 'empty.txt').locator('button.name').click();
    await expect.poll(() => dlg.textContent(), { timeout: 30_000 }).toContain('This file is empty.');
    await a.keyboard.press('Escape');
  });

  test('a folder uploaded again adds versions to its files at every depth', async () => {
    const folder = join(dir, 'photos');
    await mkdir(join(folder, 'inner'), { recursive: true });
    const put = async (v: string) => {
      await writeFile(join(folder, 'one.txt'), `one ${v}\n`);
      await writeFile(join(folder, 'inner', 'two.txt'), `two ${v}\n`);
      await a.locator('#upload-folder').setInputFiles(folder);
    };
    await put('v1');
    await expect.poll(() => a.locator('[data-upload="two.txt"][data-phase="done"]').count(), { timeout: 60_000 }).toBe(1);
    await put('v2');
    await expect.poll(() => a.locator('[data-upload="two.txt"]:is([data-phase="done"], [data-phase="error"])').count(), { timeout: 60_000 }).toBe(2);
    expect(await a.locator('[data-upload][data-phase="error"]').count()).toBe(0);
    await expect.poll(() => a.locator('.row[data-name="photos"]').count()).toBe(1);
    await row(a, 'photos').locator('button.name').click();
    await row(a, 'inner').locator('button.name').click();
    await row(a, 'two.txt').locator('button.name').click();
    await expect.poll(() => a.getByRole('dialog').locator('pre').textContent(), { timeout: 30_000 }).toBe('two v2\n');
    await a.keyboard.press('Escape');
    await home();
    await row(a, 'note.txt').waitFor();
  });

  test('a folder trashed in another tab: the tab showing it goes up and says why', async () => {
    const other = await newContext(browser);
    const b = await other.newPage();
    watchConsole(b, logs);
    await login(b, server.url, EMAIL, PASS);
    const mkdir = async (page: Page, name: string) => {
      await page.getByRole('button', { name: 'New folder' }).click();
      await page.getByLabel('Name').fill(name);
      await page.getByRole('button', { name: 'Create' }).click();
      await row(page, name).waitFor();
    };
    await mkdir(a, 'deep');
    await row(a, 'deep').locator('button.name').click();
    await mkdir(a, 'inner');
    await row(a, 'inner').locator('button.name').click();
    await expect.poll(() => a.getByTestId('status').textContent()).toBe('inner: 0 items.');
    await rowAction(b, 'deep', 'Move to trash');
    await expect.poll(() => a.getByTestId('status').textContent(), { timeout: 30_000 }).toBe('“deep” was moved to the trash in another window.');
    expect(await a.locator('.crumbs [aria-current="page"]').textContent()).toBe('My files');
    await mkdir(a, 'fresh');
    expect(await a.getByTestId('alert').textContent()).toBe('');
    await other.close();
  });

  test('a file whose upload never finished is listed as unfinished and not downloaded', async () => {
    const commit = (u: URL) => /^\/api\/nodes\/[^/]+\/versions$/.test(u.pathname);
    const held: Route[] = [];
    await a.route(commit, (route) => (route.request().method() === 'POST' ? void held.push(route) : route.fallback()));
    await writeFile(join(dir, 'half.txt'), 'half\n');
    await a.locator('#upload-files').setInputFiles(join(dir, 'half.txt'));
    const size = row(a, 'half.txt').locator('.meta').first();
    await expect.poll(() => size.textContent(), { timeout: 30_000 }).toBe('Unfinished');
    expect(await row(a, 'half.txt').locator('button.name').getAttribute('aria-label')).toBe('half.txt, file, upload not finished');
    await row(a, 'half.txt').locator('button.name').click();
    await expect.poll(() => a.getByTestId('alert').textContent()).toContain('did not finish; upload the file again');
    expect(await a.getByRole('dialog').count()).toBe(0);
    for (const r of held) await r.continue();
    await a.unroute(commit);
    await expect.poll(() => size.textContent(), { timeout: 30_000 }).toBe('5 B');
  });

  const share = async (name: string, opts: { limit?: string; password?: string } = {}) => {
    await rowAction(a, name, 'Share');
    const dlg = a.getByRole('dialog');
    if (opts.limit) await dlg.getByLabel('Limit opens (optional)').fill(opts.limit);
    if (opts.password) {
      await dlg.getByLabel('Password (optional)').fill(opts.password);
      await dlg.getByLabel('Repeat password').fill(opts.password);
    }
    await dlg.getByRole('button', { name: 'Create link' }).click();
    const url = await dlg.getByLabel('Link').inputValue({ timeout: 60_000 });
    await dlg.getByRole('button', { name: 'Done' }).click();
    return url;
  };
  const recipient = async () => (await newContext(browser)).newPage();

  test('the links list says when a link no longer opens: limit reached, item in trash', async () => {
    const once = await share('note.txt', { limit: '1' });
    const r = await recipient();
    await r.goto(once);
    await expect.poll(() => r.getByTestId('shared-name').textContent(), { timeout: 60_000 }).toBe('note.txt');
    await r.context().close();
    const trashed = await share('empty.txt');
    await rowAction(a, 'empty.txt', 'Move to trash');
    await a.getByRole('button', { name: 'Shared links' }).click();
    const state = (url: string) => a.locator(`tr[data-link="${new URL(url).pathname.split('/')[2]}"] td`).nth(3);
    await expect.poll(() => state(once).textContent(), { timeout: 30_000 }).toBe('Limit reached');
    expect(await state(trashed).textContent()).toBe('Item in trash');
    await a.getByRole('button', { name: 'Files', exact: true }).click();
    await row(a, 'note.txt').waitFor();
  });

  test('receive page: rate limited, the form waits and takes another try; a reload of the tab still opens the link', async () => {
    const url = await share('note.txt', { password: 'tea for two' });
    const r = await recipient();
    await r.goto(url);
    const open = (u: URL) => u.pathname.endsWith('/open');
    await r.route(open, (route) => route.fulfill({ status: 429, headers: { 'Retry-After': '2', 'Content-Type': 'application/json' }, body: '{"code":"RATE_LIMITED","message":"slow down"}' }));
    await r.getByLabel('This link needs a password').fill('tea for two');
    await r.getByRole('button', { name: 'Open' }).click();
    await expect.poll(() => r.getByTestId('alert').textContent(), { timeout: 30_000 }).toContain('Too many attempts');
    expect(await r.getByRole('button', { name: /^Try again in \d s$/ }).isDisabled()).toBe(true);
    await r.unroute(open);
    await r.getByRole('button', { name: 'Open' }).click({ timeout: 10_000 }); // enabled again after the wait
    await expect.poll(() => r.getByTestId('shared-name').textContent(), { timeout: 60_000 }).toBe('note.txt');

    expect(r.url()).not.toContain('#');
    await r.reload();
    await r.getByLabel('This link needs a password').fill('tea for two');
    await r.getByRole('button', { name: 'Open' }).click();
    await expect.poll(() => r.getByTestId('shared-name').textContent(), { timeout: 60_000 }).toBe('note.txt');
    const [dl] = await Promise.all([r.waitForEvent('download'), r.getByRole('button', { name: 'Download' }).click()]);
    expect(await dl.failure()).toBeNull();
    await expect.poll(() => r.evaluate(() => sessionStorage.length)).toBe(0); // downloaded: the key is gone
    await r.context().close();
  });

  test('keyboard: Tab stays in a dialog, focus returns to its opener; Escape on the menu; Backspace and Alt+ArrowUp go up', async () => {
    const focused = () => a.evaluate(() => document.activeElement?.getAttribute('aria-label') ?? document.activeElement?.textContent ?? '');
    await a.getByRole('button', { name: 'New folder' }).click();
    const inDialog = () => a.evaluate(() => !!document.activeElement?.closest('[role="dialog"]'));
    for (let i = 0; i < 4; i++) { await a.keyboard.press('Tab'); expect(await inDialog()).toBe(true); }
    await a.keyboard.press('Shift+Tab');
    expect(await inDialog()).toBe(true);
    await a.keyboard.press('Escape');
    expect(await focused()).toBe('New folder');

    await a.getByRole('button', { name: 'Actions for note.txt', exact: true }).click();
    await expect.poll(focused).toBe('Preview'); // the menu's first item
    await a.keyboard.press('Escape');
    expect(await focused()).toBe('Actions for note.txt');
    await rowAction(a, 'note.txt', 'Rename');
    await a.keyboard.press('Escape');
    expect(await focused()).toBe('Actions for note.txt');

    await row(a, 'photos').locator('button.name').focus();
    await a.keyboard.press('Enter');
    await row(a, 'inner').locator('button.name').focus();
    await a.keyboard.press('Backspace');
    await expect.poll(() => a.locator('.crumbs [aria-current="page"]').textContent()).toBe('My files');
    await expect.poll(focused).toBe('photos, folder');
    await a.keyboard.press('Enter');
    await row(a, 'inner').locator('button.name').focus();
    await a.keyboard.press('Alt+ArrowUp');
    await expect.poll(focused).toBe('photos, folder');
  });

  test('at 360 px the versions table scrolls inside its dialog and the links table keeps its columns apart', async () => {
    const phone = await newContext(browser, { width: 360 });
    const p = await phone.newPage();
    await login(p, server.url, EMAIL, PASS);
    await rowAction(p, 'note.txt', 'Versions');
    const dlg = p.getByRole('dialog');
    await dlg.locator('tr[data-version]').first().waitFor();
    expect(await dlg.evaluate((d) => d.scrollWidth <= d.clientWidth)).toBe(true);
    await p.keyboard.press('Escape');
    await p.getByRole('button', { name: 'Shared links' }).click();
    const heads = await p.locator('table[aria-label="Shared links"] th').evaluateAll((ths) => ths.map((t) => t.getBoundingClientRect()));
    for (let i = 1; i < heads.length; i++) expect(heads[i]!.left - heads[i - 1]!.right).toBeGreaterThanOrEqual(8);
    await phone.close();
  });
  const newFolder = async (name: string) => {
    await a.getByRole('button', { name: 'New folder' }).click();
    await a.getByLabel('Name', { exact: true }).fill(name);
    await a.getByRole('button', { name: 'Create', exact: true }).click();
    await row(a, name).waitFor();
  };
  const syncText = () => a.getByTestId('sync-status').textContent();

  test('a catch-up that fails after a reconnect is tried again until it succeeds; the status speaks states, not counts', async () => {
    await home();
    await newFolder('missed');
    const id = await row(a, 'missed').getAttribute('data-id');
    await expect.poll(syncText, { timeout: 30_000 }).toBe('Synced');
    // What the live region says (each change of its text is spoken) and what the indicator shows.
    await a.evaluate(() => {
      const box = document.querySelector('[data-testid="sync-status"]')!;
      const live = box.matches('[role="status"]') ? box : box.querySelector('[role="status"]')!;
      const w = window as unknown as { spoken: string[]; shown: string[] };
      w.spoken = [];
      w.shown = [];
      const opts = { childList: true, characterData: true, subtree: true };
      new MutationObserver(() => w.spoken.push(live.textContent ?? '')).observe(live, opts);
      new MutationObserver(() => w.shown.push(box.textContent ?? '')).observe(box, opts);
    });

    // The feed fails; the socket drops, and the change made meanwhile is only in the feed.
    let failed = 0;
    const feed = (u: URL) => u.pathname === '/api/changes';
    await a.route(feed, (route) => {
      failed++;
      return route.fulfill({ status: 503, contentType: 'application/json', body: '{"code":"UNAVAILABLE","message":"down for a moment"}' });
    });
    sockets[sockets.length - 1]!.close();
    await expect.poll(syncText, { timeout: 10_000 }).toBe('Offline — reconnecting');
    await a.evaluate(async (nodeId) => {
      const { csrfToken } = (await (await fetch('/api/account')).json()) as { csrfToken: string };
      const res = await fetch(`/api/nodes/${nodeId}/trash`, { method: 'POST', headers: { 'X-CSRF-Token': csrfToken } });
      if (!res.ok) throw new Error(`trash: ${res.status}`);
    }, id);

    // Reconnected, the catch-up fails: it says so, and tries again by itself.
    await expect.poll(syncText, { timeout: 30_000 }).toBe('Sync paused — retrying');
    const before = failed;
    await expect.poll(() => failed, { timeout: 10_000 }).toBeGreaterThan(before);
    expect(await row(a, 'missed').count()).toBe(1);
    await a.unroute(feed);
    await expect.poll(syncText, { timeout: 30_000 }).toBe('Synced');
    await expect.poll(() => row(a, 'missed').count()).toBe(0);

    const { spoken, shown } = await a.evaluate(() => { const w = window as unknown as { spoken: string[]; shown: string[] }; return { spoken: w.spoken, shown: w.shown }; });
    expect(shown.some((t) => /^Syncing \d+…$/.test(t))).toBe(true); // the count is shown...
    expect(spoken.filter((t) => /\d/.test(t))).toEqual([]); // ...but not spoken
    expect(spoken.filter((t, i) => t === spoken[i - 1])).toEqual([]); // each change a new state
    expect(spoken).toContain('Sync paused — retrying');
    expect(spoken[spoken.length - 1]).toBe('Synced');
  });

  test('files picked or dropped while a folder opens slowly go to that folder, which the path already shows', async () => {
    await home();
    await newFolder('slow');
    await row(a, 'slow').locator('button.name').click();
    await upload('again.txt', 'one\n');
    await home();
    const id = await row(a, 'slow').getAttribute('data-id');

    // The folder's next listing is held until the uploads are done: it opens slowly.
    const held: Route[] = [];
    const children = (u: URL) => u.pathname === `/api/nodes/${id}/children`;
    await a.route(children, (route) => (held.length === 0 ? void held.push(route) : route.continue()));
    await row(a, 'slow').locator('button.name').click();
    await expect.poll(() => held.length).toBe(1);
    expect(await a.locator('.crumbs [aria-current="page"]').textContent()).toBe('slow');
    expect(await row(a, 'note.txt').count()).toBe(0);

    await writeFile(join(dir, 'again.txt'), 'second\n');
    await a.locator('#upload-files').setInputFiles(join(dir, 'again.txt'));
    await a.evaluate(() => {
      const dt = new DataTransfer();
      dt.items.add(new File(['dropped\n'], 'dropped-in.txt', { type: 'text/plain' }));
      const target = document.querySelector('[data-testid="vault"]')!;
      target.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
      target.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    });
    await expect.poll(() => a.locator('[data-upload="again.txt"][data-phase="done"]').count(), { timeout: 60_000 }).toBe(2);
    await a.locator('[data-upload="dropped-in.txt"][data-phase="done"]').waitFor({ timeout: 60_000 });
    await held[0]!.continue();
    await a.unroute(children);

    await expect.poll(() => a.getByTestId('status').textContent(), { timeout: 30_000 }).toBe('slow: 2 items.');
    expect(await row(a, 'again.txt').locator('.meta').first().textContent()).toBe('7 B'); // a new version
    await row(a, 'dropped-in.txt').waitFor();
    expect(await a.locator('[data-upload][data-phase="error"]').count()).toBe(0);
    await home();
    await expect.poll(() => a.getByTestId('status').textContent()).toMatch(/^My files: /);
    expect(await row(a, 'again.txt').count() + await row(a, 'dropped-in.txt').count()).toBe(0);
    expect(logs.filter((l) => l.startsWith('pageerror'))).toEqual([]);
  });

  test('what changes in a folder while it opens is still shown once its listing, answered before, lands', async () => {
    await expect.poll(syncText, { timeout: 30_000 }).toBe('Synced');
    await row(a, 'slow').locator('button.name').click();
    const gone = await row(a, 'dropped-in.txt').getAttribute('data-id');
    await home();
    await expect.poll(() => a.getByTestId('status').textContent()).toMatch(/^My files: /);
    const id = await row(a, 'slow').getAttribute('data-id');

    // The server answers the listing at once; the answer reaches the page only when released.
    const held: { route: Route; answer: Awaited<ReturnType<Route['fetch']>> }[] = [];
    const children = (u: URL) => u.pathname === `/api/nodes/${id}/children`;
    await a.route(children, async (route) => void held.push({ route, answer: await route.fetch() }));
    await row(a, 'slow').locator('button.name').click();
    await expect.poll(() => held.length).toBe(1);

    // Meanwhile another window trashes a file (live sync reports it) and this one makes a folder.
    const caughtUp = a.waitForResponse(async (r) => new URL(r.url()).pathname === '/api/changes' && (await r.text()).includes(gone!));
    await a.evaluate(async (nodeId) => {
      const { csrfToken } = (await (await fetch('/api/account')).json()) as { csrfToken: string };
      const res = await fetch(`/api/nodes/${nodeId}/trash`, { method: 'POST', headers: { 'X-CSRF-Token': csrfToken } });
      if (!res.ok) throw new Error(`trash: ${res.status}`);
    }, gone);
    await caughtUp;
    await expect.poll(syncText, { timeout: 30_000 }).toBe('Synced');
    await newFolder('made-meanwhile');
    await held[0]!.route.fulfill({ response: held[0]!.answer });
    await a.unroute(children);

    await expect.poll(() => a.getByTestId('status').textContent(), { timeout: 30_000 }).toBe('slow: 2 items.');
    expect(await a.locator('.row').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-name')))).toEqual(['made-meanwhile', 'again.txt']);
  });
});
