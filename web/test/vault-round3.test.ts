// The third audit: live sync answered late must not undo what this tab did meanwhile, the list
// keeps its order as entries change without sorting everything again, and the versions panel says
// so when a folder above its file is moved to the trash.
import { utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { chromiumPath, NO_CHROMIUM } from '../../tests/support/env';
import { browserSession, row, rowAction } from './support';

const EMAIL = 'round3@example.test';
const PASS = 'amber falcon 62 whispering tundra';

describe.skipIf(!chromiumPath)(`web vault, third audit${chromiumPath ? '' : ` (${NO_CHROMIUM})`}`, () => {
  const session = browserSession({ tmpPrefix: 'coffer-web-round3-', signup: { email: EMAIL, pass: PASS } });
  const { logs } = session;
  let a: Page;
  let dir: string;
  beforeAll(() => ({ page: a, dir } = session));

  const crumbs = () => a.getByRole('navigation', { name: 'Folder path' });
  // Each test starts from the top folder with nothing open.
  beforeEach(async () => {
    if (!a) return;
    for (let i = 0; i < 2 && (await a.getByRole('dialog').count()); i++) await a.keyboard.press('Escape');
    await crumbs().getByRole('button', { name: 'My files' }).click();
    await expect.poll(() => a.getByTestId('status').textContent()).toMatch(/^My files: /);
  });

  /** Uploads files (name → content, and a modification time if given) into the folder shown. */
  const upload = async (files: [name: string, text: string, mtime?: number][]) => {
    const done = a.locator('[data-upload][data-phase="done"]');
    const before = await done.count();
    const paths = await Promise.all(files.map(async ([name, text, mtime]) => {
      const file = join(dir, name);
      await writeFile(file, text);
      if (mtime !== undefined) await utimes(file, mtime / 1000, mtime / 1000);
      return file;
    }));
    await a.locator('#upload-files').setInputFiles(paths);
    await expect.poll(() => done.count(), { timeout: 60_000 }).toBe(before + files.length);
  };
  const newFolder = async (name: string) => {
    await a.getByRole('button', { name: 'New folder' }).click();
    await a.getByRole('textbox', { name: 'Name' }).fill(name);
    await a.getByRole('button', { name: 'Create', exact: true }).click();
    await expect.poll(() => a.getByTestId('status').textContent()).toBe(`Created “${name}”.`);
  };
  const open = async (name: string) => {
    await row(a, name).locator('button.name').click();
    await expect.poll(() => a.getByTestId('status').textContent()).toMatch(new RegExp(`^${name}: \\d+ items?\\.$`));
  };
  const rename = async (from: string, to: string) => {
    await rowAction(a, from, 'Rename');
    await a.getByRole('textbox', { name: 'Name' }).fill(to);
    await a.getByRole('button', { name: 'Rename', exact: true }).click();
    await expect.poll(() => a.getByTestId('status').textContent()).toBe(`Renamed to “${to}”.`);
  };
  /**
   * The names in the list, top to bottom: scrolled to the top, where a short list has a row for each
   * (the list makes rows only near what is in view). No Array sort: one test counts the page's.
   */
  const shown = () => a.locator('.scroll').evaluate((scroller) => {
    scroller.scrollTop = 0;
    scroller.dispatchEvent(new Event('scroll'));
    const out: string[] = [];
    for (const r of scroller.querySelectorAll<HTMLElement>('.row')) out[Number(r.dataset.index)] = r.dataset.name!;
    return out;
  });
  /** A plain API call from the page, as another tab of the same session would make it. */
  const call = (method: string, path: string) => a.evaluate(async ([m, p]) => {
    const { csrfToken } = await (await fetch('/api/account')).json() as { csrfToken: string };
    const res = await fetch(p!, { method: m, headers: { 'X-CSRF-Token': csrfToken } });
    if (!res.ok) throw new Error(`${m} ${p}: ${res.status}`);
  }, [method, path]);

  test('live sync: a fetch answered after this tab trashed the item does not bring it back', async () => {
    await upload([['stale.txt', 'stale\n']]);
    const id = (await row(a, 'stale.txt').getAttribute('data-id'))!;
    const node = (u: URL) => u.pathname === `/api/nodes/${id}`;
    const changes = (u: URL) => u.pathname === '/api/changes';
    // The rename's report makes live sync fetch the item: the server answers that fetch (the
    // renamed item, live) before the trash below, and the answer is held until the trash is shown.
    let renamed = false;
    let held = 0;
    let fetched!: () => void;
    const served = new Promise<void>((r) => { fetched = r; });
    let released = false;
    let letGo!: () => void;
    const gate = new Promise<void>((r) => { letGo = r; });
    const release = () => { released = true; letGo(); };
    await a.route(node, async (route) => {
      const method = route.request().method();
      if (method === 'PATCH') renamed = true;
      if (method !== 'GET' || !renamed || held++ > 0) return route.fallback();
      const answer = await route.fetch();
      fetched();
      await gate;
      await route.fulfill({ response: answer });
    });
    // Live sync asks for the next changes once the view has taken the held answer: what the list
    // shows then is what that answer left.
    let after: number | null = null;
    await a.route(changes, async (route) => {
      if (released && after === null) after = await a.locator(`.row[data-id="${id}"]`).count();
      await route.fallback();
    });
    try {
      await rename('stale.txt', 'stale2.txt');
      await served;
      await rowAction(a, 'stale2.txt', 'Move to trash');
      await expect.poll(() => a.getByTestId('status').textContent()).toBe('Moved “stale2.txt” to the trash.');
      expect(await row(a, 'stale2.txt').count()).toBe(0);
      release();
      await expect.poll(() => after, { timeout: 30_000 }).not.toBeNull();
      expect(after).toBe(0);
      expect(held).toBeGreaterThanOrEqual(1);
      expect(await row(a, 'stale2.txt').count()).toBe(0);
    } finally {
      release();
      await a.unroute(node);
      await a.unroute(changes);
    }
  });

  test('the list keeps its order under each sort as entries arrive, change and leave, without sorting it all again', async () => {
    await newFolder('order');
    await open('order');
    const t0 = Date.UTC(2024, 0, 1);
    // Sizes, times and names each in a different order.
    await upload([
      ['kiwi.txt', 'k'.repeat(30), t0 + 5e6], ['apple.txt', 'a'.repeat(70), t0 + 2e6], ['mango.txt', 'm'.repeat(10), t0 + 9e6],
      ['fig.txt', 'f'.repeat(50), t0 + 1e6], ['pear.txt', 'p'.repeat(90), t0 + 7e6], ['date 10.txt', 'd'.repeat(20), t0 + 3e6],
      ['date 9.txt', 'd'.repeat(60), t0 + 8e6], ['lime.txt', 'l'.repeat(40), t0 + 4e6],
    ]);
    await newFolder('zest');
    await newFolder('bins');
    // Counts the page's sorts of entries, nearly as many as the folder holds: only a change of sort
    // order, or listing the folder, may make one.
    await a.evaluate(() => {
      const w = window as unknown as { bigSorts: number; sort: typeof Array.prototype.sort };
      const sort = (w.sort = Array.prototype.sort);
      w.bigSorts = 0;
      Array.prototype.sort = function <T>(this: T[], cmp?: (x: T, y: T) => number) {
        const first = this[0] as { parentId?: unknown } | undefined;
        if (this.length >= 8 && typeof first === 'object' && first !== null && 'parentId' in first) w.bigSorts++;
        return sort.call(this, cmp) as T[];
      };
    });
    const bigSorts = () => a.evaluate(() => (window as unknown as { bigSorts: number }).bigSorts);
    const header = (label: string) => a.locator('.list .head [role="columnheader"]').filter({ hasText: label });
    /** A key's header, clicked until the list is sorted by it in that direction (a second click turns it round). */
    const sortBy = async (label: string, sort: string) => {
      for (let i = 0; i < 2 && (await header(label).getAttribute('aria-sort')) !== sort; i++) await header(label).getByRole('button').click();
      expect(await header(label).getAttribute('aria-sort')).toBe(sort);
    };
    const orders: [label: string, sort: 'ascending' | 'descending'][] = [
      ['Name', 'ascending'], ['Name', 'descending'], ['Size', 'ascending'], ['Size', 'descending'], ['Modified', 'ascending'], ['Modified', 'descending'],
    ];
    for (const [i, [label, sort]] of orders.entries()) {
      await sortBy(label, sort);
      await a.evaluate(() => { (window as unknown as { bigSorts: number }).bigSorts = 0; });
      // A new version (new size and time) moves a file; a new file comes in, and a new folder or a
      // renamed file; a file moved to the trash leaves.
      const size = [5, 95, 35, 65, 15, 85][i]!;
      await upload([['kiwi.txt', 'k'.repeat(size), t0 + size * 1e5], [`new ${i}.txt`, 'n'.repeat(100 - size), t0 + (100 - size) * 1e5]]);
      await expect.poll(() => row(a, 'kiwi.txt').locator('.meta').first().textContent()).toBe(`${size} B`);
      if (i % 2 === 0) await newFolder(`dir ${i}`);
      else if (i % 4 === 1) await rename('fig.txt', 'b fig.txt');
      else await rename('b fig.txt', 'fig.txt');
      await rowAction(a, `new ${i}.txt`, 'Move to trash');
      await expect.poll(() => row(a, `new ${i}.txt`).count()).toBe(0);
      const live = await shown();
      const setSize = Number(await a.locator('.scroll .row').first().getAttribute('aria-setsize'));
      expect(live.filter((n) => n !== undefined)).toHaveLength(setSize); // a row for each
      expect(await bigSorts(), `${label} ${sort}`).toBe(0);
      // Listed afresh (every batch sorted whole), the folder must come in the same order.
      await crumbs().getByRole('button', { name: 'order' }).click();
      await expect.poll(() => a.getByTestId('status').textContent()).toBe(`order: ${live.length} items.`);
      expect(await shown(), `${label} ${sort}`).toEqual(live);
    }
    await sortBy('Name', 'ascending');
    await a.evaluate(() => { Array.prototype.sort = (window as unknown as { sort: typeof Array.prototype.sort }).sort; });
    expect(logs.filter((l) => l.startsWith('pageerror'))).toEqual([]);
  });

  test('versions: a folder above the file moved to the trash elsewhere is said so, and its restore brings the table back', async () => {
    await newFolder('box');
    const box = (await row(a, 'box').getAttribute('data-id'))!;
    await open('box');
    await newFolder('inner');
    await open('inner');
    await upload([['deep.txt', 'deep\n']]);
    await rowAction(a, 'deep.txt', 'Versions');
    const dlg = a.getByRole('dialog');
    await dlg.locator('tr[data-version="1"]').waitFor({ timeout: 30_000 });
    const said = dlg.getByTestId('versions-gone');
    expect(await said.textContent()).toBe('');

    await call('POST', `/api/nodes/${box}/trash`);
    await expect.poll(() => said.textContent(), { timeout: 30_000 })
      .toBe('“deep.txt” is in “box”, which was moved to the trash. Restore “box” from the trash to see or restore the file\'s versions.');
    expect(await dlg.locator('tr[data-version]').count()).toBe(0);

    await call('POST', `/api/nodes/${box}/restore`);
    await expect.poll(() => said.textContent(), { timeout: 30_000 }).toBe('');
    await dlg.locator('tr[data-version="1"]').waitFor({ timeout: 30_000 });
    await a.keyboard.press('Escape');
    expect(logs.filter((l) => l.startsWith('pageerror'))).toEqual([]);
  });
});
