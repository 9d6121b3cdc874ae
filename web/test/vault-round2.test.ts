// The second audit: the strength meter against guessable phrases, the versions panel with the
// keyboard (and its sizes, and following the file live), the share dialog's repeated password,
// restoring from the trash a name that was taken meanwhile, what the receive page says of a link
// whose item is in the trash, and the version and link tables at phone width.
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { promisify } from 'node:util';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { chromiumPath, NO_CHROMIUM } from '../../tests/support/env';
import { REPO_ROOT, type RunningServer } from '../../tests/support/server';
import { passphraseBits } from '../src/ui/format';
import { browserSession, login, newContext, row, rowAction } from './support';

const execFileAsync = promisify(execFile);
const EMAIL = 'round2@example.test';
const PASS = 'cobalt juniper 31 drifting saffron';

describe('passphrase strength estimate', () => {
  test('common words, word pairs and dressed-up passwords stay under the 40 bits sign-up asks for', () => {
    for (const weak of ['correct horse', 'correct horse battery staple', 'Correct-Horse-Battery', 'correcthorse',
      'password', 'P@ssw0rd!', 'Password123', 'qwertyuiop', '12345678', 'aaaaaaaaaaaaaaaa', 'hello hello hello hello', 'dragon 2024']) {
      expect(passphraseBits(weak), weak).toBeLessThan(40);
    }
  });

  test('several uncommon words, or random characters, are rated strong enough', () => {
    for (const ok of [PASS, 'orbit lantern quiet meadow 7 violin', 'seven lanterns over a quiet harbour',
      'velvet compass 19 orchard thunder', 'copper window falls 9 under moss', 'Xk9#mP2$vLq7', 'zmtbqkwp rvnxlcsd']) {
      expect(passphraseBits(ok), ok).toBeGreaterThanOrEqual(40);
    }
  });
});

