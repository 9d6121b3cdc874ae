// Real-time push end to end: real server processes (tests/support/server.ts), real WebSocket
// clients (`ws`), changes made through the HTTP API. One PGlite process; two processes sharing
// one PostgreSQL database.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { loadConfig } from '../src/config.js';
import { createTestDatabase, NO_POSTGRES, postgresUrl } from '../../tests/support/env.js';
import { startServer, type RunningServer } from '../../tests/support/server.js';
import { b64, hexId, kdfText } from './helpers.js';


interface Account { token?: string; cookie?: string; csrfToken?: string; accountId: string; rootId: string }

async function signup(base: string, client: 'cli' | 'web' = 'cli'): Promise<Account> {
  const accountId = hexId();
  const rootId = hexId();
  const res = await fetch(`${base}/api/auth/signup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      email: `${accountId}@example.test`, accountId, kdf: kdfText(),
      loginKey: b64(randomBytes(32)), recoveryLoginKey: b64(randomBytes(32)), accountPublicKey: b64(randomBytes(32)),
      slots: { passphrase: b64(randomBytes(80)), recovery: b64(randomBytes(80)) },
      root: { nodeId: rootId, wrappedKey: b64(randomBytes(98)), metadata: b64(randomBytes(286)) },
      client,
    }),
  });
  const json = (await res.json()) as { token?: string; csrfToken?: string };
  expect(res.status, JSON.stringify(json)).toBe(201);
  const setCookie = res.headers.get('set-cookie');
  return {
    accountId, rootId, token: json.token, csrfToken: json.csrfToken,
    cookie: setCookie ? setCookie.split(';')[0] : undefined,
  };
}

async function mkdir(base: string, a: Account, parentId: string): Promise<string> {
  const id = hexId();
  const res = await fetch(`${base}/api/nodes`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${a.token}` },
    body: JSON.stringify({
      id, parentId, kind: 'folder', nameHash: randomBytes(32).toString('hex'),
      wrappedKey: b64(randomBytes(98)), metadata: b64(randomBytes(286)),
    }),
  });
  expect(res.status, await res.clone().text()).toBe(201);
  return id;
}

interface Client {
  ws: WebSocket;
  messages: Array<{ type: string; cursor?: number }>;
  closed: Promise<number>;
  waitFor(pred: (m: { type: string; cursor?: number }) => boolean, what: string, ms?: number): Promise<{ type: string; cursor?: number }>;
}

function wsUrl(base: string): string {
  return `${base.replace(/^http/, 'ws')}/api/ws`;
}

/** Connects and resolves once open; rejects with the HTTP status when the upgrade is refused. */
function connect(base: string, protocols: string[] | undefined, headers: Record<string, string> = {}): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(base), protocols, { headers });
    const messages: Client['messages'] = [];
    const waiters = new Set<() => void>();
    ws.on('message', (data) => {
      messages.push(JSON.parse(String(data)));
      for (const w of waiters) w();
    });
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode })));
    ws.once('error', reject);
    ws.once('open', () => resolve({
      ws, messages, closed,
      waitFor: (pred, what, ms = 20_000) => new Promise((res, rej) => {
        const check = () => {
          const m = messages.find(pred);
          if (m) {
            clearTimeout(timer);
            waiters.delete(check);
            res(m);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          rej(new Error(`timed out waiting for ${what}; got ${JSON.stringify(messages)}`));
        }, ms);
        waiters.add(check);
        check();
      }),
    }));
  });
}

const bearer = (a: Account) => ['coffer', `bearer.${a.token}`];

/**
 * Signs up through `apiBase`, opens a socket on `wsBase`, logs out through `apiBase`, and resolves
 * with the socket's close code, or 'still open' after 5 s (the keep-alive round is 25 s).
 */
async function closeByLogout(apiBase: string, wsBase: string, clients: WebSocket[]): Promise<number | string> {
  const alice = await signup(apiBase);
  const socket = await connect(wsBase, bearer(alice));
  clients.push(socket.ws);
  await socket.waitFor((m) => m.type === 'hello', 'hello');
  const out = await fetch(`${apiBase}/api/auth/logout`, { method: 'POST', headers: { authorization: `Bearer ${alice.token}` } });
  expect(out.status).toBe(204);
  return Promise.race([socket.closed, new Promise<string>((r) => setTimeout(() => r('still open'), 5_000))]);
}

