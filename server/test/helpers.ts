// Test helpers: a real app over a real database (PGlite in memory, or a PostgreSQL database of
// its own) and a real blob store in a temp folder, plus small clients for the API.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { createTestDatabase } from '../../tests/support/env.js';
import type { RunningServer } from '../../tests/support/server.js';
import { createApp, type CofferApp } from '../src/app.js';
import { FolderBlobStore } from '../src/blob/folder.js';
import type { BlobStore } from '../src/blob/store.js';
import { defaultConfig, type Config } from '../src/config.js';
import type { AppContext } from '../src/context.js';
import { openDatabase, type Database } from '../src/db/client.js';
import { Events } from '../src/events.js';
import { createLogger } from '../src/logger.js';

export interface TestServer extends CofferApp {
  ctx: AppContext;
  database: Database;
  blobDir: string;
  close(): Promise<void>;
}

export interface TestServerOptions {
  /** 'pglite' (default) or 'postgres' (a fresh database of its own). */
  db?: 'pglite' | 'postgres';
  config?: Partial<Config>;
  /** Wraps the folder store (e.g. in a circuit breaker, or a failing store). */
  blobs?: (folder: FolderBlobStore) => BlobStore;
  logs?: string[];
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const blobDir = await mkdtemp(join(tmpdir(), 'coffer-blobs-'));
  let drop: (() => Promise<void>) | undefined;
  let database: Database;
  if (options.db === 'postgres') {
    const created = await createTestDatabase();
    drop = created.drop;
    database = await openDatabase({ url: created.url, maxConnections: 8 });
  } else {
    database = await openDatabase({});
  }
  const folder = new FolderBlobStore(blobDir);
  const logs = options.logs;
  const ctx: AppContext = {
    config: defaultConfig({ dataDir: blobDir, ...options.config }),
    db: database.db,
    blobs: options.blobs ? options.blobs(folder) : folder,
    logger: createLogger(logs ? 'debug' : 'error', logs ? (l) => logs.push(l) : () => {}),
    events: new Events(),
    secret: new Uint8Array(randomBytes(32)),
  };
  const app = createApp(ctx);
  return {
    ...app, ctx, database, blobDir,
    close: async () => {
      await database.close();
      await drop?.();
      await rm(blobDir, { recursive: true, force: true });
    },
  };
}

export const b64 = (bytes: Uint8Array | Buffer) => Buffer.from(bytes).toString('base64url');
export const rand = (n: number) => new Uint8Array(randomBytes(n));
export const hexId = () => randomBytes(16).toString('hex');
export const chunkIdOf = () => randomBytes(32).toString('hex');

/** Encoded KDF parameters at the floor (format §4.1). */
export function kdfText(): string {
  const b = Buffer.alloc(26);
  b[0] = 1;
  b.writeUInt32BE(65536, 1);
  b.writeUInt32BE(3, 5);
  b[9] = 1;
  randomBytes(16).copy(b, 10);
  return b.toString('base64url');
}

export function digestHeader(data: Uint8Array): string {
  return `sha-256=:${createHash('sha256').update(data).digest('base64')}:`;
}

export type Fetchable = { request: (path: string, init?: RequestInit) => Response | Promise<Response> };

/** A logged-in API client (bearer token) over `app.request`. */
export class Client {
  constructor(readonly app: Fetchable, readonly token: string, readonly accountId: string, readonly rootNodeId: string,
    readonly loginKey: string, readonly email: string) {}

