// A password share link end to end, with the real crypto-core on both sides and the real server
// process: the sharer seals the payload, the recipient answers the challenge and opens the payload.
// Then the whole database (pg_dump, or PGlite's files) and everything the server printed are
// searched for the fragment secret, the password and the keys derived from them: none may appear.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createLink, decodeKdfParams, encodeKdfParams, linkChallengeResponse, linkKeys, newKdfParams, newNode, openLinkPayload,
  toBase64Url, toHex,
} from '@coffer/crypto-core';
import { createTestDatabase, NO_POSTGRES, postgresUrl } from '../../tests/support/env.js';
import { startServer, type RunningServer } from '../../tests/support/server.js';

const run = promisify(execFile);
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64url');
const hexId = () => randomBytes(16).toString('hex');

/** Every request the test makes, so it can show the fragment secret never left the "browser". */
const sent: string[] = [];
async function call(url: string, init: { method?: string; headers?: Record<string, string>; body?: unknown } = {}) {
  const body = init.body === undefined ? undefined : JSON.stringify(init.body);
  sent.push(`${init.method ?? 'GET'} ${url} ${JSON.stringify(init.headers ?? {})} ${body ?? ''}`);
  const res = await fetch(url, {
    method: init.method ?? 'GET',
    headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...init.headers },
    body,
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

/** The forms a secret could take in a dump or a log. */
function forms(label: string, bytes: Uint8Array): Array<[string, string]> {
  const buf = Buffer.from(bytes);
  return [
    [`${label} (base64url)`, buf.toString('base64url')],
    [`${label} (base64)`, buf.toString('base64').replace(/=+$/, '')],
    [`${label} (hex)`, buf.toString('hex')],
    [`${label} (bytea hex)`, `\\x${buf.toString('hex')}`],
  ];
}

async function scenario(server: RunningServer) {
  const base = server.url;
  const accountId = hexId();
  const rootId = hexId();
  const signup = await call(`${base}/api/auth/signup`, {
    method: 'POST',
    body: {
      email: `${accountId}@example.test`, accountId, kdf: encodeKdfParams(newKdfParams()),
      loginKey: b64(randomBytes(32)), recoveryLoginKey: b64(randomBytes(32)), accountPublicKey: b64(randomBytes(32)),
      slots: { passphrase: b64(randomBytes(80)), recovery: b64(randomBytes(80)) },
      root: { nodeId: rootId, wrappedKey: b64(randomBytes(98)), metadata: b64(randomBytes(286)) },
      client: 'cli',
    },
  });
  expect(signup.status).toBe(201);
  const auth = { authorization: `Bearer ${signup.json.token}` };

  // Sharer: a folder with a real node secret, shared with a password.
  const node = newNode();
  const created = await call(`${base}/api/nodes`, {
    method: 'POST', headers: auth,
    body: {
      id: node.nodeId, parentId: rootId, kind: 'folder', nameHash: randomBytes(32).toString('hex'),
      wrappedKey: b64(randomBytes(98)), metadata: b64(randomBytes(286)),
    },
  });
  expect(created.status).toBe(201);
  const password = `correct horse ${randomBytes(4).toString('hex')}`;
  const link = await createLink(node, password);
  const posted = await call(`${base}/api/links`, {
    method: 'POST', headers: auth,
    body: {
      linkId: link.linkId, nodeId: node.nodeId, payload: toBase64Url(link.payload),
      kdf: encodeKdfParams(link.kdf!), authKey: toBase64Url(link.authKey!), maxDownloads: 10,
    },
  });
  expect(posted.status).toBe(201);
  const shareUrl = `${base}/s/${link.linkId}#${link.secret}`;

  // Recipient: only the URL and the password.
  const [path, fragment] = shareUrl.split('#') as [string, string];
  const linkId = path.split('/').at(-1)!;
  const info = await call(`${base}/api/public/links/${linkId}`);
  expect(info.json.hasPassword).toBe(true);
  const keys = await linkKeys(linkId, fragment, password, decodeKdfParams(info.json.kdf));
  const response = await linkChallengeResponse(keys.authKey!, linkId, Buffer.from(info.json.challenge, 'base64url'));
  const opened = await call(`${base}/api/public/links/${linkId}/open`, {
    method: 'POST', body: { challenge: info.json.challenge, response: toBase64Url(response) },
  });
  expect(opened.status, JSON.stringify(opened.json)).toBe(200);
  const shared = await openLinkPayload(linkId, keys.linkKey, Buffer.from(opened.json.payload, 'base64url'));
  expect(shared.nodeId).toBe(node.nodeId);
  expect(toHex(shared.secret)).toBe(toHex(node.secret));
  const listing = await call(`${base}/api/public/links/${linkId}/nodes/${node.nodeId}/children`, {
    headers: { 'x-link-access': opened.json.accessToken },
  });
  expect(listing.status).toBe(200);

  const secrets: Array<[string, string]> = [
    ...forms('link secret S', Buffer.from(link.secret, 'base64url')),
    ...forms('link key', keys.linkKey),
    ...forms('node secret', node.secret),
    ['password', password],
    ['share URL', shareUrl],
  ];
  for (const [label, value] of secrets) {
    for (const request of sent) expect(request.includes(value), `${label} in a request`).toBe(false);
  }
  // The access token is handed out once; the database keeps only its hash.
  const token = opened.json.accessToken as string;
  // Positive control: what the server does store must be found by the same search.
  const stored = [toBase64Url(link.payload), toBase64Url(link.authKey!)];
  return { secrets: [...secrets, ['access token', token] as [string, string]], stored };
}

function expectAbsent(haystack: string, secrets: Array<[string, string]>, where: string) {
  for (const [label, value] of secrets) expect(haystack.includes(value), `${label} found in ${where}`).toBe(false);
}

describe('share link secrets stay out of the server', () => {
  const servers: RunningServer[] = [];
  let drop: (() => Promise<void>) | undefined;
  afterAll(async () => {
    for (const s of servers) await s.stop();
    await drop?.();
  });

  it('on PGlite: not in any file of the database, nor in the server output', async () => {
    const server = await startServer({ LOG_LEVEL: 'debug' });
    servers.push(server);
    const { secrets, stored } = await scenario(server);
    const output = server.output();
    expect(output).toContain('/api/public/links/'); // the log did record the requests
    expectAbsent(output, secrets, 'the server output');
    // Stop first so PGlite has flushed everything to its files, then read them all as bytes.
    const dataDir = server.dataDir;
    server.process.kill('SIGTERM');
    await new Promise((r) => server.process.once('exit', r));
    const files = await readdir(join(dataDir, 'db'), { recursive: true, withFileTypes: true });
    let scanned = 0;
    const found = new Set<string>();
    for (const f of files) {
      if (!f.isFile()) continue;
      const bytes = await readFile(join(f.parentPath, f.name));
      scanned += bytes.length;
      const text = bytes.toString('latin1');
      for (const value of stored) if (text.includes(value)) found.add(value);
      expectAbsent(text, secrets, `PGlite file ${f.name}`);
    }
    expect(scanned).toBeGreaterThan(0);
    expect([...found].sort()).toEqual([...stored].sort());
  });

  it.skipIf(!postgresUrl)(`on PostgreSQL: not in pg_dump, nor in the server output${postgresUrl ? '' : ` (${NO_POSTGRES})`}`, async () => {
    const db = await createTestDatabase();
    drop = db.drop;
    const server = await startServer({ DATABASE_URL: db.url, LOG_LEVEL: 'debug' });
    servers.push(server);
    const { secrets, stored } = await scenario(server);
    const { stdout: dump } = await run('pg_dump', ['--data-only', '--no-owner', db.url], { maxBuffer: 64 * 1024 * 1024 });
    for (const value of stored) expect(dump).toContain(value); // the search does find what is stored
    expectAbsent(dump, secrets, 'pg_dump');
    expectAbsent(server.output(), secrets, 'the server output');
  });

  it.skipIf(!postgresUrl)(`counts exactly across two server processes: 100 parallel opens, limit 5${postgresUrl ? '' : ` (${NO_POSTGRES})`}`, async () => {
    const db = await createTestDatabase();
    const dropThis = db.drop;
    const one = await startServer({ DATABASE_URL: db.url });
    const two = await startServer({ DATABASE_URL: db.url });
    servers.push(one, two);
    try {
      const accountId = hexId();
      const rootId = hexId();
      const signup = await call(`${one.url}/api/auth/signup`, {
        method: 'POST',
        body: {
          email: `${accountId}@example.test`, accountId, kdf: encodeKdfParams(newKdfParams()),
          loginKey: b64(randomBytes(32)), recoveryLoginKey: b64(randomBytes(32)), accountPublicKey: b64(randomBytes(32)),
          slots: { passphrase: b64(randomBytes(80)), recovery: b64(randomBytes(80)) },
          root: { nodeId: rootId, wrappedKey: b64(randomBytes(98)), metadata: b64(randomBytes(286)) },
          client: 'cli',
        },
      });
      expect(signup.status).toBe(201);
      const link = await createLink({ nodeId: rootId, secret: newNode().secret });
      const posted = await call(`${one.url}/api/links`, {
        method: 'POST', headers: { authorization: `Bearer ${signup.json.token}` },
        body: { linkId: link.linkId, nodeId: rootId, payload: toBase64Url(link.payload), maxDownloads: 5 },
      });
      expect(posted.status).toBe(201);
      const results = await Promise.all(Array.from({ length: 100 }, (_, i) =>
        call(`${(i % 2 === 0 ? one : two).url}/api/public/links/${link.linkId}/open`, { method: 'POST' })));
      expect(results.filter((r) => r.status === 200)).toHaveLength(5);
      expect(results.filter((r) => r.status === 410 && r.json.code === 'LINK_EXHAUSTED')).toHaveLength(95);
      const listed = await call(`${two.url}/api/links`, { headers: { authorization: `Bearer ${signup.json.token}` } });
      expect(listed.json.links[0].downloads).toBe(5);
    } finally {
      await one.stop();
      await two.stop();
      await dropThis();
    }
  });
});
