// The collector must never delete a chunk that an upload or a commit is starting to rely on.
// These run on real PostgreSQL, where transactions really overlap.
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_POSTGRES, postgresUrl } from '../../tests/support/env.js';
import type { FolderBlobStore } from '../src/blob/folder.js';
import { blobKey, type Blob, type BlobStore } from '../src/blob/store.js';
import { queryRows } from '../src/db/client.js';
import { checkChunks } from '../src/services/chunks.js';
import { collectChunk, collectGarbage } from '../src/services/gc.js';
import { chunkIdOf, digestHeader, rand, signup, startTestServer, type Client, type TestServer } from './helpers.js';

/** The real folder store, whose deletes can be held at a gate (to pause the collector mid-way). */
class GatedStore implements BlobStore {
  readonly kind = 'folder';
  gate: Promise<void> | null = null;
  deleting: (() => void) | null = null;
  constructor(readonly inner: FolderBlobStore) {}
  put(key: string, data: Uint8Array) { return this.inner.put(key, data); }
  get(key: string): Promise<Blob | null> { return this.inner.get(key); }
  has(key: string) { return this.inner.has(key); }
  ping() { return this.inner.ping(); }
  async delete(key: string) {
    this.deleting?.();
    if (this.gate) await this.gate;
    return this.inner.delete(key);
  }
}

async function waitForLockWait(s: TestServer): Promise<void> {
  for (;;) {
    const [row] = await queryRows<{ n: number }>(s.ctx.db, sql`select count(*)::int as n from pg_locks where not granted`);
    if (row && row.n > 0) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(!postgresUrl)(`GC against concurrent uploads (PostgreSQL) ${postgresUrl ? '' : NO_POSTGRES}`, () => {
  let s: TestServer;
  let store: GatedStore;
  let c: Client;

  beforeAll(async () => {
    s = await startTestServer({ db: 'postgres', blobs: (folder) => (store = new GatedStore(folder)) });
    c = await signup(s.app);
  });
  afterAll(() => s?.close());

  /** A stored chunk that nothing references any more and that is past any grace period. */
  async function abandonedChunk(): Promise<{ id: string; data: Uint8Array }> {
    const file = await c.createNode('file');
    const { uploadId } = await c.json('POST', '/api/uploads', { nodeId: file.id }, 201);
    const chunk = { id: chunkIdOf(), data: rand(2048) };
    const res = await c.request('PUT', `/api/chunks/${chunk.id}?upload=${uploadId}`, chunk.data, { 'content-digest': digestHeader(chunk.data) });
    expect(res.status).toBe(201);
    await s.ctx.db.execute(sql`delete from uploads where id = ${uploadId}`);
    await s.ctx.db.execute(sql`update chunks set touched_at = now() - interval '2 hours' where id = ${chunk.id}`);
    return chunk;
  }

  it('keeps a chunk that an upload checks as present while the collector runs', async () => {
    const chunk = await abandonedChunk();
    const file = await c.createNode('file');
    const { uploadId } = await c.json('POST', '/api/uploads', { nodeId: file.id }, 201);
    let release!: () => void;
    let attached!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const isAttached = new Promise<void>((r) => (attached = r));
    // The check's statement, inside a transaction that stays open until released.
    const check = s.ctx.db.transaction(async (tx) => {
      const present = await checkChunks(tx, c.accountId, uploadId, [chunk.id], 3600);
      attached();
      await held;
      return present.has(chunk.id);
    });
    await isAttached;
    const gc = collectChunk(s.ctx, c.accountId, chunk.id, 60);
    await waitForLockWait(s); // the collector waits for the check's row lock
    release();
    expect(await check).toBe(true);
    expect(await gc).toBeNull();
    expect(await store.has(blobKey(c.accountId, chunk.id))).toBe(true);
    const res = await c.request('GET', `/api/chunks/${chunk.id}`);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(chunk.data);
  });

  it('makes a check that comes during a collection report the chunk missing, and the re-upload survives', async () => {
    const chunk = await abandonedChunk();
    let release!: () => void;
    store.gate = new Promise<void>((r) => (release = r));
    const deleting = new Promise<void>((r) => (store.deleting = r));
    const gc = collectChunk(s.ctx, c.accountId, chunk.id, 60);
    await deleting; // the collector holds the row lock and is about to delete the blob
    const file = await c.createNode('file');
    const { uploadId } = await c.json('POST', '/api/uploads', { nodeId: file.id }, 201);
    const check = c.json('POST', '/api/chunks/check', { uploadId, ids: [chunk.id] }, 200);
    await waitForLockWait(s);
    store.gate = null;
    store.deleting = null;
    release();
    expect(await gc).toBe(2048);
    expect((await check).missing).toEqual([chunk.id]);
    const res = await c.request('PUT', `/api/chunks/${chunk.id}?upload=${uploadId}`, chunk.data, { 'content-digest': digestHeader(chunk.data) });
    expect(res.status).toBe(201);
    expect(await store.has(blobKey(c.accountId, chunk.id))).toBe(true);
  });

  it('never loses a chunk that a live upload holds, with collections and checks racing (seeded)', async () => {
    const chunks = await Promise.all(Array.from({ length: 12 }, () => abandonedChunk()));
    const file = await c.createNode('file');
    const { uploadId } = await c.json('POST', '/api/uploads', { nodeId: file.id }, 201);
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    const checks: Array<Promise<{ id: string; present: boolean }>> = [];
    const collections: Array<Promise<unknown>> = [];
    for (const chunk of chunks) {
      checks.push(c.json('POST', '/api/chunks/check', { uploadId, ids: [chunk.id] }, 200)
        .then((r: { missing: string[] }) => ({ id: chunk.id, present: !r.missing.includes(chunk.id) })));
      if (next() % 2 === 0) collections.push(collectGarbage(s.ctx, { graceSeconds: 0 }));
    }
    collections.push(collectGarbage(s.ctx, { graceSeconds: 0 }));
    const outcomes = await Promise.all(checks);
    await Promise.all(collections);
    await collectGarbage(s.ctx, { graceSeconds: 0 });
    for (const { id, present } of outcomes) {
      // Present means the upload holds it: it must still be there. Missing means it was collected.
      expect(await store.has(blobKey(c.accountId, id))).toBe(present);
      expect((await c.request('GET', `/api/chunks/${id}`)).status).toBe(present ? 200 : 404);
    }
  });
});
