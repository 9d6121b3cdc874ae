// Production set-up (PostgreSQL + S3) when one of them fails: a database that goes away, an S3
// store that stops answering, and an S3 store that is wrong from the start. Both stand behind a TCP
// relay of this file, which can cut or stall them without touching the real services.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createTestDatabase, NO_POSTGRES, postgresUrl } from '../../tests/support/env.js';
import { REPO_ROOT, SERVER_NODE_FLAGS } from '../../tests/support/server.js';
import { createApp } from '../src/app.js';
import { CircuitBreakerStore } from '../src/blob/breaker.js';
import { S3BlobStore } from '../src/blob/s3.js';
import { defaultConfig, loadConfig } from '../src/config.js';
import type { AppContext } from '../src/context.js';
import { watchedSockets } from '../src/db/answer-deadline.js';
import { openDatabase, queryRows, type Database } from '../src/db/client.js';
import { Events } from '../src/events.js';
import { createLogger } from '../src/logger.js';
import { realtimeFor } from '../src/realtime/index.js';
import { isDatabaseUnavailable } from '../src/services/errors-db.js';
import { chunkIdOf, digestHeader, rand, signup, type Client } from './helpers.js';
import { startS3, type RunningS3 } from './s3.js';

/** A TCP relay on loopback to `targetPort`: open, cut (connections refused) or stalled (nothing forwarded). */
class Relay {
  #server: net.Server | undefined;
  readonly #sockets = new Set<net.Socket>();
  #stalled = false;
  port = 0;

  constructor(readonly targetPort: number) {}

  /** Sockets still open on either side. */
  get connections(): number {
    return this.#sockets.size;
  }

  async start(): Promise<void> {
    this.#server = net.createServer((client) => this.#accept(client));
    await new Promise<void>((resolve) => this.#server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.#server.address() as AddressInfo).port;
  }

  #track(socket: net.Socket): void {
    this.#sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => this.#sockets.delete(socket));
  }

  #accept(client: net.Socket): void {
    this.#track(client);
    if (this.#stalled) {
      client.resume(); // held open, nothing forwarded
      return;
    }
    const upstream = net.connect(this.targetPort, '127.0.0.1');
    this.#track(upstream);
    upstream.on('close', () => client.destroy());
    client.on('close', () => upstream.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  }

  #dropAll(): void {
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
  }

  /** Closes every connection and refuses new ones until `start` again (same port). */
  async cut(): Promise<void> {
    const server = this.#server!;
    this.#server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    this.#dropAll();
    await closed;
  }

  /**
   * Stops forwarding: bytes on open connections are dropped, not delivered, and new connections are
   * accepted and never answered (a peer that hangs, with no reset to tell the client). The relay
   * still reads, so it sees a client end a connection (`connections`).
   */
  stall(): void {
    this.#stalled = true;
    for (const s of this.#sockets) {
      s.unpipe();
      s.resume();
    }
  }

  /**
   * Forwards again, for new connections; the stalled ones are closed, or with `keepStalled` stay
   * open and silent (a path that came back without the state of its old connections: a NAT or proxy
   * that forgot them), so that their users find out only by a deadline of their own.
   */
  resume({ keepStalled = false } = {}): void {
    this.#stalled = false;
    if (!keepStalled) this.#dropAll();
  }

  async close(): Promise<void> {
    if (this.#server) await this.cut();
    this.#dropAll();
  }
}

const within = <T>(ms: number, p: Promise<T>): Promise<T | 'no answer'> =>
  Promise.race([p, new Promise<'no answer'>((resolve) => setTimeout(() => resolve('no answer'), ms).unref())]);

const skip = !postgresUrl;

