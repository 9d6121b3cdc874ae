// The orphan sweep (services/gc.ts, sweepBlobs): blobs that no chunk row names are removed once past
// the grace period, and a chunk stored again while the sweep runs keeps its blob, whichever way the
// two interleave. PGlite and the folder store; the stores' part of it is in blob-contract.test.ts.
import { readdir, utimes, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FolderBlobStore } from '../src/blob/folder.js';
import { blobKey, type Blob, type BlobStore } from '../src/blob/store.js';
import { KeyFilter, sweepBlobs } from '../src/services/gc.js';
import { chunkIdOf, digestHeader, rand, signup, startTestServer, type Client, type TestServer } from './helpers.js';

/** The real folder store, with a hook run once after the next blob write. */
class HookedStore implements BlobStore {
  readonly kind = 'folder';
  afterPut: (() => Promise<void>) | null = null;
  /** The sweep's next putBack or drop fails (the store failing while a sweep decides). */
  failNextDecision = false;
  constructor(readonly inner: FolderBlobStore) {}
  get sweep() {
    const inner = this.inner.sweep;
    const failing = <A extends unknown[]>(f: (...args: A) => Promise<void>) => async (...args: A) => {
      if (this.failNextDecision) {
        this.failNextDecision = false;
        throw new Error('the store failed');
      }
      await f(...args);
    };
    return {
      list: () => inner.list(), clearUnfinished: (before: Date) => inner.clearUnfinished(before),
      setAside: (key: string) => inner.setAside(key), putBackAll: (before: Date) => inner.putBackAll(before),
      putBack: failing((key: string) => inner.putBack(key)), drop: failing((key: string) => inner.drop(key)),
    };
  }
  async put(key: string, data: Uint8Array) {
    await this.inner.put(key, data);
    const hook = this.afterPut;
    this.afterPut = null;
    await hook?.();
  }
  get(key: string): Promise<Blob | null> { return this.inner.get(key); }
  has(key: string) { return this.inner.has(key); }
  delete(key: string) { return this.inner.delete(key); }
  ping() { return this.inner.ping(); }
}

