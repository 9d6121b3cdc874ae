// The web vault by keyboard alone, as someone who cannot use a mouse works it: every screen and
// every action puts the keyboard somewhere sensible (never on the page's <body>, from where the next
// Tab starts over at the top), the row menu works as a menu, and the file icons stand out in the
// dark theme. Only an upload's file is chosen by script: the browser's file picker is not the page's.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { chromiumPath, NO_CHROMIUM } from '../../tests/support/env';
import { browserSession, focused, frames, row } from './support';

const EMAIL = 'keyboard@example.test';
const PASS = 'amber kettle drifts past nine harbour lights';

describe.skipIf(!chromiumPath)(`web vault by keyboard${chromiumPath ? '' : ` (${NO_CHROMIUM})`}`, () => {
  const session = browserSession({ tmpPrefix: 'coffer-web-keyboard-', signup: { email: EMAIL, pass: PASS } });
  let a: Page;
  let dir: string;
  beforeAll(() => ({ page: a, dir } = session));
  // Each test starts in the top folder with nothing open, whatever the one before it left: set up
  // by any means, as it is not what is tested.
  beforeEach(async () => {
    if (!a || (await a.getByTestId('vault').count()) === 0) return;
    for (let i = 0; i < 2 && (await a.locator('[role="dialog"], [role="menu"]').count()); i++) await press('Escape');
    await a.getByRole('navigation', { name: 'Folder path' }).getByRole('button', { name: 'My files' }).click();
    await expect.poll(status).toMatch(/^My files: /);
  });

  const press = (key: string) => a.keyboard.press(key);
  const status = () => a.getByTestId('status').textContent();
  const has = (l: Locator) => l.evaluate((el) => el === document.activeElement);
  /** Presses `key` (Tab unless told) until `target` has the keyboard: 40 presses at most. */
  const moveTo = async (target: string | RegExp | Locator, key = 'Tab') => {
    for (let i = 0; i < 60; i++) {
      const at = await focused(a);
      if (typeof target === 'string' ? at === target : target instanceof RegExp ? target.test(at) : await has(target)) return;
      await press(key);
    }
    throw new Error(`${key} never reached ${String(target)}; the keyboard is on ${await focused(a)}`);
  };
  /** As moveTo, on another page. */
  const tabOn = async (p: Page, target: string | Locator) => {
    for (let i = 0; i < 60; i++) {
      if (typeof target === 'string' ? (await focused(p)) === target : await target.evaluate((el) => el === document.activeElement)) return;
      await p.keyboard.press('Tab');
    }
    throw new Error(`Tab never reached ${String(target)}; the keyboard is on ${await focused(p)}`);
  };
  /** Opens the row menu of `name` from its button, and goes down it to `item`. */
  const menuTo = async (name: string, item: string) => {
    await moveTo(`Actions for ${name}`);
    await press('Enter');
    await moveTo(item, 'ArrowDown');
  };
  const upload = async (names: string[]) => {
    const done = a.locator('[data-upload][data-phase="done"]');
    const before = await done.count();
    for (const n of names) await writeFile(join(dir, n), `${n}\n`);
    await a.locator('#upload-files').setInputFiles(names.map((n) => join(dir, n)));
    await expect.poll(() => done.count(), { timeout: 60_000 }).toBe(before + names.length);
  };
  const newFolder = async (name: string) => {
    await moveTo('New folder', 'Shift+Tab');
    await press('Enter');
    await a.keyboard.type(name);
    await press('Enter');
    await expect.poll(status).toBe(`Created “${name}”.`);
  };

  test('sign-up, the recovery code and the vault each put the keyboard on their first control', async () => {
    const ctx = await session.browser.newContext();
    try {
      const b = await ctx.newPage();
      await b.goto(session.server.url + '/');
      await b.getByRole('heading', { name: 'Log in' }).waitFor();
      await expect.poll(() => focused(b)).toBe('#login-email');
      await tabOn(b, 'Create an account');
      await b.keyboard.press('Enter');
      await expect.poll(() => focused(b)).toBe('#su-email');
      await b.keyboard.type('keyboard-signup@example.test');
      await b.keyboard.press('Tab');
      await b.keyboard.type(PASS);
      await b.keyboard.press('Tab');
      await b.keyboard.type(PASS);
      await b.keyboard.press('Enter');
      await b.getByTestId('recovery-code').waitFor({ timeout: 60_000 });
      await expect.poll(() => focused(b)).toBe('Save your recovery code');
      await tabOn(b, b.getByLabel('I have saved my recovery code'));
      await b.keyboard.press('Space');
      await tabOn(b, 'Continue to my vault');
      await b.keyboard.press('Enter');
      await b.getByTestId('vault').waitFor();
      await expect.poll(() => focused(b)).toMatch(/^This folder is empty\./);
    } finally {
      await ctx.close();
    }
  });

  test('a folder opened with Enter has the keyboard on its first row; Backspace and a crumb go back to the folder left', async () => {
    await newFolder('Archive');
    await newFolder('Projects');
    await moveTo('Projects, folder');
    await press('Enter');
    await expect.poll(status).toBe('Projects: 0 items.');
    await expect.poll(() => focused(a)).toMatch(/^This folder is empty\./);
    await press('Backspace');
    await expect.poll(status).toBe('My files: 2 items.');
    await expect.poll(() => focused(a)).toBe('Projects, folder');

    await press('Enter');
    await expect.poll(status).toBe('Projects: 0 items.');
    await upload(['plan.txt']);
    await expect.poll(() => focused(a)).toBe('plan.txt, file, 9 B'); // the empty folder's note gave way to the row
    await moveTo('My files', 'Shift+Tab');
    await press('Enter');
    await expect.poll(status).toBe('My files: 2 items.');
    await expect.poll(() => focused(a)).toBe('Projects, folder');
    await press('Enter');
    await expect.poll(status).toBe('Projects: 1 item.');
    await expect.poll(() => focused(a)).toBe('plan.txt, file, 9 B');
    await press('Backspace');
    await expect.poll(status).toBe('My files: 2 items.');
  });

  test('rename keeps the keyboard on the renamed row, also once live sync has fetched it again', async () => {
    await upload(['notes.txt']);
    const id = (await row(a, 'notes.txt').getAttribute('data-id'))!;
    await moveTo('notes.txt, file, 10 B');
    await press('F2');
    await moveTo('Rename', 'ArrowDown');
    await press('Enter');
    await expect.poll(() => focused(a)).toBe('#name-input');
    await press('Control+A');
    await a.keyboard.type('memo.txt');
    // Live sync hears of the rename and fetches the item again, which makes its row anew.
    const refetched = a.waitForResponse((r) => new URL(r.url()).pathname === `/api/nodes/${id}` && r.request().method() === 'GET');
    await press('Enter');
    await expect.poll(status).toBe('Renamed to “memo.txt”.');
    await refetched;
    await frames(a);
    expect(await focused(a)).toBe('Actions for memo.txt');
  });

  test('the row menu: arrows, Home and End move in it, Escape closes it back to its button, Tab closes it and goes on; it lies in main', async () => {
    await moveTo('Actions for memo.txt');
    await press('Enter');
    expect(await focused(a)).toBe('Preview'); // at once: an arrow key pressed next must reach the menu
    expect(await a.locator('main [role="menu"]').count()).toBe(1);
    await press('End');
    expect(await focused(a)).toBe('Move to trash');
    await press('Home');
    expect(await focused(a)).toBe('Preview');
    await press('ArrowUp');
    expect(await focused(a)).toBe('Move to trash');
    await press('Escape');
    expect(await a.getByRole('menu').count()).toBe(0);
    expect(await focused(a)).toBe('Actions for memo.txt');

    await press('Enter');
    await expect.poll(() => focused(a)).toBe('Preview');
    await press('Shift+Tab');
    expect(await a.getByRole('menu').count()).toBe(0);
    expect(await focused(a)).toBe('memo.txt, file, 10 B');
    await press('Tab');
    await press('Enter');
    await expect.poll(() => focused(a)).toBe('Preview');
    await press('Tab');
    expect(await a.getByRole('menu').count()).toBe(0);
    expect(await focused(a)).not.toMatch(/^(<body>|Preview|Download|Actions for memo\.txt)$/);
  });

  test('trash and move: the row that takes the removed row\'s place has the keyboard', async () => {
    await upload(['b.txt', 'c.txt']);
    await menuTo('b.txt', 'Move to trash');
    await press('Enter');
    await expect.poll(status).toBe('Moved “b.txt” to the trash.');
    await expect.poll(() => focused(a)).toBe('Actions for c.txt');

    await menuTo('c.txt', 'Move');
    await press('Enter');
    await moveTo('Open folder Archive');
    await press('Enter');
    // Archive has no subfolder: the keyboard stays in the dialog, on what is left to do.
    await expect.poll(() => focused(a)).toBe('Move here');
    await press('Enter');
    await expect.poll(status).toBe('Moved “c.txt”.');
    await expect.poll(() => focused(a)).toBe('Actions for memo.txt');
  });

  test('share: the new link has the keyboard, Copy answers in a status, Escape closes back to the row\'s button', async () => {
    await menuTo('memo.txt', 'Share');
    await press('Enter');
    await expect.poll(() => focused(a)).toBe('#share-pw');
    await a.keyboard.type('tea for two');
    await press('Tab');
    await a.keyboard.type('tea for two');
    await press('Tab');
    await press('ArrowDown'); // expires in an hour
    await moveTo('Create link');
    await press('Enter');
    await expect.poll(() => focused(a), { timeout: 30_000 }).toBe('#share-url');
    await moveTo('Copy link');
    await press('Enter');
    await expect.poll(() => a.getByRole('dialog').getByRole('status').textContent()).toMatch(/^Cop(ied|y failed)/);
    await press('Escape');
    expect(await a.getByRole('dialog').count()).toBe(0);
    expect(await focused(a)).toBe('Actions for memo.txt');
  });

  test('sorting by each column with the keyboard says the new order in the status line', async () => {
    await moveTo('Actions for memo.txt');
    const header = (label: string) => a.locator('.list .head [role="columnheader"]').filter({ hasText: label });
    // Up from the list to the Name header, then on along the headers.
    for (const [label, said, key] of [['Name', 'name, descending', 'Shift+Tab'], ['Size', 'size, ascending', 'Tab'], ['Size', 'size, descending', 'Tab'], ['Modified', 'date modified, ascending', 'Tab']]) {
      await moveTo(header(label!).getByRole('button'), key);
      await press('Enter');
      await expect.poll(status).toBe(`Sorted by ${said}.`);
      expect(await focused(a)).toMatch(new RegExp(`^${label}`)); // the header's button keeps the keyboard
    }
    await moveTo(header('Name').getByRole('button'), 'Shift+Tab');
    await press('Enter');
    await expect.poll(status).toBe('Sorted by name, ascending.');
  });

  test('dark theme: a file icon\'s outline stands out at 4.5:1 from its row, whether the row is focused or not', async () => {
    await a.emulateMedia({ colorScheme: 'dark' });
    try {
      await row(a, 'memo.txt').waitFor();
      const found = await a.evaluate(() => {
        const rgb = (c: string) => (c.match(/[\d.]+/g) ?? []).slice(0, 3).map(Number);
        const lum = (c: string) => {
          const [r, g, b] = rgb(c).map((v) => v / 255).map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
          return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
        };
        const ratio = (x: string, y: string) => { const [hi, lo] = [lum(x), lum(y)].sort((p, q) => q - p); return (hi! + 0.05) / (lo! + 0.05); };
        const plain = getComputedStyle(document.querySelector('.list')!).backgroundColor;
        const focusedRow = getComputedStyle(document.documentElement).getPropertyValue('--accent-soft').trim();
        const hex = (h: string) => `rgb(${[1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)).join(', ')})`;
        return [...document.querySelectorAll('.row svg.ficon path[fill="none"], .row svg.ficon .line')].map((p) => {
          const stroke = getComputedStyle(p).stroke;
          return { stroke, plain: ratio(stroke, plain), focused: ratio(stroke, hex(focusedRow)) };
        });
      });
      expect(found.length).toBeGreaterThan(0);
      for (const f of found) {
        expect(f.plain, `outline ${f.stroke} on the row`).toBeGreaterThanOrEqual(4.5);
        expect(f.focused, `outline ${f.stroke} on a focused row`).toBeGreaterThanOrEqual(4.5);
      }
    } finally {
      await a.emulateMedia({ colorScheme: 'light' });
    }
  });

  test('lock and unlock: the passphrase field, then the list, have the keyboard', async () => {
    await moveTo('Lock', 'Shift+Tab');
    await press('Enter');
    await a.getByRole('heading', { name: 'Vault locked' }).waitFor();
    await expect.poll(() => focused(a)).toBe('#unlock-pass');
    await a.keyboard.type(PASS);
    await press('Enter');
    await a.getByTestId('vault').waitFor({ timeout: 60_000 });
    await expect.poll(() => focused(a)).toBe('Archive, folder');
  });
});
