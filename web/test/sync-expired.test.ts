// Sync after pruning, in real Chromium against a real server on PostgreSQL: a vault whose cursor
// fell behind the pruned changes gets 410 CURSOR_EXPIRED, reloads its view, and keeps following
// from the cursor the server gave. The server prunes by itself (collection every second); the test
// only ages the rows in the database and holds the vault's feed requests meanwhile.
import type { Browser, Page } from 'playwright-core';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { chromiumPath, createTestDatabase, NO_CHROMIUM, NO_POSTGRES, postgresUrl } from '../../tests/support/env';
import type { RunningServer } from '../../tests/support/server';
import { launch, login, newContext, row, signup, startWebServer, watchConsole } from './support';

const EMAIL = 'pruned@example.test';
const PASS = 'copper window falls 9 under moss';
const skip = !chromiumPath || !postgresUrl;

describe.skipIf(skip)(`web sync after pruning${!chromiumPath ? ` (${NO_CHROMIUM})` : !postgresUrl ? ` (${NO_POSTGRES})` : ''}`, () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let sql: postgres.Sql;
  let server: RunningServer;
  let browser: Browser;
  let a: Page;
  let b: Page;
  const logs: string[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    sql = postgres(database.url, { max: 1, onnotice: () => {} });
    server = await startWebServer({ DATABASE_URL: database.url, COFFER_GC_INTERVAL_SECONDS: '1' });
    browser = await launch();
    a = await (await newContext(browser)).newPage();
    b = await (await newContext(browser)).newPage();
    watchConsole(a, logs);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await sql?.end();
    await database?.drop();
  });

  const newFolder = async (page: Page, name: string) => {
    await page.getByRole('button', { name: 'New folder' }).click();
    await page.getByLabel('Name', { exact: true }).fill(name);
    await page.getByRole('button', { name: 'Create', exact: true }).click();
    await row(page, name).waitFor();
  };
  const synced = (page: Page) => expect.poll(() => page.getByTestId('sync-status').textContent(), { timeout: 30_000 }).toContain('Synced');

  test('a vault behind the pruned changes reloads, then follows from the given cursor', async () => {
    await signup(a, server.url, EMAIL, PASS);
    await synced(a);
    await login(b, server.url, EMAIL, PASS);
    await synced(b);

    // Hold A's feed requests while B makes a change and the server prunes it.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let holding!: () => void;
    const held = new Promise<void>((r) => (holding = r));
    const feed = (url: URL) => url.pathname === '/api/changes';
    await a.route(feed, async (route) => {
      holding();
      await gate;
      await route.continue();
    });
    const answers: Array<{ status: number; body: Record<string, unknown> }> = [];
    a.on('response', (res) => {
      if (feed(new URL(res.url()))) {
        void res.json().then((body: Record<string, unknown>) => answers.push({ status: res.status(), body }), () => {});
      }
    });

    await newFolder(b, 'Made while behind');
    await held;
    await sql`update changes set created_at = now() - interval '40 days'`;
    await expect.poll(async () => (await sql`select count(*)::int as n from changes`)[0]!.n, { timeout: 30_000 }).toBe(0);
    const [account] = await sql`select cursor::int as cursor from accounts`;
    release(); // from here on the route lets every request through

    // A was told its cursor expired, reloaded its view, and is in sync again.
    await row(a, 'Made while behind').waitFor({ timeout: 30_000 });
    await synced(a);
    expect(answers.find((x) => x.status === 410)?.body).toMatchObject({ code: 'CURSOR_EXPIRED', cursor: account!.cursor });

    // And it follows from the server's cursor: the next change arrives through the feed.
    await newFolder(b, 'Made after');
    await row(a, 'Made after').waitFor({ timeout: 30_000 });
    await synced(a);
    expect(answers.filter((x) => x.status === 410)).toHaveLength(1);
    expect(answers.filter((x) => x.status !== 200 && x.status !== 410)).toEqual([]);
    expect(logs.filter((l) => l.startsWith('pageerror'))).toEqual([]);
  });
});
