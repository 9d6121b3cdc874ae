// LISTEN/NOTIFY fan-out against a real PostgreSQL: two fan-outs stand for two server processes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

describe.skipIf(!postgresUrl)(`PostgreSQL fan-out (${NO_POSTGRES})`, () => {
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
      heartbeatMs: 500,
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
});