it('checks COFFER_WS_PING_MS with the rest of the configuration', () => {
  expect(loadConfig({}).wsPingMs).toBe(25_000);
  expect(loadConfig({ COFFER_WS_PING_MS: '500' }).wsPingMs).toBe(500);
  for (const bad of ['0', '9', '1.5', 'soon', '3600001']) {
    expect(() => loadConfig({ COFFER_WS_PING_MS: bad }), bad).toThrow(/COFFER_WS_PING_MS must be/);
  }
});

describe('WebSocket push on one PGlite process', () => {
  // `server` keeps the default 25 s keep-alive, so no socket of a busy test is taken for dead;
  // `fast` pings every 500 ms for the keep-alive tests.
  let server: RunningServer;
  let fast: RunningServer;
  const clients: WebSocket[] = [];
  beforeAll(async () => {
    [server, fast] = await Promise.all([
      startServer({ LOG_LEVEL: 'debug' }),
      startServer({ COFFER_WS_PING_MS: '500', LOG_LEVEL: 'debug' }),
    ]);
  });
  afterAll(async () => {
    for (const ws of clients) ws.terminate();
    await server?.stop();
    await fast?.stop();
  });

  it('says hello with the cursor, then "changed" for each change of the account only', async () => {
    const alice = await signup(server.url);
    const bob = await signup(server.url);
    const a = await connect(server.url, bearer(alice));
    const b = await connect(server.url, bearer(bob));
    clients.push(a.ws, b.ws);
    expect(a.ws.protocol).toBe('coffer'); // the token is never echoed back
    const hello = await a.waitFor((m) => m.type === 'hello', 'hello');
    await b.waitFor((m) => m.type === 'hello', 'hello');
    const start = hello.cursor!;

    const folder = await mkdir(server.url, alice, alice.rootId);
    await a.waitFor((m) => m.type === 'changed' && m.cursor === start + 1, 'changed');
    // the client resumes from its cursor with /api/changes
    const res = await fetch(`${server.url}/api/changes?since=${start}`, { headers: { authorization: `Bearer ${alice.token}` } });
    const feed = (await res.json()) as { changes: Array<{ nodeId: string; cursor: number }> };
    expect(feed.changes.map((c) => c.nodeId)).toContain(folder);

    await mkdir(server.url, alice, folder);
    await a.waitFor((m) => m.cursor === start + 2, 'second change');
    await mkdir(server.url, bob, bob.rootId); // Bob's change, for Bob's socket only
    await b.waitFor((m) => m.type === 'changed', "Bob's change");
    expect(a.messages.filter((m) => m.type === 'changed').map((m) => m.cursor)).toEqual([start + 1, start + 2]);
  });

  it('sends {"type":"ping"} on its interval', async () => {
    const alice = await signup(fast.url);
    const a = await connect(fast.url, bearer(alice));
    clients.push(a.ws);
    await a.waitFor((m) => m.type === 'ping', 'ping');
  });

  it('closes a socket that stops answering pings', async () => {
    const alice = await signup(fast.url);
    const a = await connect(fast.url, bearer(alice));
    clients.push(a.ws);
    await a.waitFor((m) => m.type === 'hello', 'hello');
    // Stop reading: no pongs go back. Several ping rounds later, read again: the server has hung up.
    const socket = (a.ws as unknown as { _socket: import('node:net').Socket })._socket;
    socket.pause();
    await new Promise((r) => setTimeout(r, 3000)); // several ping rounds
    socket.resume();
    const code = await Promise.race([a.closed, new Promise<string>((r) => setTimeout(() => r('still open'), 20_000))]);
    expect(code).not.toBe('still open');
  });

  it('closes the socket (4001) at once when its session logs out, not at the next keep-alive (25 s)', async () => {
    expect(await closeByLogout(server.url, server.url, clients)).toBe(4001);
  });

  it('caps the sockets one account holds in a process (429 beyond 200)', async () => {
    const alice = await signup(server.url);
    const many = await Promise.all(Array.from({ length: 200 }, () => connect(server.url, bearer(alice))));
    clients.push(...many.map((c) => c.ws));
    await Promise.all(many.map((c) => c.waitFor((m) => m.type === 'hello', 'hello')));
    await expect(connect(server.url, bearer(alice))).rejects.toMatchObject({ status: 429 });
    const bob = await signup(server.url); // other accounts are not affected
    const b = await connect(server.url, bearer(bob));
    clients.push(b.ws);
    for (const c of many) c.ws.terminate();
  });

  it('authenticates web sessions by cookie from the same origin only', async () => {
    const web = await signup(server.url, 'web');
    const host = new URL(server.url).host;
    const ok = await connect(server.url, undefined, { cookie: web.cookie!, origin: server.url });
    clients.push(ok.ws);
    await ok.waitFor((m) => m.type === 'hello', 'hello over cookie');
    await expect(connect(server.url, undefined, { cookie: web.cookie!, origin: 'https://evil.example' }))
      .rejects.toMatchObject({ status: 403 });
    expect(host).toContain('127.0.0.1');
  });

  it('refuses sockets without a valid session, and never takes the token from the query string', async () => {
    const alice = await signup(server.url);
    await expect(connect(server.url, undefined)).rejects.toMatchObject({ status: 401 });
    await expect(connect(server.url, ['coffer', `bearer.${b64(randomBytes(32))}`])).rejects.toMatchObject({ status: 401 });
    await expect(connect(server.url, ['coffer'])).rejects.toMatchObject({ status: 401 });
    // the token offered first would be echoed as the selected protocol: refused
    await expect(connect(server.url, [`bearer.${alice.token}`, 'coffer'])).rejects.toMatchObject({ status: 400 });
    const viaQuery = new Promise<number>((resolve) => {
      const ws = new WebSocket(`${wsUrl(server.url)}?token=${alice.token}`);
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('open', () => resolve(101));
      ws.once('error', () => resolve(-1));
    });
    expect(await viaQuery).toBe(401);
    const plain = await fetch(`${server.url}/api/ws`, { headers: { authorization: `Bearer ${alice.token}` } });
    expect(plain.status).toBe(426);
    expect(server.output()).not.toContain(alice.token!);
  });
});