describe('orphan blob sweep (PGlite, folder store)', () => {
  let s: TestServer;
  let store: HookedStore;
  let c: Client;

  beforeAll(async () => {
    s = await startTestServer({ blobs: (folder) => (store = new HookedStore(folder)) });
    c = await signup(s.app);
  });
  afterAll(() => s?.close());

  const pathOf = (key: string) => join(s.blobDir, key.slice(0, 2), key.slice(2, 4), key);
  const twoHoursAgo = async (...paths: string[]) => {
    const then = new Date(Date.now() - 2 * 3600_000);
    for (const p of paths) await utimes(p, then, then);
  };
  const newUpload = async () => {
    const file = await c.createNode('file');
    return (await c.json('POST', '/api/uploads', { nodeId: file.id }, 201)).uploadId as string;
  };
  const put = (uploadId: string, chunk: { id: string; data: Uint8Array }) =>
    c.request('PUT', `/api/chunks/${chunk.id}?upload=${uploadId}`, chunk.data, { 'content-digest': digestHeader(chunk.data) });
  const download = async (id: string) => {
    const res = await c.request('GET', `/api/chunks/${id}`);
    expect(res.status).toBe(200);
    return new Uint8Array(await res.arrayBuffer());
  };
  /** A blob with no row, as a PUT whose last statement failed leaves it, last written two hours ago. */
  const orphan = async () => {
    const chunk = { id: chunkIdOf(), data: rand(3000) };
    const key = blobKey(c.accountId, chunk.id);
    await store.inner.put(key, chunk.data);
    await twoHoursAgo(pathOf(key));
    return { ...chunk, key };
  };

  it('removes blobs no row names once past the grace period, and what unfinished writes left; keeps the rest', async () => {
    const uploadId = await newUpload();
    const stored = { id: chunkIdOf(), data: rand(3000) };
    expect((await put(uploadId, stored)).status).toBe(201);
    const storedKey = blobKey(c.accountId, stored.id);
    await twoHoursAgo(pathOf(storedKey));

    const fresh = { id: chunkIdOf(), data: rand(3000) };
    const freshKey = blobKey(c.accountId, fresh.id);
    await store.inner.put(freshKey, fresh.data); // no row, but within the grace period
    const old = await orphan();
    const temp = `${pathOf(old.key)}.0123456789ab.tmp`;
    await writeFile(temp, 'half a blob');
    const freshTemp = `${pathOf(freshKey)}.ba9876543210.tmp`;
    await writeFile(freshTemp, 'a write going on');
    await twoHoursAgo(temp);

    const result = await sweepBlobs(s.ctx, { graceSeconds: 3600 });
    expect(result).toMatchObject({ orphanBlobs: 1, unfinishedWrites: 1, keptBlobs: 0 });
    expect(await store.has(old.key)).toBe(false);
    expect(await store.has(freshKey)).toBe(true);
    const names = await readdir(join(s.blobDir, old.key.slice(0, 2), old.key.slice(2, 4)));
    expect(names).not.toContain(`${old.key}.0123456789ab.tmp`);
    expect(await readdir(join(s.blobDir, freshKey.slice(0, 2), freshKey.slice(2, 4)))).toContain(`${freshKey}.ba9876543210.tmp`);
    expect(await download(stored.id)).toEqual(stored.data);
    expect(await readdir(join(s.blobDir, '.aside'))).toEqual([]);
    await store.delete(freshKey);
  });

  it('puts a blob back when a row naming it appears while the blob is aside', async () => {
    const old = await orphan();
    const uploadId = await newUpload();
    const result = await sweepBlobs(s.ctx, {
      graceSeconds: 3600,
      afterSetAside: async () => {
        expect(await store.has(old.key)).toBe(false);
        // A PUT of this chunk that wrote its blob (this one) and checked it before the sweep set it
        // aside, and whose row came after the sweep read every row: only its row is left to appear.
        await s.ctx.db.execute(sql`insert into chunks (account_id, id, size) values (${c.accountId}, ${old.id}, ${old.data.byteLength})`);
        await s.ctx.db.execute(sql`insert into upload_chunks (upload_id, account_id, chunk_id) values (${uploadId}, ${c.accountId}, ${old.id})`);
      },
    });
    expect(result).toMatchObject({ orphanBlobs: 0, keptBlobs: 1 });
    expect(await download(old.id)).toEqual(old.data);
    expect(await readdir(join(s.blobDir, '.aside'))).toEqual([]);
  });

  it('puts back what it set aside when it stops midway, so a chunk named meanwhile is not hidden until the next sweep', async () => {
    const [live, dead] = [await orphan(), await orphan()];
    const uploadId = await newUpload();
    await expect(sweepBlobs(s.ctx, {
      graceSeconds: 3600,
      afterSetAside: async () => {
        await s.ctx.db.execute(sql`insert into chunks (account_id, id, size) values (${c.accountId}, ${live.id}, ${live.data.byteLength})`);
        await s.ctx.db.execute(sql`insert into upload_chunks (upload_id, account_id, chunk_id) values (${uploadId}, ${c.accountId}, ${live.id})`);
        store.failNextDecision = true;
      },
    })).rejects.toThrow('the store failed');
    expect(await download(live.id)).toEqual(live.data);
    expect(await store.has(dead.key)).toBe(true); // an orphan too, until a sweep runs through
    expect(await readdir(join(s.blobDir, '.aside'))).toEqual([]);
    await store.delete(dead.key);
  });

  it('keeps the blob of a chunk stored again while the old blob is aside', async () => {
    const old = await orphan();
    const uploadId = await newUpload();
    const again = { id: old.id, data: rand(3000) }; // another sealing of the same chunk
    const result = await sweepBlobs(s.ctx, {
      graceSeconds: 3600,
      afterSetAside: async () => {
        expect((await put(uploadId, again)).status).toBe(201);
      },
    });
    expect(result).toMatchObject({ orphanBlobs: 0, keptBlobs: 1 });
    expect(await download(old.id)).toEqual(again.data);
  });

  it('has a PUT write its blob again when the sweep dropped it between the write and the row', async () => {
    const uploadId = await newUpload();
    const chunk = { id: chunkIdOf(), data: rand(3000) };
    let swept: Awaited<ReturnType<typeof sweepBlobs>> | undefined;
    store.afterPut = async () => {
      await new Promise((r) => setTimeout(r, 20)); // the blob is now older than "now" to the sweep
      swept = await sweepBlobs(s.ctx, { graceSeconds: 0 });
    };
    expect((await put(uploadId, chunk)).status).toBe(201);
    expect(swept).toMatchObject({ orphanBlobs: 1, keptBlobs: 0 });
    expect(await download(chunk.id)).toEqual(chunk.data);
  });

  it('puts back, at its start, what a sweep that stopped midway left aside, not what a running one has', async () => {
    const uploadId = await newUpload();
    const [stopped, running] = [0, 1].map(() => ({ id: chunkIdOf(), data: rand(3000) }));
    for (const chunk of [stopped!, running!]) {
      expect((await put(uploadId, chunk)).status).toBe(201);
      expect(await store.sweep.setAside(blobKey(c.accountId, chunk.id))).toBe(true);
    }
    await twoHoursAgo(join(s.blobDir, '.aside', blobKey(c.accountId, stopped!.id)));
    const result = await sweepBlobs(s.ctx, { graceSeconds: 3600 });
    expect(result.putBackFromEarlier).toBe(1);
    expect(await download(stopped!.id)).toEqual(stopped!.data);
    expect(await store.has(blobKey(c.accountId, running!.id))).toBe(false); // still aside: its sweep decides
    await store.sweep.putBack(blobKey(c.accountId, running!.id));
    expect(await download(running!.id)).toEqual(running!.data);
  });
});

describe('the sweep\'s key filter', () => {
  it('holds every key added, and few others', () => {
    const key = (i: number) => createHash('sha256').update(`key ${i}`).digest('hex');
    const filter = new KeyFilter(20_000);
    for (let i = 0; i < 20_000; i++) filter.add(key(i));
    for (let i = 0; i < 20_000; i++) expect(filter.has(key(i))).toBe(true);
    let falseHits = 0;
    for (let i = 20_000; i < 40_000; i++) if (filter.has(key(i))) falseHits += 1;
    expect(falseHits / 20_000).toBeLessThan(0.03); // ~1 % expected at 10 bits a key
    expect(new KeyFilter(0).has(key(0))).toBe(false);
  });
});