  request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    const init: RequestInit = { method, headers: { authorization: `Bearer ${this.token}`, ...headers } };
    if (body instanceof Uint8Array) init.body = body as Uint8Array<ArrayBuffer>;
    else if (body !== undefined) {
      init.body = JSON.stringify(body);
      (init.headers as Record<string, string>)['content-type'] = 'application/json';
    }
    return Promise.resolve(this.app.request(path, init));
  }

  async json<T = any>(method: string, path: string, body?: unknown, expectStatus?: number): Promise<T> {
    const res = await this.request(method, path, body);
    const text = await res.text();
    if (expectStatus !== undefined && res.status !== expectStatus) {
      throw new Error(`${method} ${path}: expected ${expectStatus}, got ${res.status} ${text}`);
    }
    return (text ? JSON.parse(text) : null) as T;
  }

  /** Creates a node under `parentId` (root by default) and returns its JSON. */
  async createNode(kind: 'file' | 'folder', parentId = this.rootNodeId, extra: Record<string, unknown> = {}) {
    return this.json('POST', '/api/nodes', {
      id: hexId(), parentId, kind, nameHash: chunkIdOf(), wrappedKey: b64(rand(82)), metadata: b64(rand(300)), ...extra,
    }, 201);
  }

  /** Uploads `chunks` as a new version of a file node; returns the new version number. */
  async uploadVersion(nodeId: string, chunks: Array<{ id: string; data: Uint8Array }>, baseVersion: number) {
    const { uploadId } = await this.json('POST', '/api/uploads', { nodeId }, 201);
    const { missing } = await this.json('POST', '/api/chunks/check', { uploadId, ids: chunks.map((c) => c.id) }, 200);
    for (const c of chunks.filter((c) => missing.includes(c.id))) {
      const res = await this.request('PUT', `/api/chunks/${c.id}?upload=${uploadId}`, c.data,
        { 'content-digest': digestHeader(c.data), 'content-type': 'application/octet-stream' });
      if (res.status !== 201 && res.status !== 200) throw new Error(`PUT chunk: ${res.status} ${await res.text()}`);
    }
    const { version } = await this.json('POST', `/api/nodes/${nodeId}/versions`, {
      uploadId, baseVersion, manifest: b64(rand(13 + 72 * chunks.length + 30)), chunkIds: chunks.map((c) => c.id),
      metadata: b64(rand(300)),
    }, 201);
    return version as number;
  }
}

export interface SignupOptions { client?: 'web' | 'cli'; email?: string }

export function signupBody(email: string, loginKey: string, recoveryLoginKey: string, client: 'web' | 'cli') {
  return {
    email, accountId: hexId(), kdf: kdfText(), loginKey, recoveryLoginKey, accountPublicKey: b64(rand(32)),
    slots: { passphrase: b64(rand(62)), recovery: b64(rand(62)) },
    root: { nodeId: hexId(), wrappedKey: b64(rand(82)), metadata: b64(rand(300)) },
    client,
  };
}

/** Signs up a fresh account with a CLI session and returns a client for it. */
export async function signup(app: Fetchable, email = `u${hexId()}@example.test`): Promise<Client> {
  const loginKey = b64(rand(32));
  const res = await app.request('/api/auth/signup', {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify(signupBody(email, loginKey, b64(rand(32)), 'cli')),
  });
  const body = await res.json() as { token: string; accountId: string; rootNodeId: string };
  if (res.status !== 201) throw new Error(`signup failed: ${res.status} ${JSON.stringify(body)}`);
  return new Client(app, body.token, body.accountId, body.rootNodeId, loginKey, email);
}

// ---- sessions across server processes (session-revoke.test.ts, devices.test.ts) -----------------

/** `Client.app` for a server process reached over HTTP; a failed fetch says how the process is. */
export const over = (server: RunningServer): Fetchable => ({
  request: (path: string, init?: RequestInit) => fetch(`${server.url}${path}`, init).catch((err: unknown) => {
    const state = server.process.exitCode ?? server.process.signalCode ?? 'running';
    throw new Error(`${server.url}${path}: ${(err as Error).message} (server ${state}):\n${server.output().slice(-4000)}`);
  }),
});

/** The same session (token) used against another process. */
export const on = (server: RunningServer, c: Client) => new Client(over(server), c.token, c.accountId, c.rootNodeId, c.loginKey, c.email);

/** Another session of `c`'s account (a command-line log-in), through `app`. */
export async function loginAgain(app: Fetchable, c: Client): Promise<{ client: Client; sessionId: string }> {
  const res = await app.request('/api/auth/login', {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: c.email, loginKey: c.loginKey, client: 'cli' }),
  });
  const body = await res.json() as { token: string; sessionId: string };
  expect(res.status, JSON.stringify(body)).toBe(200);
  return { client: new Client(app, body.token, c.accountId, c.rootNodeId, c.loginKey, c.email), sessionId: body.sessionId };
}

/** Polls until `c`'s session is refused (401 UNAUTHENTICATED); returns how long that took, in ms. */
export async function refusedWithin(c: Client, ms: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    const res = await c.request('GET', '/api/account');
    const body = await res.json() as { code?: string };
    if (res.status === 401) {
      expect(body.code).toBe('UNAUTHENTICATED');
      return Date.now() - started;
    }
    expect(res.status).toBe(200);
    if (Date.now() - started > ms) throw new Error(`the session was still honoured after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