describe.skipIf(!postgresUrl)(`WebSocket push across two processes on PostgreSQL${postgresUrl ? '' : ` (${NO_POSTGRES})`}`, () => {
  let db: { url: string; drop: () => Promise<void> };
  let one: RunningServer;
  let two: RunningServer;
  const clients: WebSocket[] = [];
  beforeAll(async () => {
    db = await createTestDatabase();
    one = await startServer({ DATABASE_URL: db.url });
    two = await startServer({ DATABASE_URL: db.url }); // after the first: it migrated the database
  });
  afterAll(async () => {
    for (const ws of clients) ws.terminate();
    await one?.stop();
    await two?.stop();
    await db?.drop();
  });

  it('a folder created through one process reaches a WebSocket client of the other', async () => {
    const alice = await signup(one.url);
    const onTwo = await connect(two.url, bearer(alice));
    const onOne = await connect(one.url, bearer(alice));
    clients.push(onTwo.ws, onOne.ws);
    const hello = await onTwo.waitFor((m) => m.type === 'hello', 'hello');
    await onOne.waitFor((m) => m.type === 'hello', 'hello');

    await mkdir(one.url, alice, alice.rootId);
    await onTwo.waitFor((m) => m.type === 'changed' && m.cursor === hello.cursor! + 1, 'change from the other process');
    await onOne.waitFor((m) => m.type === 'changed' && m.cursor === hello.cursor! + 1, 'change in the same process');
    await mkdir(two.url, alice, alice.rootId); // and the other way round
    await onOne.waitFor((m) => m.cursor === hello.cursor! + 2, 'change from the second process');
    // each socket hears each cursor once, even though its own process also got the NOTIFY
    await new Promise((r) => setTimeout(r, 300));
    expect(onOne.messages.filter((m) => m.type === 'changed').map((m) => m.cursor)).toEqual([hello.cursor! + 1, hello.cursor! + 2]);
  });

  it('a log-out through one process closes the session\'s socket on the other at once (4001)', async () => {
    // Only the NOTIFY of the ended session closes it this soon.
    expect(await closeByLogout(one.url, two.url, clients)).toBe(4001);
  });
});
