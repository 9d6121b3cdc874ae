// Several tabs of one browser share its cookie, and so one session: a tab opened later asks only
// for the passphrase, and a tab whose CSRF token another tab's log-in replaced goes on working.
import type { Browser, BrowserContext, Page, Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { chromiumPath, NO_CHROMIUM } from '../../tests/support/env';
import type { RunningServer } from '../../tests/support/server';
import { launch, login, newContext, row, signup, startWebServer } from './support';

const EMAIL = 'tabs@example.test';
const PASS = 'seven lanterns over a quiet harbour';

describe.skipIf(!chromiumPath)(`web vault in several tabs${chromiumPath ? '' : ` (${NO_CHROMIUM})`}`, () => {
  let server: RunningServer;
  let browser: Browser;
  let ctx: BrowserContext;

  beforeAll(async () => {
    server = await startWebServer();
    browser = await launch();
    ctx = await newContext(browser);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  const newFolder = async (page: Page, name: string) => {
    await page.getByRole('button', { name: 'New folder' }).click();
    await page.getByLabel('Name', { exact: true }).fill(name);
    await page.getByRole('button', { name: 'Create', exact: true }).click();
    await row(page, name).waitFor();
  };

  test('a second tab unlocks the same session, and the first keeps working after a log-in elsewhere', async () => {
    const a = await ctx.newPage();
    await signup(a, server.url, EMAIL, PASS);

    const b = await ctx.newPage();
    await b.goto(server.url + '/');
    await b.getByLabel('Passphrase').fill(PASS);
    await b.getByRole('button', { name: 'Unlock' }).click();
    await b.getByTestId('vault').waitFor({ timeout: 60_000 });
    await newFolder(b, 'From the second tab');
    await newFolder(a, 'From the first tab');
    await row(b, 'From the first tab').waitFor({ timeout: 30_000 });

    // A new log-in in the browser (its cookie cleared first) replaces the session the first tab's
    // CSRF token belongs to; the first tab takes the new session's token and goes on. While the
    // browser has no cookie, the first tab's requests wait: one sent then (the storage figure is
    // read a second after each change) would get 401 and rightly end its session, which is not
    // what this test is about. The browser adds the cookie as a held request goes on, so they go
    // out with the new session's.
    const held: Route[] = [];
    let holding = true;
    await a.route('**/api/**', (route) => (holding ? void held.push(route) : route.fallback()));
    await ctx.clearCookies();
    const sentMeanwhile = a.evaluate(() => fetch('/api/account', { cache: 'no-store' }).then((r) => r.status));
    await expect.poll(() => held.length).toBeGreaterThan(0);
    await login(b, server.url, EMAIL, PASS);
    holding = false;
    for (const r of held.splice(0)) await r.fallback();
    expect(await sentMeanwhile).toBe(200); // the hold works: it went out with the new cookie
    await newFolder(a, 'After the new log-in');
    expect(await a.getByRole('alert').filter({ hasText: /CSRF|session/i }).count()).toBe(0);
    await row(b, 'After the new log-in').waitFor({ timeout: 30_000 });
  });
});
