// The account's devices: a browser profile is one device however many of its tabs open the vault at
// once, and the Devices view lists every device and removes another one, which logs it out.
import type { Browser, Page, Request, Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { chromiumPath, NO_CHROMIUM } from '../../tests/support/env';
import type { RunningServer } from '../../tests/support/server';
import { ARTIFACTS, launch, login, newContext, signup, startWebServer } from './support';

const EMAIL = 'devices@example.test';
const PASS = 'quiet orchard under eleven paper moons';
/** The second browser of test (b) says it is Firefox on Windows, so its device's name is its own. */
const FIREFOX_UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0';

interface DeviceRow { deviceId: string; name: string; current?: boolean }

/** The account's devices, as the server lists them to the session of `page`'s browser. */
const devicesOf = (page: Page) => page.evaluate(async () => {
  const res = await fetch('/api/devices', { credentials: 'same-origin', cache: 'no-store' });
  return ((await res.json()) as { devices: DeviceRow[] }).devices;
});

/** The device id this browser profile keeps (IndexedDB `coffer-device`, worker.ts), or null. */
const keptDeviceId = (page: Page) => page.evaluate(() => new Promise<string | null>((resolve, reject) => {
  const open = indexedDB.open('coffer-device', 1);
  open.onupgradeneeded = () => open.result.createObjectStore('devices');
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const db = open.result;
    const all = db.transaction('devices').objectStore('devices').getAll();
    all.onsuccess = () => { db.close(); resolve((all.result as { deviceId: string }[])[0]?.deviceId ?? null); };
    all.onerror = () => { db.close(); reject(all.error); };
  };
}));

describe.skipIf(!chromiumPath)(`web vault devices${chromiumPath ? '' : ` (${NO_CHROMIUM})`}`, () => {
  let server: RunningServer;
  let browser: Browser;
  let home: Page;

  beforeAll(async () => {
    server = await startWebServer();
    browser = await launch();
    // The browser whose Devices view is tested is a phone's width in the dark theme.
    home = await (await newContext(browser, { width: 360, dark: true })).newPage();
    await signup(home, server.url, EMAIL, PASS);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('two tabs of one browser opening the vault at once register one device', async () => {
    await expect.poll(() => devicesOf(home).then((d) => d.length), { timeout: 30_000 }).toBe(1);
    const ctx = await newContext(browser);
    // The first tab's registration is held at the server's door until the second tab has had its
    // chance to register too (its own POST arrived) or is seen waiting for the first (its request
    // for the Web Lock is pending): without the hold the race would be won or lost by timing.
    const held: Route[] = [];
    let released = false;
    const release = () => { released = true; for (const r of held.splice(0)) void r.continue(); };
    await ctx.route('**/api/devices', (route) => {
      if (route.request().method() !== 'POST' || released) return route.continue();
      held.push(route);
    });
    // What settles the race, either way: each tab's registration answered, or its confirmation of
    // the other's device.
    const settled: string[] = [];
    ctx.on('requestfinished', (req: Request) => {
      const path = new URL(req.url()).pathname;
      if (req.method() === 'POST' && path === '/api/devices') settled.push('registered');
      if (req.method() === 'GET' && /^\/api\/devices\/[0-9a-f]{32}$/.test(path)) settled.push('confirmed');
    });

    const a = await ctx.newPage();
    await login(a, server.url, EMAIL, PASS);
    await expect.poll(() => held.length, { timeout: 30_000 }).toBe(1);

    const b = await ctx.newPage();
    await b.goto(server.url + '/');
    await b.getByLabel('Passphrase').fill(PASS);
    await b.getByRole('button', { name: 'Unlock' }).click();
    await b.getByTestId('vault').waitFor({ timeout: 60_000 });
    const waitingForLock = () => b.evaluate(async () =>
      ((await navigator.locks.query()).pending ?? []).some((l) => l.name?.startsWith('coffer-device:')));
    await expect.poll(async () => held.length === 2 || (await waitingForLock()), { timeout: 30_000 }).toBe(true);
    release();
    await expect.poll(() => settled.length, { timeout: 30_000 }).toBeGreaterThanOrEqual(2);

    const devices = await devicesOf(a);
    expect(devices.length, 'the sign-up browser and this one').toBe(2);
    const kept = await keptDeviceId(b);
    expect(kept).not.toBeNull();
    expect(devices.map((d) => d.deviceId)).toContain(kept);
    await ctx.close();
  });

  test('the Devices view lists another browser by name, and removing it logs that browser out', async () => {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, userAgent: FIREFOX_UA });
    const other = await ctx.newPage();
    await login(other, server.url, EMAIL, PASS);
    await expect.poll(() => keptDeviceId(other), { timeout: 30_000 }).not.toBeNull();
    const otherId = (await keptDeviceId(other))!;

    // Its session, in the Sessions view, says which device it is.
    await home.getByRole('button', { name: 'Sessions', exact: true }).click();
    await home.getByRole('table', { name: 'Sessions' }).getByText('Web vault · Firefox on Windows').waitFor({ timeout: 30_000 });

    await home.getByRole('button', { name: 'Devices', exact: true }).click();
    const table = home.getByRole('table', { name: 'Devices' });
    const otherRow = table.locator(`tr[data-device="${otherId}"]`);
    await otherRow.waitFor({ timeout: 30_000 });
    expect(await otherRow.textContent()).toContain('Web vault · Firefox on Windows');
    const mine = table.locator('tr[data-current="true"]');
    expect(await mine.count()).toBe(1);
    expect(await mine.textContent()).toContain('This browser');
    expect(await mine.getByRole('button', { name: /^Remove/ }).count(), 'this browser leaves by logging out').toBe(0);
    await home.screenshot({ path: `${ARTIFACTS}/devices-360-dark.png` });

    let asked = '';
    home.once('dialog', (d) => { asked = d.message(); void d.accept(); });
    await otherRow.getByRole('button', { name: /^Remove Web vault · Firefox on Windows, added / }).click();
    await expect.poll(() => home.getByTestId('status').textContent(), { timeout: 30_000 }).toMatch(/^Removed “Web vault · Firefox on Windows”/);
    expect(asked).toMatch(/log in again/i);
    expect(asked).toMatch(/files/i);
    await otherRow.waitFor({ state: 'detached' });
    expect((await devicesOf(home)).map((d) => d.deviceId)).not.toContain(otherId);

    // The removed browser's session ended with its device: its next request lands it on the
    // log-in form, which says why.
    // (It may be there already: the server also closes its live-sync socket.)
    if (await other.getByTestId('vault').isVisible()) {
      await other.getByRole('button', { name: 'Trash', exact: true }).click({ timeout: 5_000 }).catch(() => {});
    }
    await other.getByRole('heading', { name: 'Log in' }).waitFor({ timeout: 30_000 });
    expect(await other.getByText('Your session has ended').count()).toBe(1);
    await ctx.close();
  });
});