describe.skipIf(skip)(`production outages (PostgreSQL + S3)${skip ? ` ${NO_POSTGRES}` : ''}`, () => {
  let s3: RunningS3;
  let s3Relay: Relay;
  let dbRelay: Relay;
  let dropDatabase: () => Promise<void>;
  let directUrl: string;
  let database: Database;
  let blobs: CircuitBreakerStore;
  let ctx: AppContext;
  let app: ReturnType<typeof createApp>['app'];
  let closers: ReturnType<typeof createApp>['closers'];
  let user: Client;
  const cooldownMs = 1500;
  const answerTimeoutMs = 1500;

  beforeAll(async () => {
    s3 = await startS3(`coffer-r2-${randomBytes(4).toString('hex')}`);
    s3Relay = new Relay(Number(new URL(s3.config.endpoint!).port));
    await s3Relay.start();
    const created = await createTestDatabase();
    dropDatabase = created.drop;
    directUrl = created.url;
    const url = new URL(created.url);
    dbRelay = new Relay(Number(url.port || 5432));
    await dbRelay.start();
    url.host = `127.0.0.1:${dbRelay.port}`;
    database = await openDatabase({ url: url.toString(), maxConnections: 4, answerTimeoutMs });
    blobs = new CircuitBreakerStore(
      new S3BlobStore({ ...s3.config, endpoint: `http://127.0.0.1:${s3Relay.port}` }, { callTimeoutMs: 500 }),
      { threshold: 2, cooldownMs },
    );
    ctx = {
      // The real-time fan-out of this process reaches PostgreSQL directly: it stands for another
      // process, whose path to the database is fine, when only the path of one process stalls.
      config: defaultConfig({ sessionCacheMs: 0, databaseUrl: directUrl }),
      db: database.db,
      blobs,
      logger: createLogger('error', () => {}),
      events: new Events(),
      secret: new Uint8Array(randomBytes(32)),
    };
    ({ app, closers } = createApp(ctx));
    user = await signup(app);
  });

  afterAll(async () => {
    for (const close of closers ?? []) await close();
    await blobs?.close();
    await database?.close();
    await dbRelay?.close();
    await s3Relay?.close();
    await dropDatabase?.();
    await s3?.stop();
  });

  it('answers 503 DATABASE_UNAVAILABLE with Retry-After while PostgreSQL is unreachable, and recovers', async () => {
    const list = () => user.request('GET', `/api/nodes/${user.rootNodeId}/children`);
    expect((await list()).status).toBe(200);

    await dbRelay.cut();
    try {
      for (const res of [await list(), await user.request('POST', '/api/uploads', { nodeId: user.rootNodeId })]) {
        expect(res.status).toBe(503);
        expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
        expect(await res.json()).toEqual({ code: 'DATABASE_UNAVAILABLE', message: expect.any(String) });
      }
      expect((await app.request('/healthz')).status).toBe(503);
    } finally {
      await dbRelay.start();
    }
    expect((await list()).status).toBe(200);
    expect((await app.request('/healthz')).status).toBe(200);
  });

  it('answers /healthz with 503 NOT_READY in bounded time while PostgreSQL stalls, and 200 after', async () => {
    dbRelay.stall();
    try {
      // Before: the check waited on the stalled connection for as long as it stayed open.
      const res = await within(8000, Promise.resolve(app.request('/healthz')));
      expect(res).not.toBe('no answer');
      expect((res as Response).status).toBe(503);
      expect(await (res as Response).json()).toEqual({ code: 'NOT_READY', message: expect.any(String) });
    } finally {
      dbRelay.resume();
    }
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      status = (await app.request('/healthz')).status;
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(status).toBe(200);
  });

  it('answers 503 DATABASE_UNAVAILABLE in bounded time while PostgreSQL stalls, lets go of the stalled connections, and serves after', async () => {
    const list = () => user.request('GET', `/api/nodes/${user.rootNodeId}/children`);
    expect((await list()).status).toBe(200);
    dbRelay.stall();
    try {
      // More requests than the pool has connections: those that wait for one are bounded too.
      // Before: every one waited for as long as the stalled connections stayed open.
      const res = await within(4 * answerTimeoutMs + 4000, Promise.all([
        list(), list(), list(), list(), user.request('POST', '/api/uploads', { nodeId: user.rootNodeId }),
      ]));
      expect(res).not.toBe('no answer');
      for (const answer of res as Response[]) {
        expect(answer.status).toBe(503);
        expect(answer.headers.get('retry-after')).toBe('5');
        expect(await answer.json()).toEqual({ code: 'DATABASE_UNAVAILABLE', message: expect.any(String) });
      }
      // The pool ended the stalled connections itself (the relay has not dropped them).
      await expect.poll(() => dbRelay.connections, { timeout: 1000, interval: 20 }).toBe(0);
    } finally {
      dbRelay.resume();
    }
    const again = await Promise.all([list(), list(), list(), list(), list(), list()]);
    expect(again.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
  });

  it('lets a transaction wait between statements past the answer deadline, and ends a statement that overruns it', async () => {
    const own = await openDatabase({ url: directUrl, maxConnections: 1, answerTimeoutMs: 400 });
    try {
      // An open transaction owes nothing while the process works (the collector calls the blob
      // store in one): it is not cut, however long it waits.
      const n = await own.db.transaction(async (tx) => {
        await tx.execute(sql`select 1`);
        await new Promise((resolve) => setTimeout(resolve, 800));
        return (await queryRows<{ n: number }>(tx, sql`select 2 as n`))[0]!.n;
      });
      expect(n).toBe(2);
      const overrun = await own.db.execute(sql`select pg_sleep(1)`).then(() => 'answered', (err: unknown) => err);
      expect(isDatabaseUnavailable(overrun)).toBe(true);
      // Its connection was ended and replaced: the one-connection pool answers again.
      expect((await queryRows<{ n: number }>(own.db, sql`select 3 as n`))[0]!.n).toBe(3);
    } finally {
      await own.close();
    }
  });

  it('tells the WebSocket clients of a process whose LISTEN connection stalled what they missed, once PostgreSQL answers again', async () => {
    // Process A reaches PostgreSQL through a relay of its own, which stalls; this file's app (B)
    // makes the changes and NOTIFYs them.
    const relay = new Relay(Number(new URL(directUrl).port || 5432));
    await relay.start();
    const url = new URL(directUrl);
    url.host = `127.0.0.1:${relay.port}`;
    const deadline = 1000;
    const dbA = await openDatabase({ url: url.toString(), maxConnections: 2, answerTimeoutMs: deadline });
    const logs: string[] = [];
    const a = createApp({
      ...ctx,
      config: defaultConfig({ sessionCacheMs: 0, databaseUrl: url.toString(), dbAnswerTimeoutMs: deadline }),
      db: dbA.db,
      logger: createLogger('warn', (line) => logs.push(line)),
      events: new Events(),
    });
    const server = serve({ fetch: a.app.fetch, port: 0, hostname: '127.0.0.1' });
    a.injectWebSocket(server);
    await new Promise<void>((resolve) => (server.listening ? resolve() : server.once('listening', () => resolve())));
    const ws = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/api/ws`, ['coffer', `bearer.${user.token}`]);
    const messages: Array<{ type: string; cursor?: number }> = [];
    ws.on('message', (data) => messages.push(JSON.parse(String(data))));
    const heard = (cursor: number) => messages.some((m) => m.type === 'changed' && m.cursor === cursor);
    try {
      await expect.poll(() => messages.some((m) => m.type === 'hello'), { timeout: 5000, interval: 20 }).toBe(true);
      const start = messages.find((m) => m.type === 'hello')!.cursor!;
      await user.createNode('folder');
      await expect.poll(() => heard(start + 1), { timeout: 5000, interval: 20 }).toBe(true); // through A's LISTEN
      // Both connections of A's pool open, so that after the stall both the catch-up and the
      // sessions check (which run together) first meet a dead one.
      await Promise.all([0, 1].map(() => dbA.db.execute(sql`select pg_sleep(0.05)`)));

      relay.stall();
      await user.createNode('folder'); // its NOTIFY never reaches A
      // Before: the heartbeat (10 s, whatever the deadline) had to be missed twice.
      await expect.poll(() => logs.some((l) => l.includes('LISTEN connection stopped answering')), { timeout: 4 * deadline, interval: 20 }).toBe(true);
      expect(heard(start + 2)).toBe(false);

      // A's old connections stay silent (its idle pool connections too: the first catch-up query
      // fails at the deadline). Before: that failure was the end of the catch-up.
      relay.resume({ keepStalled: true });
      await expect.poll(() => heard(start + 2), { timeout: 8 * deadline, interval: 20 }).toBe(true);
      await user.createNode('folder');
      await expect.poll(() => heard(start + 3), { timeout: 5000, interval: 20 }).toBe(true);
      expect(messages.filter((m) => m.type === 'changed').map((m) => m.cursor)).toEqual([start + 1, start + 2, start + 3]);
      // A's pool has replaced both connections (a connection postgres.js lost in a query and never
      // used again would also hold up its end() for the full 5 s).
      await Promise.all([0, 1].map(() => dbA.db.execute(sql`select 1`)));
    } finally {
      ws.terminate();
      for (const close of a.closers) await close();
      await new Promise((resolve) => server.close(resolve));
      await dbA.close();
      await relay.close();
    }
  });

  it('answers 503 STORAGE_UNAVAILABLE within its timeout when S3 stops answering, writes no row, and recovers', async () => {
    const file = await user.createNode('file');
    const { uploadId } = await user.json('POST', '/api/uploads', { nodeId: file.id }, 201);
    const chunk = { id: chunkIdOf(), data: rand(2000) };
    const put = () => user.request('PUT', `/api/chunks/${chunk.id}?upload=${uploadId}`, chunk.data, { 'content-digest': digestHeader(chunk.data) });

    s3Relay.stall();
    try {
      // Before: each PUT waited for as long as the store stalled; the breaker never opened.
      for (let i = 0; i < 2; i++) {
        const res = await within(10_000, put());
        expect(res).not.toBe('no answer');
        const answer = res as Response;
        expect(answer.status).toBe(503);
        expect(answer.headers.get('retry-after')).toMatch(/^\d+$/);
        expect(await answer.json()).toEqual({ code: 'STORAGE_UNAVAILABLE', message: expect.any(String) });
      }
      expect(blobs.open).toBe(true);
      expect(await (await app.request('/metrics')).text()).toContain('coffer_blob_store_circuit_open 1');
      // Open: refused at once, without waiting on the store; the rest of the API still answers.
      const started = performance.now();
      expect((await put()).status).toBe(503);
      expect(performance.now() - started).toBeLessThan(400);
      expect((await user.request('GET', `/api/nodes/${file.id}`)).status).toBe(200);
      const rows = await queryRows<{ n: number }>(database.db, sql`select count(*)::int as n from chunks where id = ${chunk.id}`);
      expect(rows[0]!.n).toBe(0);

      // Cooled down while S3 still hangs: one request tries it, the others do not queue behind it.
      await new Promise((resolve) => setTimeout(resolve, cooldownMs + 100));
      const timed = await Promise.all([0, 1, 2].map(async () => {
        const t = performance.now();
        const res = await put();
        return { status: res.status, ms: performance.now() - t };
      }));
      expect(timed.map((r) => r.status)).toEqual([503, 503, 503]);
      expect(timed.filter((r) => r.ms >= 450)).toHaveLength(1); // the trial waited for the timeout
      expect(blobs.open).toBe(true);
    } finally {
      s3Relay.resume();
    }
    await new Promise((resolve) => setTimeout(resolve, cooldownMs + 100));
    expect((await put()).status).toBe(201);
    expect(blobs.open).toBe(false);
    expect(await (await app.request('/metrics')).text()).toContain('coffer_blob_store_circuit_open 0');
    const got = await user.request('GET', `/api/chunks/${chunk.id}`);
    expect(got.status).toBe(200);
    expect(new Uint8Array(await got.arrayBuffer())).toEqual(chunk.data);
  });
});

describe.skipIf(skip)(`start-up with an unusable S3 store${skip ? ` ${NO_POSTGRES}` : ''}`, () => {
  it('stops with one line naming the bucket and the endpoint, and exit status 2', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve)); // nothing listens there now
    const db = await createTestDatabase();
    const dataDir = await mkdtemp(join(tmpdir(), 'coffer-r2-'));
    try {
      const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
        const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, '--import', 'tsx', join(REPO_ROOT, 'server/src/main.ts')], {
          cwd: REPO_ROOT,
          env: {
            ...process.env, PORT: '0', COFFER_DATA_DIR: dataDir, DATABASE_URL: db.url,
            S3_ENDPOINT: `http://127.0.0.1:${port}`, S3_BUCKET: 'coffer-missing', S3_REGION: 'us-east-1',
            S3_ACCESS_KEY_ID: 'S3RVER', S3_SECRET_ACCESS_KEY: 'S3RVER', S3_FORCE_PATH_STYLE: 'true',
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (out += d.toString()));
        child.on('exit', (exitCode) => resolve({ code: exitCode, output: out }));
      });
      expect(code).toBe(2);
      const lines = output.split('\n').filter((l) => l.startsWith('Coffer '));
      expect(lines).toEqual([expect.stringContaining(`Coffer cannot start: the S3 bucket "coffer-missing" at http://127.0.0.1:${port}`)]);
      expect(lines[0]).toContain('ECONNREFUSED');
      expect(output).not.toContain('S3RVER');
      expect(output).not.toContain('    at '); // no stack trace
    } finally {
      await db.drop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('the answer deadline on the PostgreSQL wire', () => {
  it('is COFFER_DB_ANSWER_TIMEOUT_MS, checked with the rest of the configuration', () => {
    expect(loadConfig({}).dbAnswerTimeoutMs).toBe(40_000);
    expect(loadConfig({ COFFER_DB_ANSWER_TIMEOUT_MS: '5000' }).dbAnswerTimeoutMs).toBe(5000);
    for (const bad of ['999', '600001', '5s', '-1']) {
      expect(() => loadConfig({ COFFER_DB_ANSWER_TIMEOUT_MS: bad }), bad).toThrow(/COFFER_DB_ANSWER_TIMEOUT_MS must be/);
    }
  });

  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  const message = (type: string, body: Buffer = Buffer.alloc(0)) => Buffer.concat([Buffer.from(type), u32(body.length + 4), body]);
  const params = Buffer.from('user\0coffer\0\0');
  const startup = Buffer.concat([u32(8 + params.length), u32(196608), params]);
  const ready = message('Z', Buffer.from('I'));
  const sync = message('S');

  it('ends a connection that owes an answer (part of one, or one of two pipelined) past the deadline, never one that owes none', async () => {
    const peers: net.Socket[] = [];
    const arrived: Array<() => void> = [];
    const server = net.createServer((peer) => {
      peers.push(peer);
      arrived.shift()?.();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const open = watchedSockets({ ms: 400 });
    const port = (server.address() as AddressInfo).port;
    /** A client connection (as postgres.js holds it) and the server's end of it, started up. */
    const connect = async () => {
      const peerArrived = new Promise<void>((resolve) => arrived.push(resolve));
      const socket = open({ host: ['127.0.0.1'], port: [port] });
      let failure: unknown;
      socket.on('error', (err) => (failure = err));
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      const received = () => new Promise<void>((resolve) => socket.once('data', () => resolve()));
      await peerArrived;
      const peer = peers.at(-1)!;
      const sent = () => new Promise<void>((resolve) => peer.once('data', () => resolve()));
      let got = sent();
      socket.write(startup);
      await got;
      let back = received();
      peer.write(Buffer.concat([message('R', u32(0)), ready]));
      await back;
      got = sent();
      socket.write(sync);
      await got;
      back = received();
      peer.write(ready);
      await back;
      return { socket, peer, closed, failure: () => failure, received, sent };
    };
    try {
      const [partial, pipelined] = await Promise.all([connect(), connect()]);
      // Answered in full: idle (in a transaction or not) for longer than the deadline, and kept.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(partial.socket.destroyed || pipelined.socket.destroyed).toBe(false);

      const started = performance.now();
      let got = partial.sent();
      partial.socket.write(message('Q', Buffer.from('select 1\0')));
      await got;
      const back = partial.received();
      partial.peer.write(Buffer.concat([Buffer.from('T'), u32(100), Buffer.alloc(10)])); // then nothing more
      await back;
      got = pipelined.sent();
      pipelined.socket.write(Buffer.concat([sync, sync]));
      await got;
      pipelined.peer.write(ready); // the first answered, the second never
      expect(await within(3000, Promise.all([partial.closed, pipelined.closed]))).not.toBe('no answer');
      expect(performance.now() - started).toBeGreaterThanOrEqual(390);
      for (const c of [partial, pipelined]) {
        expect(c.failure()).toMatchObject({ code: 'ANSWER_TIMEOUT' });
        expect(isDatabaseUnavailable(c.failure())).toBe(true);
      }
    } finally {
      for (const peer of peers) peer.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
