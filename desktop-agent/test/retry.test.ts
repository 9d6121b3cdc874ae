// Network trouble between the CLI and the server: a loopback TCP relay in front of a real server
// drops some connections at accept and answers one with 503; the CLI must retry and succeed.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../tests/support/server.ts';
import { coffer, seededBytes } from './helpers.ts';

/** Relays connections to `target`; connections whose number is in `drop` are closed at once, in `busy` get a 503. */
async function relay(target: URL, drop: Set<number>, busy: Set<number>): Promise<{ url: string; close: () => Promise<void>; count: () => number }> {
  let n = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    n++;
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    // Alternately a reset (ECONNRESET) and an orderly close before any answer.
    if (drop.has(n)) return void (n % 2 ? client.resetAndDestroy() : client.end());
    if (busy.has(n)) {
      client.once('data', () => client.end('HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}'));
      return;
    }
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address() as { port: number };
  const close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  };
  return { url: `http://127.0.0.1:${addr.port}`, close, count: () => n };
}

/** Relays to `target` while up; while down, connections are reset at accept and open ones cut. */
async function switchRelay(target: URL) {
  let isUp = true;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    client.on('error', () => {});
    if (!isUp) return void client.resetAndDestroy();
    const upstream = connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    upstream.on('error', () => client.destroy());
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    up: () => void (isUp = true),
    down() {
      isUp = false;
      for (const s of sockets) s.destroy();
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

describe('coffer CLI retries on network errors and 503', () => {
  let server: RunningServer;
  let dir: string;

  beforeAll(async () => {
    server = await startServer();
    dir = await mkdtemp(join(tmpdir(), 'coffer-cli-retry-'));
  });
  afterAll(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('signs up, puts and gets through a relay that drops and refuses connections', async () => {
    // Connections 1, 3 and 6 are cut at accept, 2 and 7 answer 503: the commands below meet these
    // failures and must retry with backoff to succeed.
    const r = await relay(new URL(server.url), new Set([1, 3, 6]), new Set([2, 7]));
    try {
      const env = { COFFER_HOME: join(dir, 'home'), COFFER_PASSPHRASE: 'retry passphrase 1', COFFER_SERVER: r.url, COFFER_EMAIL: 'retry@example.test' };
      const signup = await coffer(['signup', '--quiet'], env);
      expect(signup.code, signup.stderr).toBe(0);
      const data = seededBytes('retry', 2_500_000);
      await writeFile(join(dir, 'in.bin'), data);
      const put = await coffer(['put', '--quiet', join(dir, 'in.bin'), '/in.bin'], env);
      expect(put.code, put.stderr).toBe(0);
      const get = await coffer(['get', '--quiet', '/in.bin', join(dir, 'out.bin')], env);
      expect(get.code, get.stderr).toBe(0);
      expect((await readFile(join(dir, 'out.bin'))).equals(data)).toBe(true);
      expect(r.count()).toBeGreaterThan(7);
    } finally {
      await r.close();
    }
  });

  it('gives up with exit 1, a message naming the server and a stable code when nothing answers', async () => {
    const r = await relay(new URL(server.url), new Set(Array.from({ length: 1000 }, (_, i) => i + 1)), new Set());
    try {
      // A budget of 1 s instead of 45 (COFFER_RETRY_SECONDS, for tests).
      const res = await coffer(['signup', '--json', '--server', r.url, '--email', 'x@example.test'], { COFFER_HOME: join(dir, 'home2'), COFFER_PASSPHRASE: 'retry passphrase 2', COFFER_RETRY_SECONDS: '1' });
      expect(res.code).toBe(1);
      expect(JSON.parse(res.stdout)).toMatchObject({ ok: false, code: 'SERVER_UNREACHABLE' });
      expect(res.stderr).toContain(`cannot reach the server at ${r.url}`);
      expect(res.stderr).not.toContain('retry passphrase 2');
    } finally {
      await r.close();
    }
  });

  it('logs in over a session whose server is gone at once, and says that session could not be ended', async () => {
    const r = await switchRelay(new URL(server.url));
    const env = { COFFER_HOME: join(dir, 'home4'), COFFER_PASSPHRASE: 'retry passphrase 4', COFFER_EMAIL: 'moved@example.test' };
    expect((await coffer(['signup', '--quiet', '--server', r.url], env)).code).toBe(0);
    await r.close();
    const started = Date.now();
    const res = await coffer(['login', '--server', server.url], env);
    expect(res.code, res.stderr).toBe(0);
    expect(Date.now() - started).toBeLessThan(30_000); // no retries spent on it
    expect(res.stderr).toContain('could not end the session this folder held before (moved@example.test on');
    expect(res.stderr).toContain('coffer end-session');
    expect((await coffer(['ls'], env)).code).toBe(0);
  });

  it('waits out a server that is gone for 9 s (a restart), and says how to continue a put when it gives up', async () => {
    const r = await switchRelay(new URL(server.url));
    try {
      const env = { COFFER_HOME: join(dir, 'home3'), COFFER_PASSPHRASE: 'retry passphrase 3', COFFER_SERVER: r.url, COFFER_EMAIL: 'restart@example.test' };
      expect((await coffer(['signup', '--quiet'], env)).code).toBe(0);
      const data = seededBytes('restart', 300_000);
      await writeFile(join(dir, 'restart.bin'), data);
      r.down();
      const started = Date.now();
      const put = coffer(['put', '--quiet', join(dir, 'restart.bin'), '/restart.bin'], env);
      setTimeout(() => r.up(), 9000);
      const res = await put;
      expect(res.code, res.stderr).toBe(0);
      expect(Date.now() - started).toBeGreaterThan(9000);

      r.down();
      const lost = await coffer(['put', '--json', join(dir, 'restart.bin'), '/again.bin'], { ...env, COFFER_RETRY_SECONDS: '1' });
      expect(lost.code).toBe(1);
      expect(JSON.parse(lost.stdout)).toMatchObject({ code: 'SERVER_UNREACHABLE' });
      expect(lost.stderr).toContain('run the same command again to continue where it stopped');
    } finally {
      await r.close();
    }
  }, 120_000);
});
