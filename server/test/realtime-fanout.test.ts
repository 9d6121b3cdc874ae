// LISTEN/NOTIFY fan-out against a real PostgreSQL: two fan-outs stand for two server processes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect as tcpConnect, createServer, type Server, type Socket } from 'node:net';
import postgres from 'postgres';
import { createTestDatabase, NO_POSTGRES, postgresUrl } from '../../tests/support/env.js';
import { RealtimeHub, type RealtimeSocket } from '../src/realtime/hub.js';
import { startPgFanout, type Fanout } from '../src/realtime/fanout.js';

class RecordingSocket implements RealtimeSocket {
  sent: Array<{ type: string; cursor?: number }> = [];
  send(data: string): void {
    this.sent.push(JSON.parse(data));
  }
  ping(): void {}
  terminate(): void {}
}

/** Resolves once `check()` holds; polls every 20 ms, fails after `ms` (generous, not a speed check). */
async function waitFor(check: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const A = '0123456789abcdef0123456789abcdef';

interface Relay {
  url: (db: string) => string;
  blackhole: () => void;
  swallowNextListen: () => void;
  /**
   * The next `times` connections to send `text` (a NOTIFY payload, say) fail as they send it:
   * `cut` closes them, `stall` makes them go silent from then on.
   */
  failOn: (text: string, times: number, how: 'cut' | 'stall') => void;
  close: () => Promise<void>;
}

/**
 * A TCP relay in front of PostgreSQL that can go silent: `blackhole()` stops forwarding on every
 * connection open so far without closing any (a half-open network path); new connections work.
 * `swallowNextListen()` makes the next connection to send a LISTEN go silent from then on (the
 * database stops answering just as the LISTEN goes out).
 */
async function startRelay(target: URL): Promise<Relay> {
  const pairs: Array<[Socket, Socket]> = [];
  const all: Socket[] = [];
  let swallow = false;
  let failing: { text: string; times: number; how: 'cut' | 'stall' } | undefined;
  const server: Server = createServer((client) => {
    const upstream = tcpConnect(Number(target.port || 5432), target.hostname);
    const silence = () => {
      upstream.unpipe(client);
      upstream.pause();
      client.removeAllListeners('data');
      client.resume(); // read and dropped from now on
    };
    client.on('data', (chunk: Buffer) => {
      if (swallow && /listen/i.test(chunk.toString('latin1'))) {
        swallow = false;
        silence();
        return;
      }
      if (failing && chunk.toString('latin1').includes(failing.text)) {
        const { how } = failing;
        if (--failing.times === 0) failing = undefined;
        if (how === 'cut') {
          client.destroy();
          upstream.destroy();
        } else {
          silence();
        }
        return;
      }
      upstream.write(chunk);
    });
    upstream.pipe(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop);
    upstream.on('error', drop);
    pairs.push([client, upstream]);
    all.push(client, upstream);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: (dbUrl) => {
      const u = new URL(dbUrl);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    blackhole: () => {
      for (const [client, upstream] of pairs.splice(0)) {
        client.removeAllListeners('data');
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
    swallowNextListen: () => {
      swallow = true;
    },
    failOn: (text, times, how) => {
      failing = { text, times, how };
    },
    close: async () => {
      for (const socket of all) socket.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe.skipIf(!postgresUrl)(`PostgreSQL fan-out${postgresUrl ? '' : ` (${NO_POSTGRES})`}`, () => {
  let db: { url: string; drop: () => Promise<void> };
  const fanouts: Fanout[] = [];
  const appName = `coffer-rt-test-${process.pid}`;

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await Promise.all(fanouts.map((f) => f.close()));
    await db?.drop();
  });

  it('a change published in one process reaches the sockets of another, once each', async () => {
    const hub1 = new RealtimeHub();
    const hub2 = new RealtimeHub();
    const f1 = await startPgFanout({ url: db.url, hub: hub1 });
    const f2 = await startPgFanout({ url: db.url, hub: hub2 });
    fanouts.push(f1, f2);
    const s1 = new RecordingSocket();
    const s2 = new RecordingSocket();
    hub1.add(A, s1);
    hub2.add(A, s2);

    await f1.publish({ accountId: A, cursor: 1 });
    await f1.publish({ accountId: A, cursor: 2 });
    await waitFor(() => s2.sent.some((m) => m.cursor === 2), 'cursor 2 in the other process');
    // the publishing process delivered at once and dropped its own NOTIFY echo
    await waitFor(() => s1.sent.length >= 2, 'local delivery');
    await new Promise((r) => setTimeout(r, 200));
    expect(s1.sent).toEqual([{ type: 'changed', cursor: 1 }, { type: 'changed', cursor: 2 }]);
    expect(s2.sent.map((m) => m.cursor)).toEqual([1, 2]);
  });

  it('recovers when its LISTEN connection is killed, and catches up on what it missed', async () => {
    const hub = new RealtimeHub();
    let current = 10;
    const f = await startPgFanout({
      url: db.url,
      hub,
      applicationName: appName,
      loadCursor: async () => current,
      answerTimeoutMs: 1000,
      retryMs: 100,
    });
    const other = await startPgFanout({ url: db.url, hub: new RealtimeHub() });
    fanouts.push(f, other);
    const s = new RecordingSocket();
    hub.add(A, s);

    current = 11; // committed just as the connection drops: its notification is never seen here
    const admin = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      const dbName = new URL(db.url).pathname.slice(1);
      const killed = await admin`
        select pg_terminate_backend(pid) as ok from pg_stat_activity
        where application_name = ${appName} and datname = ${dbName} and pid <> pg_backend_pid()`;
      expect(killed.length).toBeGreaterThan(0);
    } finally {
      await admin.end();
    }
    await waitFor(() => s.sent.some((m) => m.cursor === 11), 'catch-up after reconnect');
    await other.publish({ accountId: A, cursor: 12 });
    await waitFor(() => s.sent.some((m) => m.cursor === 12), 'a new change after reconnect');
  });

  it('replaces a LISTEN connection that went silent (half-open), found by its heartbeat', async () => {
    const relay = await startRelay(new URL(db.url));
    try {
      const hub = new RealtimeHub();
      let current = 20;
      const problems: string[] = [];
      const f = await startPgFanout({
        url: relay.url(db.url), hub, loadCursor: async () => current, answerTimeoutMs: 1000, retryMs: 100,
        onError: (message) => problems.push(message),
      });
      const other = await startPgFanout({ url: db.url, hub: new RealtimeHub() });
      fanouts.push(f, other);
      const s = new RecordingSocket();
      hub.add(A, s);
      await other.publish({ accountId: A, cursor: 20 });
      await waitFor(() => s.sent.some((m) => m.cursor === 20), 'delivery through the relay');

      relay.blackhole(); // nothing is closed: postgres.js cannot tell
      current = 21; // committed while the path is silent: its notification is lost
      await other.publish({ accountId: A, cursor: 21 });
      await waitFor(() => problems.some((p) => p.includes('stopped answering')), 'the heartbeat to notice');
      await waitFor(() => s.sent.some((m) => m.cursor === 21), 'catch-up on the new connection');
      await other.publish({ accountId: A, cursor: 22 });
      await waitFor(() => s.sent.some((m) => m.cursor === 22), 'live delivery on the new connection');
    } finally {
      await relay.close();
    }
  });

  it('gives up on a LISTEN that is never answered at the answer deadline, and listens again', async () => {
    const relay = await startRelay(new URL(db.url));
    try {
      relay.swallowNextListen();
      const hub = new RealtimeHub();
      const s = new RecordingSocket();
      hub.add(A, s);
      const problems: string[] = [];
      const started = startPgFanout({
        url: relay.url(db.url), hub, loadCursor: async () => 30, answerTimeoutMs: 1000, retryMs: 100,
        onError: (message) => problems.push(message),
      });
      // Before: the LISTEN waited for ever, and so did the heartbeat, which waits for a LISTEN under way.
      const f = await Promise.race([started, new Promise<null>((r) => setTimeout(() => r(null), 5000).unref())]);
      expect(f).not.toBeNull();
      fanouts.push(f!);
      expect(problems.some((p) => p.includes('LISTEN failed'))).toBe(true);
      await waitFor(() => s.sent.some((m) => m.cursor === 30), 'catch-up once listening');
      const other = await startPgFanout({ url: db.url, hub: new RealtimeHub() });
      fanouts.push(other);
      await other.publish({ accountId: A, cursor: 31 });
      await waitFor(() => s.sent.some((m) => m.cursor === 31), 'live delivery');
    } finally {
      await relay.close();
    }
  });

  it('sends a change NOTIFY that failed (connection cut) again until it goes out', async () => {
    const relay = await startRelay(new URL(db.url));
    try {
      const problems: string[] = [];
      const f1 = await startPgFanout({
        url: relay.url(db.url), hub: new RealtimeHub(), retryMs: 100, onError: (message) => problems.push(message),
      });
      const hub2 = new RealtimeHub();
      const f2 = await startPgFanout({ url: db.url, hub: hub2 });
      fanouts.push(f1, f2);
      const s2 = new RecordingSocket();
      hub2.add(A, s2);

      relay.failOn(`${A}:41`, 2, 'cut'); // the NOTIFY and its first retry
      await f1.publish({ accountId: A, cursor: 41 }); // returns after the first try, which failed
      expect(problems.some((p) => p.includes('NOTIFY failed'))).toBe(true);
      // Before: the other process never heard of cursor 41 (its LISTEN was fine all along).
      await waitFor(() => s2.sent.some((m) => m.cursor === 41), 'cursor 41 in the other process', 5000);
      expect(problems.some((p) => p.includes('retrying a NOTIFY failed'))).toBe(true);
    } finally {
      await relay.close();
    }
  });

  it('sends a change NOTIFY again after the answer deadline ended it; the payload is the account id and cursor only', async () => {
    const relay = await startRelay(new URL(db.url));
    const listener = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      const payloads: string[] = [];
      await listener.listen('coffer_changes', (payload) => payloads.push(payload));
      const f1 = await startPgFanout({ url: relay.url(db.url), hub: new RealtimeHub(), answerTimeoutMs: 1000, retryMs: 100 });
      fanouts.push(f1);

      relay.failOn(`${A}:51`, 1, 'stall'); // PostgreSQL stops answering the NOTIFY's connection
      await f1.publish({ accountId: A, cursor: 51 }); // after the deadline (1 s) ended it
      await waitFor(() => payloads.includes(`${A}:51`), 'the NOTIFY on a raw LISTEN connection', 5000);
      for (const p of payloads) expect(p).toMatch(/^[0-9a-f]{32}:\d+$|^hb:[0-9a-z]+:\d+$/);
    } finally {
      await listener.end();
      await relay.close();
    }
  });
});