describe.skipIf(!chromiumPath)(`web vault, second audit${chromiumPath ? '' : ` (${NO_CHROMIUM})`}`, () => {
  const session = browserSession({ tmpPrefix: 'coffer-web-round2-', signup: { email: EMAIL, pass: PASS } });
  const { logs } = session;
  let server: RunningServer;
  let browser: Browser;
  let a: Page;
  let t: Page;
  let dir: string;

  beforeAll(async () => {
    ({ server, browser, page: a, dir } = session);
    // A second tab of the same browser, to watch changes arrive live.
    t = await session.ctx.newPage();
    await t.goto(server.url + '/');
    await t.getByLabel('Passphrase').fill(PASS);
    await t.getByRole('button', { name: 'Unlock' }).click();
    await t.getByTestId('vault').waitFor({ timeout: 60_000 });
  });

  // Each test starts from the top folder with nothing open, so that one failing leaves the next
  // to fail only for its own reason.
  beforeEach(async () => {
    if (!a) return;
    // Pages of one browser share its window: the one not in front draws about one frame a second,
    // and every click there waited seconds for the element to be "stable".
    await a.bringToFront();
    for (let i = 0; i < 2 && (await a.getByRole('dialog').count()); i++) await a.keyboard.press('Escape');
    await a.getByRole('button', { name: 'Files', exact: true }).click();
    await a.getByRole('navigation', { name: 'Folder path' }).getByRole('button', { name: 'My files' }).click();
  });

  const upload = async (name: string, text: string) => {
    const done = a.locator(`[data-upload="${name}"][data-phase="done"]`);
    const before = await done.count();
    await writeFile(join(dir, name), text);
    await a.locator('#upload-files').setInputFiles(join(dir, name));
    await expect.poll(() => done.count(), { timeout: 60_000 }).toBe(before + 1);
  };
  const focused = (p: Page) => p.evaluate(() => document.activeElement?.getAttribute('aria-label') ?? document.activeElement?.tagName ?? '');
  const newFolder = async (name: string) => {
    await a.getByRole('button', { name: 'New folder' }).click();
    await a.getByRole('textbox', { name: 'Name' }).fill(name);
    await a.getByRole('button', { name: 'Create', exact: true }).click();
    await row(a, name).waitFor();
  };

  test('the sign-up form calls "correct horse" weak and refuses it', async () => {
    const p = await (await newContext(browser)).newPage();
    await p.goto(server.url + '/');
    await p.getByRole('button', { name: 'Create an account' }).click();
    await p.getByLabel('E-mail').fill('weak@example.test');
    await p.getByLabel('Passphrase', { exact: true }).fill('correct horse');
    expect(await p.locator('#su-strength').textContent()).toMatch(/^Strength: Weak/);
    await p.getByLabel('Repeat passphrase').fill('correct horse');
    await p.getByRole('button', { name: 'Create account' }).click();
    await expect.poll(() => p.getByRole('alert').textContent()).toContain('Choose a stronger passphrase');
    await p.context().close();
  });

  test('the theme button cycles system, dark, light, drawing each as a symbol that needs no font', async () => {
    const seen: [string | null, string | null, string | null][] = [];
    for (let i = 0; i < 3; i++) {
      const button = a.getByRole('button', { name: /^Theme: / });
      expect(await button.textContent()).toBe(''); // 🌙 was a missing-glyph box in Debian's Chromium
      seen.push([await button.getAttribute('aria-label'), await button.locator('svg').getAttribute('data-glyph'),
        await a.evaluate(() => document.documentElement.getAttribute('data-theme'))]);
      await button.click();
    }
    expect(seen).toEqual([
      ['Theme: system. Change theme', 'system', null],
      ['Theme: dark. Change theme', 'moon', 'dark'],
      ['Theme: light. Change theme', 'sun', 'light'],
    ]);
    expect(await a.evaluate(() => document.documentElement.getAttribute('data-theme'))).toBe(null); // back to the system's
  });

  test('the header shows the storage used and the quota, read again when an upload ends', async () => {
    const usage = a.getByTestId('usage');
    const text = () => usage.locator('.usage-long').textContent();
    const before = (await text())!;
    expect(before).toMatch(/^[\d.]+ (B|KiB|MiB) of 10(\.0)? GiB used$/);
    await upload('usage.txt', 'usage '.repeat(100_000)); // 600 kB of its own: no chunk to share
    await expect.poll(text, { timeout: 10_000 }).not.toBe(before);
    expect(await usage.locator('meter').getAttribute('value')).toMatch(/^\d+$/);
    expect(Number(await usage.locator('meter').getAttribute('value'))).toBeGreaterThan(600_000);
  });

  test('a file uploaded again with the same bytes makes no new version, and the tray and status say so', async () => {
    await upload('same.txt', 'the same bytes\n');
    await upload('same.txt', 'the same bytes\n');
    await expect.poll(() => a.getByTestId('status').textContent()).toBe('“same.txt” is unchanged: no new version.');
    expect(await a.locator('[data-upload="same.txt"][data-phase="done"]').last().textContent()).toContain('unchanged, no new version');
    await rowAction(a, 'same.txt', 'Versions');
    const dlg = a.getByRole('dialog');
    await dlg.locator('tr[data-version="1"]').waitFor({ timeout: 30_000 });
    expect(await dlg.locator('tr[data-version]').count()).toBe(1);
    await a.keyboard.press('Escape');
  });

  test('versions: a restore by keyboard keeps focus in the table, closing returns it to the row; the other tab and a download get the old content', async () => {
    await upload('notes.txt', 'one\n');
    await upload('notes.txt', 'two two\n');
    await expect.poll(() => row(t, 'notes.txt').locator('.meta').first().textContent(), { timeout: 30_000 }).toBe('8 B');

    await rowAction(a, 'notes.txt', 'Versions');
    const dlg = a.getByRole('dialog');
    await dlg.locator('tr[data-version="1"]').waitFor({ timeout: 30_000 });
    await dlg.getByRole('button', { name: 'Restore version 1' }).focus();
    await a.keyboard.press('Enter');
    await dlg.locator('tr[data-version="3"]').waitFor({ timeout: 30_000 });
    await expect.poll(() => a.getByTestId('status').textContent()).toBe('Restored version 1 as version 3.');
    await expect.poll(() => focused(a)).toBe('Restore version 1');
    // Each version's own size, as the file list shows the current one: not the padded stored size.
    const sizes = () => dlg.locator('tr[data-version]').evaluateAll((rows) => rows.map((r) => r.querySelectorAll('td')[3]?.textContent));
    expect(await sizes()).toEqual(['4 B', '8 B', '4 B']);
    // Each version names the device that made it: this browser registered itself when the vault
    // opened (restores included), by a name taken from its user agent.
    const devices = () => dlg.locator('tr[data-version]').evaluateAll((rows) => rows.map((r) => r.querySelectorAll('td')[2]?.textContent));
    const thisBrowser = /^Web vault · (Chrome|Chromium) on \S+$/;
    expect(await devices()).toEqual([expect.stringMatching(thisBrowser), expect.stringMatching(thisBrowser), expect.stringMatching(thisBrowser)]);
    await a.keyboard.press('Escape');
    await expect.poll(() => dlg.count()).toBe(0);
    await expect.poll(() => focused(a)).toBe('Actions for notes.txt');

    await expect.poll(() => row(t, 'notes.txt').locator('.meta').first().textContent(), { timeout: 30_000 }).toBe('4 B');
    await t.bringToFront();
    await rowAction(t, 'notes.txt', 'Download');
    const dl = await t.waitForEvent('download');
    expect(await readFile((await dl.path())!, 'utf8')).toBe('one\n');
    await a.bringToFront();

    // A version the command line makes names its device, by the name the device registered.
    const cli = (args: string[]) => execFileAsync(process.execPath, [join(REPO_ROOT, 'desktop-agent/bin/coffer.mjs'), ...args], {
      env: { ...process.env, COFFER_HOME: join(dir, 'cli-home'), COFFER_SERVER: server.url, COFFER_EMAIL: EMAIL, COFFER_PASSPHRASE: PASS },
    });
    // The panel stays open meanwhile: the version appears in it live, and the device, registered
    // after the panel read the names, is named too.
    await rowAction(a, 'notes.txt', 'Versions');
    await dlg.locator('tr[data-version="3"]').waitFor({ timeout: 30_000 });
    await cli(['login', '--quiet']);
    await writeFile(join(dir, 'from-cli.txt'), 'three from the command line\n');
    await cli(['put', '--quiet', join(dir, 'from-cli.txt'), '/notes.txt']);
    const cells = dlg.locator('tr[data-version="4"] td');
    await expect.poll(() => cells.nth(2).textContent(), { timeout: 30_000 }).toBe(`coffer CLI on ${hostname().split('.')[0] || 'cli'}`);
    expect(await dlg.locator('tr[data-version="3"] td').nth(2).textContent()).toMatch(thisBrowser);
    expect(await cells.first().textContent()).toBe('4 (current)');
    expect(await sizes()).toEqual(['28 B', '4 B', '8 B', '4 B']);
    await expect.poll(() => row(a, 'notes.txt').locator('.meta').first().textContent(), { timeout: 30_000 }).toBe('28 B');
    await a.keyboard.press('Escape');
  });

  test('versions: a version uploaded in another tab appears in the open panel; the file trashed, then deleted, is said so', async () => {
    await upload('live.txt', 'first\n');
    await row(t, 'live.txt').waitFor({ timeout: 30_000 });
    await rowAction(a, 'live.txt', 'Versions');
    const dlg = a.getByRole('dialog');
    await dlg.locator('tr[data-version="1"]').waitFor({ timeout: 30_000 });
    await writeFile(join(dir, 'live.txt'), 'second, and longer\n');
    await t.locator('#upload-files').setInputFiles(join(dir, 'live.txt'));
    const two = dlg.locator('tr[data-version="2"] td');
    await expect.poll(() => two.first().textContent(), { timeout: 30_000 }).toBe('2 (current)');
    expect(await two.nth(3).textContent()).toBe('19 B');
    expect(await dlg.locator('tr[data-version="1"] td').first().textContent()).toBe('1');

    const said = dlg.getByTestId('versions-gone');
    await t.bringToFront();
    await rowAction(t, 'live.txt', 'Move to trash');
    await expect.poll(() => said.textContent(), { timeout: 30_000 })
      .toBe('“live.txt” was moved to the trash. Restore it from the trash to see or restore its versions.');
    expect(await dlg.locator('tr[data-version]').count()).toBe(0);
    await t.getByRole('button', { name: 'Trash' }).click();
    t.once('dialog', (d) => void d.accept());
    await t.getByRole('button', { name: 'Delete live.txt forever' }).click();
    await expect.poll(() => said.textContent(), { timeout: 30_000 }).toBe('“live.txt” was deleted, with all its versions.');
    await t.getByRole('button', { name: 'Files', exact: true }).click();
  });

  test('share: a repeated password that differs is refused beside the field, and no link is made', async () => {
    await rowAction(a, 'notes.txt', 'Share');
    const dlg = a.getByRole('dialog');
    const repeat = dlg.getByLabel('Repeat password');
    await dlg.getByLabel('Password (optional)').fill('harbour lights 42');
    await repeat.fill('harbour light 42');
    await dlg.getByRole('button', { name: 'Create link' }).click();
    await expect.poll(() => repeat.getAttribute('aria-invalid')).toBe('true');
    expect(await a.locator(`#${await repeat.getAttribute('aria-describedby')}`).textContent()).toBe('The passwords do not match.');
    expect(await a.evaluate(() => document.activeElement?.id)).toBe('share-pw2');
    expect(await dlg.getByLabel('Link').count()).toBe(0);
    await repeat.fill('harbour lights 42');
    expect(await repeat.getAttribute('aria-invalid')).toBeNull();
    expect(await a.locator('#share-pw2-error').textContent()).toBe('');
    await a.keyboard.press('Escape');
  });

  test('trash: a name taken meanwhile asks for another, the item comes back under it, and the keyboard stays in the list', async () => {
    await newFolder('proj');
    await row(a, 'proj').locator('button.name').click();
    await expect.poll(() => a.getByTestId('status').textContent()).toBe('proj: 0 items.'); // uploads go to the folder shown
    await upload('inside.txt', 'inside\n');
    await a.getByRole('navigation', { name: 'Folder path' }).getByRole('button', { name: 'My files' }).click();
    await row(a, 'proj').waitFor();
    await newFolder('spare');
    await rowAction(a, 'spare', 'Move to trash');
    await rowAction(a, 'proj', 'Move to trash');
    await expect.poll(() => row(a, 'proj').count()).toBe(0);
    await newFolder('proj'); // takes the name

    await a.getByRole('button', { name: 'Trash' }).click();
    await a.getByRole('button', { name: 'Restore proj' }).click();
    const dlg = a.getByRole('dialog');
    await expect.poll(() => dlg.getByRole('textbox', { name: 'Name' }).inputValue(), { timeout: 30_000 }).toBe('proj (2)');
    // The restore's last answer (the new name, sealed) is held until live sync has reloaded the
    // trash without the item: the keyboard must still move on to the row that took its place.
    let held = 0;
    const nodePatch = (u: URL) => /^\/api\/nodes\/[^/]+$/.test(u.pathname);
    await a.route(nodePatch, async (route) => {
      if (route.request().method() !== 'PATCH') return route.fallback();
      held++;
      const answer = await route.fetch();
      // (The DOM, not roles: the open dialog hides the list from the accessibility tree.)
      await expect.poll(() => a.locator('ul[aria-label="Trash"] li[data-name="proj"]').count(), { timeout: 30_000 }).toBe(0);
      await route.fulfill({ response: answer });
    });
    await a.keyboard.press('Enter');
    await expect.poll(() => a.getByRole('button', { name: 'Restore proj' }).count(), { timeout: 30_000 }).toBe(0);
    await expect.poll(() => a.getByTestId('status').textContent(), { timeout: 30_000 }).toBe('Restored “proj (2)”.');
    await a.unroute(nodePatch);
    expect(held).toBe(1);
    await expect.poll(() => focused(a), { timeout: 10_000 }).toBe('Restore spare');

    await row(t, 'proj (2)').waitFor({ timeout: 30_000 });
    await a.getByRole('button', { name: 'Files', exact: true }).click();
    await row(a, 'proj (2)').locator('button.name').click();
    await row(a, 'inside.txt').waitFor({ timeout: 30_000 });
    await a.getByRole('navigation', { name: 'Folder path' }).getByRole('button', { name: 'My files' }).click();
    await row(a, 'proj').waitFor();
  });

  test('at 360 px the Restore and Revoke buttons are on the screen', async () => {
    await rowAction(a, 'notes.txt', 'Share');
    await a.getByRole('dialog').getByRole('button', { name: 'Create link' }).click();
    await a.getByRole('dialog').getByRole('button', { name: 'Done' }).click({ timeout: 60_000 });

    const phone = await newContext(browser, { width: 360 });
    const p = await phone.newPage();
    await login(p, server.url, EMAIL, PASS);
    const inside = async (name: string) => {
      const box = (await p.getByRole('button', { name, exact: true }).first().boundingBox())!;
      return box.x >= 0 && box.x + box.width <= 360;
    };
    await rowAction(p, 'notes.txt', 'Versions');
    await p.getByRole('dialog').locator('tr[data-version="1"]').waitFor({ timeout: 30_000 });
    expect(await inside('Restore version 1')).toBe(true);
    expect(await inside('Download version 1')).toBe(true);
    await p.keyboard.press('Escape');
    await p.getByRole('button', { name: 'Shared links' }).click();
    await p.locator('tr[data-link]').first().waitFor({ timeout: 30_000 });
    expect(await inside('Revoke link to notes.txt')).toBe(true);
    await phone.close();
  });

  test('receive page: reloading the tab does not use up a link limited to one open; a revoke still ends it', async () => {
    await newFolder('handout');
    await row(a, 'handout').locator('button.name').click();
    await expect.poll(() => a.getByTestId('status').textContent()).toBe('handout: 0 items.');
    await upload('inside.txt', 'inside\n');
    await a.getByRole('navigation', { name: 'Folder path' }).getByRole('button', { name: 'My files' }).click();
    await rowAction(a, 'handout', 'Share');
    await a.getByRole('dialog').getByLabel('Limit opens (optional)').fill('1');
    await a.getByRole('dialog').getByRole('button', { name: 'Create link' }).click();
    const url = await a.getByRole('dialog').getByLabel('Link').inputValue({ timeout: 60_000 });
    await a.getByRole('dialog').getByRole('button', { name: 'Done' }).click();

    const r = await (await newContext(browser)).newPage();
    await r.goto(url);
    await expect.poll(() => r.getByTestId('shared-name').textContent(), { timeout: 60_000 }).toBe('handout');
    for (let i = 0; i < 2; i++) {
      await r.reload();
      await expect.poll(() => r.getByRole('button', { name: 'Download inside.txt' }).count(), { timeout: 60_000 }).toBe(1);
    }
    const dl = r.waitForEvent('download');
    await r.getByRole('button', { name: 'Download inside.txt' }).click();
    expect(await readFile((await (await dl).path())!, 'utf8')).toBe('inside\n');

    const id = new URL(url).pathname.split('/')[2]!;
    await a.getByRole('button', { name: 'Shared links' }).click();
    const cells = a.locator(`tr[data-link="${id}"] td`);
    await expect.poll(() => cells.nth(1).textContent(), { timeout: 30_000 }).toBe('1 / 1');
    await a.getByRole('button', { name: 'Revoke link to handout' }).click();
    await expect.poll(() => cells.nth(3).textContent(), { timeout: 30_000 }).toBe('Revoked');
    await r.reload();
    await expect.poll(() => r.getByTestId('alert').textContent(), { timeout: 60_000 }).toBe('This link was revoked by its owner.');
    expect(await r.evaluate(() => sessionStorage.length)).toBe(0);
    await r.context().close();
  });

  test('receive page: a link whose item is in the trash says so; the key leaves the address bar and never reaches the server', async () => {
    await upload('gone.txt', 'gone\n');
    await rowAction(a, 'gone.txt', 'Share');
    await a.getByRole('dialog').getByRole('button', { name: 'Create link' }).click();
    const url = await a.getByRole('dialog').getByLabel('Link').inputValue({ timeout: 60_000 });
    await a.getByRole('dialog').getByRole('button', { name: 'Done' }).click();
    await rowAction(a, 'gone.txt', 'Move to trash');
    await expect.poll(() => row(a, 'gone.txt').count()).toBe(0);

    const r = await (await newContext(browser)).newPage();
    const sent: string[] = [];
    r.on('request', (q) => sent.push(`${q.url()} ${q.postData() ?? ''} ${JSON.stringify(q.headers())}`));
    await r.goto(url);
    await expect.poll(() => r.getByTestId('alert').textContent(), { timeout: 60_000 }).toContain('moved to the trash');
    expect(r.url()).not.toContain('#');
    const secret = url.split('#')[1]!;
    expect(sent.filter((s) => s.includes(secret))).toEqual([]);
    await r.context().close();
    expect(logs.filter((l) => l.startsWith('pageerror'))).toEqual([]);
  });
});
