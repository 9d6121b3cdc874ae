// A folder listed over several pages (the web vault asks for 200 children, then growing pages), in
// real Chromium against a real server: every name arrives, sorted, and a child whose metadata was
// altered on the server is listed as unreadable while its siblings still open.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  decodeKdfParams, derivePassphraseKeys, fromBase64Url, nameHash, newNode, nodeKeys, openSlot, openVault, sealMetadata,
  toBase64Url, unwrapNodeSecret, wrapNodeSecret,
} from '@coffer/crypto-core';
import { chromiumPath, NO_CHROMIUM } from '../../tests/support/env';
import type { RunningServer } from '../../tests/support/server';
import { launch, newContext, row, signup, startWebServer, watchConsole } from './support';

const EMAIL = 'lister@example.test';
const PASS = 'paper comet silent harbour 4 tulip';
const COUNT = 1000; // pages of 200, 600 and 200 (children come in node id order)
// Positions in node id order: one altered child in the middle page, one in the last.
const TAMPERED = new Set([300, 900]);

const name = (i: number) => `entry-${String(i).padStart(5, '0')}.txt`;

/** Creates folder "many" under the root with COUNT files, from Node (a CLI session); one has its metadata altered. */
async function seed(url: string): Promise<void> {
  const call = async <T>(method: string, path: string, token?: string, body?: unknown): Promise<T> => {
    const res = await fetch(url + path, {
      method, body: body === undefined ? undefined : JSON.stringify(body),
      headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    });
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
  const pre = await call<{ kdf: string }>('POST', '/api/auth/prelogin', undefined, { email: EMAIL });
  const { loginKey, passKek } = await derivePassphraseKeys(PASS, decodeKdfParams(pre.kdf));
  const { token } = await call<{ token: string }>('POST', '/api/auth/login', undefined, { email: EMAIL, loginKey: toBase64Url(loginKey), client: 'cli' });
  const acct = await call<{ accountId: string; rootNodeId: string; slots: { passphrase: string } }>('GET', '/api/account', token);
  const vault = await openVault(acct.accountId, await openSlot(acct.accountId, 'passphrase', passKek, fromBase64Url(acct.slots.passphrase)));
  const rootNode = await call<{ wrappedKey: string }>('GET', `/api/nodes/${acct.rootNodeId}`, token);
  const root = await nodeKeys(acct.rootNodeId, await unwrapNodeSecret(fromBase64Url(rootNode.wrappedKey), acct.rootNodeId, null, vault));
  const make = async (parent: typeof root, n: string, kind: 'folder' | 'file', tamper = false, nn = newNode()) => {
    const keys = await nodeKeys(nn.nodeId, nn.secret);
    const metadata = await sealMetadata(keys, { name: n, mime: kind === 'file' ? 'text/plain' : '', size: 0, mtime: 1_700_000_000_000 });
    if (tamper) metadata[metadata.length - 1] = metadata[metadata.length - 1]! ^ 1; // the tag no longer matches
    await call('POST', '/api/nodes', token, {
      id: nn.nodeId, parentId: parent.nodeId, kind, nameHash: await nameHash(parent, n),
      wrappedKey: toBase64Url(await wrapNodeSecret(nn.secret, nn.nodeId, parent, vault)), metadata: toBase64Url(metadata),
    });
    return keys;
  };
  const many = await make(root, 'many', 'folder');
  // Node ids chosen first and sorted, so that name(i) is the i-th child in the server's order.
  const ids = Array.from({ length: COUNT }, () => newNode()).sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1));
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < COUNT; i = next++) await make(many, name(i), 'file', TAMPERED.has(i), ids[i]);
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

const rowNames = (page: Page) => page.locator('.row').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-name')));

describe.skipIf(!chromiumPath)(`a folder listed in pages${chromiumPath ? '' : ` (${NO_CHROMIUM})`}`, () => {
  let server: RunningServer;
  let browser: Browser;
  const logs: string[] = [];

  beforeAll(async () => {
    server = await startWebServer();
    browser = await launch();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  test(`${COUNT} children over three pages: all listed in order, the altered ones as unreadable`, async () => {
    const page = await (await newContext(browser)).newPage();
    watchConsole(page, logs);
    await signup(page, server.url, EMAIL, PASS);
    await seed(server.url);
    await page.reload();
    await page.getByLabel('Passphrase').fill(PASS);
    await page.getByRole('button', { name: 'Unlock' }).click();
    await row(page, 'many').locator('button.name').click();
    await expect.poll(() => page.getByTestId('status').textContent(), { timeout: 60_000 }).toContain(`many: ${COUNT} items.`);

    // Ascending: the unreadable placeholders ("(cannot decrypt)") sort first, then the names in order.
    const asc = await rowNames(page);
    expect(asc.slice(0, 2)).toEqual(['(cannot decrypt)', '(cannot decrypt)']);
    expect(asc.slice(2, 12)).toEqual(Array.from({ length: 10 }, (_, i) => name(i)));
    expect(await page.locator('.row').nth(0).locator('.error').count()).toBe(1);
    expect(await page.locator('.row').nth(1).locator('.error').count()).toBe(1);

    // Descending: the last names, which came in the last page, are at the top.
    await page.locator('.head [role=columnheader] button').first().click();
    await expect.poll(async () => (await rowNames(page))[0]).toBe(name(COUNT - 1));
    const desc = await rowNames(page);
    expect(desc.slice(0, 10)).toEqual(Array.from({ length: 10 }, (_, i) => name(COUNT - 1 - i)));
    expect(logs.filter((l) => l.startsWith('pageerror'))).toEqual([]);
  });
});
