// Realtime push benchmark: one real server process (PGlite unless a PostgreSQL URL is given) holds
// `sockets` WebSockets spread over `accounts` accounts; then `changes` folder creations are made one
// after another through the HTTP API, each on the next account in turn, and the time from just
// before the POST until the last socket of that account has its `changed` message is recorded.
//
//   npm run bench -- realtime
//   node --import tsx -e "import('./server/bench/realtime.ts').then(m => m.runRealtimeBench()).then(console.log)"
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import WebSocket from 'ws';
import { startServer, type RunningServer } from '../../tests/support/server.js';
import { b64, hexId, kdfText } from '../test/helpers.js';

export interface RealtimeBenchOptions {
  sockets?: number;
  accounts?: number;
  changes?: number;
  /** Run the server on this PostgreSQL database instead of PGlite. */
  databaseUrl?: string;
  /**
   * With `databaseUrl`: start a second server process on the same database, hold the sockets on
   * it and make the changes through the first, so every message crosses LISTEN/NOTIFY.
   */
  crossProcess?: boolean;
}


async function post(url: string, body: unknown, token?: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

async function rssMiB(pid: number | undefined): Promise<number> {
  if (pid === undefined) return Number.NaN;
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
    return kb / 1024;
  } catch {
    return Number.NaN;
  }
}

interface Account { id: string; token: string; rootId: string; cursor: number; sockets: number }

export async function runRealtimeBench(options: RealtimeBenchOptions = {}): Promise<Record<string, number | string>> {
  const socketCount = options.sockets ?? 1000;
  const accountCount = options.accounts ?? 100;
  const changeCount = options.changes ?? 200;
  const env: Record<string, string> = { COFFER_RATE_LIMIT_ADDRESS: '1000000', LOG_LEVEL: 'warn' };
  if (options.databaseUrl) env.DATABASE_URL = options.databaseUrl;
  if (options.crossProcess && !options.databaseUrl) throw new Error('crossProcess needs databaseUrl');
  const server: RunningServer = await startServer(env);
  const sockets: WebSocket[] = [];
  let listener: RunningServer | undefined;
  try {
    const base = server.url;
    // The process holding the sockets (the same one unless crossProcess).
    listener = options.crossProcess ? await startServer(env) : server;
    const wsUrl = `${listener.url.replace(/^http/, 'ws')}/api/ws`;

    // Accounts, made through the API (the server checks forms, not ciphertext).
    const accounts: Account[] = [];
    for (let i = 0; i < accountCount; i++) {
      const id = hexId();
      const rootId = hexId();
      const res = await post(`${base}/api/auth/signup`, {
        email: `${id}@bench.test`, accountId: id, kdf: kdfText(),
        loginKey: b64(randomBytes(32)), recoveryLoginKey: b64(randomBytes(32)), accountPublicKey: b64(randomBytes(32)),
        slots: { passphrase: b64(randomBytes(80)), recovery: b64(randomBytes(80)) },
        root: { nodeId: rootId, wrappedKey: b64(randomBytes(98)), metadata: b64(randomBytes(286)) },
        client: 'cli',
      });
      if (res.status !== 201) throw new Error(`signup failed: ${res.status} ${JSON.stringify(res.json)}`);
      accounts.push({ id, token: String(res.json.token), rootId, cursor: 0, sockets: 0 });
    }

    // Waiting changes: account id → expected cursor, sockets still to hear it, resolver.
    const waiting = new Map<string, { cursor: number; remaining: number; done: (t: number) => void }>();
    let hellos = 0;
    let stray = 0;
    const connectStarted = performance.now();
    await Promise.all(Array.from({ length: socketCount }, (_, i) => new Promise<void>((resolve, reject) => {
      const account = accounts[i % accountCount]!;
      account.sockets++;
      const ws = new WebSocket(wsUrl, ['coffer', `bearer.${account.token}`]);
      sockets.push(ws);
      ws.on('message', (data) => {
        const at = performance.now();
        const m = JSON.parse(String(data)) as { type: string; cursor?: number };
        if (m.type === 'hello') {
          hellos++;
          account.cursor = Math.max(account.cursor, m.cursor ?? 0);
          resolve();
        } else if (m.type === 'changed') {
          const w = waiting.get(account.id);
          if (!w || (m.cursor ?? 0) < w.cursor) {
            stray++;
            return;
          }
          if (--w.remaining === 0) w.done(at);
        }
      });
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    })));
    const connectSeconds = (performance.now() - connectStarted) / 1000;
    const open = sockets.filter((ws) => ws.readyState === WebSocket.OPEN).length;
    const serverRss = await rssMiB(listener.process.pid);

    // Changes, one at a time; each measured until every socket of its account has it.
    const latencies: number[] = [];
    const roundTrips: number[] = [];
    for (let i = 0; i < changeCount; i++) {
      const account = accounts[i % accountCount]!;
      const expected = account.cursor + 1;
      let resolveDone!: (t: number) => void;
      const done = new Promise<number>((r) => (resolveDone = r));
      waiting.set(account.id, { cursor: expected, remaining: account.sockets, done: resolveDone });
      const started = performance.now();
      const res = await post(`${base}/api/nodes`, {
        id: hexId(), parentId: account.rootId, kind: 'folder', nameHash: randomBytes(32).toString('hex'),
        wrappedKey: b64(randomBytes(98)), metadata: b64(randomBytes(286)),
      }, account.token);
      roundTrips.push(performance.now() - started);
      if (res.status !== 201) throw new Error(`create failed: ${res.status} ${JSON.stringify(res.json)}`);
      const timeout = new Promise<number>((_, reject) => setTimeout(() => reject(new Error(`change ${i} not delivered within 30 s`)), 30_000).unref());
      const arrived = await Promise.race([done, timeout]);
      latencies.push(arrived - started);
      waiting.delete(account.id);
      account.cursor = expected;
    }
    latencies.sort((a, b) => a - b);
    roundTrips.sort((a, b) => a - b);
    const stillOpen = sockets.filter((ws) => ws.readyState === WebSocket.OPEN).length;

    return {
      setup: options.crossProcess ? 'PostgreSQL, changes via process 1, sockets on process 2 (LISTEN/NOTIFY)'
        : options.databaseUrl ? 'PostgreSQL, one process' : 'PGlite, one process',
      'sockets held by one server process': open,
      'sockets open after the changes': stillOpen,
      'hello messages received': hellos,
      accounts: accountCount,
      'connect all sockets (s)': connectSeconds,
      'server RSS with sockets (MiB)': serverRss,
      changes: latencies.length,
      'change→WebSocket p50 (ms)': percentile(latencies, 50),
      'change→WebSocket p95 (ms)': percentile(latencies, 95),
      'change→WebSocket max (ms)': latencies.at(-1) ?? Number.NaN,
      'POST /api/nodes round trip p50 (ms)': percentile(roundTrips, 50),
      'messages for no awaited change': stray,
      'p95 target ≤ 250 ms': percentile(latencies, 95) <= 250 ? 'met' : 'MISSED',
    };
  } finally {
    for (const ws of sockets) ws.terminate();
    if (listener && listener !== server) await listener.stop();
    await server.stop();
  }
}
