// Upload control in the tray, in real Chromium against a real server: cancel takes effect at once
// and leaves nothing behind, pause says "Pausing…" until the requests under way end, a committed
// upload stays done whatever fails after the commit, and a lock leaves one resumable entry.
// Chunk batches are held with page.route, never timed, as in resume.test.ts.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page, Route } from 'playwright-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { chromiumPath, NO_CHROMIUM } from '../../tests/support/env';
import type { RunningServer } from '../../tests/support/server';
import { browserSession, row, rowAction, seededBytes } from './support';

const EMAIL = 'control@example.test';
const PASS = 'velvet compass 19 orchard thunder';
const MiB = 1024 * 1024;

interface ServerNode { id: string; kind: string; version: number; trashedAt: string | null }

describe.skipIf(!chromiumPath)(`upload control${chromiumPath ? '' : ` (${NO_CHROMIUM})`}`, () => {
  const session = browserSession({ tmpPrefix: 'coffer-control-test-', signup: { email: EMAIL, pass: PASS } });
  const { logs } = session;
  let server: RunningServer;
  let page: Page;
  let dir: string;
  beforeAll(() => ({ server, page, dir } = session));

  /** GET from the server as the page (the session cookie goes along). */
  const get = <T>(path: string) => page.evaluate(async (p) => (await fetch(p)).json(), path) as Promise<T>;
  const rootChildren = async () => {
    const { rootNodeId } = await get<{ rootNodeId: string }>('/api/account');
    return (await get<{ items: ServerNode[] }>(`/api/nodes/${rootNodeId}/children`)).items;
  };
  const trashed = async () => (await get<{ items: ServerNode[] }>('/api/trash')).items;

  async function localFile(name: string, bytes: Buffer): Promise<string> {
    const file = join(dir, name);
    await writeFile(file, bytes);
    return file;
  }

  /** Chunk batch requests from now on wait here until released (sent on) or failed. */
  async function holdBatches() {
    const held: Route[] = [];
    let holding = true;
    const match = (u: URL) => u.pathname === '/api/chunks/batch';
    const handler = async (route: Route) => {
      if (!holding) return route.fallback();
      held.push(route);
    };
    await page.route(match, handler);
    return {
      held: () => held.length,
      /** Sends the held requests on, and lets later ones through. */
      release: async () => {
        holding = false;
        await Promise.all(held.splice(0).map((r) => r.fallback().catch(() => {}))); // those the page gave up are gone
        await page.unroute(match, handler);
      },
    };
  }

  const task = (name: string) => page.locator(`[data-upload="${name}"]`);
  const phase = (name: string, p: string) => page.locator(`[data-upload="${name}"][data-phase="${p}"]`);

  test('cancel stops at once with requests under way, says so, and a new file leaves nothing behind', async () => {
    const file = await localFile('gone.bin', seededBytes('coffer-control-gone', 24 * MiB + 1));
    const gate = await holdBatches();
    try {
      await page.locator('#upload-files').setInputFiles(file);
      await expect.poll(() => gate.held(), { timeout: 60_000 }).toBeGreaterThan(0);
      await page.getByRole('button', { name: 'Cancel gone.bin' }).click();
      expect(await task('gone.bin').getAttribute('data-phase')).toMatch(/^cancel/);
      expect(await task('gone.bin').textContent()).toMatch(/Cancelling…|Cancelled/);
      // The held requests never end: only aborting them lets the upload stop. (Generous: the
      // worker's thread can be starved on a loaded test machine.)
      await phase('gone.bin', 'cancelled').waitFor({ timeout: 30_000 });
    } finally {
      await gate.release();
    }
    // Its empty node is neither listed nor in the trash: purged.
    expect(await rootChildren()).toHaveLength(0);
    expect(await trashed()).toHaveLength(0);
    await row(page, 'gone.bin').waitFor({ state: 'detached' });
  });

  test('cancelling a new version leaves the existing file as it was', async () => {
    const first = seededBytes('coffer-control-same-1', 3 * MiB + 5);
    const file = await localFile('same.bin', first);
    await page.locator('#upload-files').setInputFiles(file);
    await phase('same.bin', 'done').waitFor({ timeout: 60_000 });
    await row(page, 'same.bin').waitFor();

    await writeFile(file, seededBytes('coffer-control-same-2', 24 * MiB + 7));
    const gate = await holdBatches();
    try {
      await page.locator('#upload-files').setInputFiles(file);
      await expect.poll(() => gate.held(), { timeout: 60_000 }).toBeGreaterThan(0);
      await page.getByRole('button', { name: 'Cancel same.bin' }).click();
      await phase('same.bin', 'cancelled').waitFor({ timeout: 30_000 });
    } finally {
      await gate.release();
    }

    const nodes = await rootChildren();
    expect(nodes.map((n) => [n.kind, n.version, n.trashedAt])).toEqual([['file', 1, null]]);
    expect(await trashed()).toHaveLength(0);
    const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), rowAction(page, 'same.bin', 'Download')]);
    const target = join(dir, 'same-back.bin');
    await dl.saveAs(target);
    expect((await readFile(target)).equals(first)).toBe(true);
    await page.getByRole('button', { name: 'Clear' }).click();
  });

  test('pause says "Pausing…" until the requests under way end; once "Paused", nothing more is sent or counted', async () => {
    const file = await localFile('pause.bin', seededBytes('coffer-control-pause', 24 * MiB + 3));
    const gate = await holdBatches();
    let batches = 0;
    const isBatch = (u: URL) => u.pathname === '/api/chunks/batch';
    const count = (r: Route) => { batches++; return r.fallback(); };
    await page.route(isBatch, count); // runs before the gate's handler (the last added runs first)
    try {
      await page.locator('#upload-files').setInputFiles(file);
      await expect.poll(() => gate.held(), { timeout: 60_000 }).toBeGreaterThan(0);
      // The tray's symbols are drawn, not characters that need a font to have them (Debian's
      // Chromium drew ⏸ as a missing-glyph box).
      for (const [name, glyph] of [['Pause pause.bin', 'pause'], ['Cancel pause.bin', 'close'], ['Hide uploads', 'collapse']]) {
        const button = page.getByRole('button', { name, exact: true });
        expect(await button.textContent()).toBe('');
        expect(await button.locator(`svg[data-glyph="${glyph}"]`).count()).toBe(1);
      }
      await page.getByRole('button', { name: 'Pause pause.bin' }).click();
      // Requests are under way (held): not paused yet, and the tray says so.
      expect(await task('pause.bin').getAttribute('data-phase')).toBe('pausing');
      expect(await task('pause.bin').textContent()).toContain('Pausing…');
    } finally {
      await gate.release(); // the requests under way end
    }
    await phase('pause.bin', 'paused').waitFor({ timeout: 30_000 });
    const sent = batches;
    const shown = await task('pause.bin').locator('progress').getAttribute('value');
    await page.waitForTimeout(1500); // nothing to wait for: nothing may happen
    expect(batches).toBe(sent);
    expect(await task('pause.bin').locator('progress').getAttribute('value')).toBe(shown);

    await page.getByRole('button', { name: 'Resume pause.bin' }).click();
    await phase('pause.bin', 'done').waitFor({ timeout: 60_000 });
    await page.unroute(isBatch, count);
    expect(batches).toBeGreaterThan(sent);
    await page.getByRole('button', { name: 'Clear' }).click();
  });

  test('a committed upload is done, even when what follows the commit fails', async () => {
    const file = await localFile('note.txt', Buffer.from('note\n'));
    // After the commit the worker reads the node back: that read fails as if the server had gone.
    const node = (u: URL) => /^\/api\/nodes\/[0-9a-f]+$/.test(u.pathname);
    const fail = (r: Route) => (r.request().method() === 'GET' ? r.abort('connectionrefused') : r.fallback());
    await page.route(node, fail);
    try {
      await page.locator('#upload-files').setInputFiles(file);
      await expect.poll(() => task('note.txt').getAttribute('data-phase'), { timeout: 30_000 }).toMatch(/^(done|error)$/);
      expect(await task('note.txt').textContent()).not.toContain('Failed');
      expect(await task('note.txt').getAttribute('data-phase')).toBe('done');
    } finally {
      await page.unroute(node, fail);
    }
    await row(page, 'note.txt').waitFor();
    await page.getByRole('button', { name: 'Clear' }).click();
  });

  test('a lock mid-upload leaves one resumable entry, and resuming it leaves none', async () => {
    const bytes = seededBytes('coffer-control-lock', 24 * MiB + 9);
    const file = await localFile('lock.bin', bytes);
    const gate = await holdBatches();
    try {
      await page.locator('#upload-files').setInputFiles(file);
      await expect.poll(() => gate.held(), { timeout: 60_000 }).toBeGreaterThan(0);
      await page.getByRole('button', { name: 'Lock', exact: true }).click();
    } finally {
      await gate.release(); // their worker is gone: nothing is sent on
    }
    await page.getByLabel('Passphrase').fill(PASS);
    await page.getByRole('button', { name: 'Unlock' }).click();
    await page.getByTestId('vault').waitFor({ timeout: 60_000 });
    await row(page, 'lock.bin').waitFor(); // its node, listed: the vault has loaded
    await expect.poll(() => task('lock.bin').count()).toBe(1);
    expect(await task('lock.bin').textContent()).not.toContain('Failed');

    await page.getByRole('button', { name: 'Resume lock.bin' }).click();
    await phase('lock.bin', 'done').waitFor({ timeout: 90_000 });
    expect(await task('lock.bin').count()).toBe(1);
    expect(await page.locator('[data-interrupted="lock.bin"]').count()).toBe(0);
    expect(await rootChildren()).toHaveLength(4); // same.bin, pause.bin, note.txt, lock.bin
    const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), rowAction(page, 'lock.bin', 'Download')]);
    const target = join(dir, 'lock-back.bin');
    await dl.saveAs(target);
    expect((await readFile(target)).equals(bytes)).toBe(true);
  });

  // Cancel no longer leaves anything in the trash to delete: the trash's "Delete forever", which
  // vault.test.ts used to reach that way, is checked here.
  test('a file moved to the trash and deleted forever is gone', async () => {
    await rowAction(page, 'note.txt', 'Move to trash');
    await row(page, 'note.txt').waitFor({ state: 'detached' });
    await page.getByRole('button', { name: 'Trash', exact: true }).click();
    await page.getByRole('button', { name: 'Restore note.txt' }).waitFor();
    page.once('dialog', (d) => void d.accept());
    await page.getByRole('button', { name: 'Delete note.txt forever' }).click();
    await page.getByRole('button', { name: 'Restore note.txt' }).waitFor({ state: 'detached' });
    expect(await trashed()).toHaveLength(0);
    await page.getByRole('button', { name: 'Files', exact: true }).click();
    await row(page, 'lock.bin').waitFor();
  });

  test('nothing secret reached the console or the server log', () => {
    expect(logs.join('\n') + server.output()).not.toContain(PASS);
  });
});
