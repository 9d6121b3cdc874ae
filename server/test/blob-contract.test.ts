// One contract for every blob store: the folder store and the S3 store (against a real s3rver).
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FolderBlobStore } from '../src/blob/folder.js';
import { S3BlobStore } from '../src/blob/s3.js';
import { blobKey, type BlobStore } from '../src/blob/store.js';
import { chunkIdOf, hexId, rand } from './helpers.js';
import { startS3, type RunningS3 } from './s3.js';

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function blobStoreContract(name: string, open: () => Promise<{ store: BlobStore; close: () => Promise<void> }>) {
  describe(`blob store contract: ${name}`, () => {
    let store: BlobStore;
    let close: () => Promise<void>;
    beforeAll(async () => ({ store, close } = await open()));
    afterAll(() => close());

    it('stores, reads back, overwrites idempotently and deletes', async () => {
      const key = blobKey(hexId(), chunkIdOf());
      const data = rand(300_000);
      expect(await store.has(key)).toBe(false);
      expect(await store.get(key)).toBeNull();
      await store.put(key, data);
      expect(await store.has(key)).toBe(true);
      const blob = (await store.get(key))!;
      expect(blob.size).toBe(data.byteLength);
      expect(await readAll(blob.stream)).toEqual(data);
      await store.put(key, data);
      expect(await readAll((await store.get(key))!.stream)).toEqual(data);
      await store.delete(key);
      expect(await store.has(key)).toBe(false);
      await store.delete(key); // deleting a missing blob is fine
      await store.ping();
    });

    it('keeps concurrent writers of different keys apart', async () => {
      const items = Array.from({ length: 16 }, () => ({ key: blobKey(hexId(), chunkIdOf()), data: rand(10_000) }));
      await Promise.all(items.map((i) => store.put(i.key, i.data)));
      for (const i of items) expect(await readAll((await store.get(i.key))!.stream)).toEqual(i.data);
    });

    it('reads back blobs from one byte to larger than any chunk, whole or streamed, the same bytes', async () => {
      for (const size of [1, 4 * 1024 * 1024 + 1024, 9 * 1024 * 1024]) {
        const key = blobKey(hexId(), chunkIdOf());
        const data = rand(size);
        await store.put(key, data);
        const blob = (await store.get(key))!;
        expect(blob.size).toBe(size);
        // (Buffer.equals: toEqual walks multi-MiB arrays element by element, for minutes.)
        if (blob.bytes) expect(Buffer.from(blob.bytes).equals(data)).toBe(true);
        expect(Buffer.from(await readAll(blob.stream)).equals(data)).toBe(true);
        await store.delete(key);
      }
    });

    it('lists blobs for the orphan sweep, sets them aside, and puts them back or drops them', async () => {
      const sweep = store.sweep!;
      const read = async (key: string) => readAll((await store.get(key))!.stream);
      const [a, b, c] = [0, 1, 2].map(() => ({ key: blobKey(hexId(), chunkIdOf()), data: rand(5000) }));
      for (const x of [a, b, c]) await store.put(x!.key, x!.data);
      const listed = new Map<string, Date>();
      for await (const x of sweep.list()) listed.set(x.key, x.modifiedAt);
      for (const x of [a, b, c]) expect(Math.abs(listed.get(x!.key)!.getTime() - Date.now())).toBeLessThan(600_000);

      expect(await sweep.setAside(a!.key)).toBe(true);
      expect(await store.has(a!.key)).toBe(false);
      expect(await store.get(a!.key)).toBeNull();
      for await (const x of sweep.list()) expect(x.key).not.toBe(a!.key);
      expect(await sweep.setAside(a!.key)).toBe(false); // nothing there any more
      await sweep.putBack(a!.key);
      expect(await read(a!.key)).toEqual(a!.data);

      // A blob stored under the key while the other was aside stays.
      expect(await sweep.setAside(b!.key)).toBe(true);
      const newer = rand(5000);
      await store.put(b!.key, newer);
      await sweep.putBack(b!.key);
      expect(await read(b!.key)).toEqual(newer);

      expect(await sweep.setAside(a!.key)).toBe(true);
      await sweep.drop(a!.key);
      await sweep.putBack(a!.key); // nothing aside: nothing to put back
      expect(await store.has(a!.key)).toBe(false);

      // What a sweep that stopped midway left aside; not what one running now has there.
      expect(await sweep.setAside(c!.key)).toBe(true);
      expect(await sweep.putBackAll(new Date(Date.now() - 600_000))).toBe(0);
      expect(await store.has(c!.key)).toBe(false);
      expect(await sweep.putBackAll(new Date(Date.now() + 600_000))).toBe(1);
      expect(await read(c!.key)).toEqual(c!.data);
      for (const x of [a, b, c]) await store.delete(x!.key);
    });

    it('refuses keys that are not 64 lowercase hex digits', async () => {
      for (const bad of ['../etc/passwd', 'ABC', '', 'a'.repeat(63), `${'a'.repeat(63)}/`]) {
        await expect(store.put(bad, rand(1))).rejects.toThrow(TypeError);
      }
    });
  });
}

blobStoreContract('folder', async () => {
  const root = await mkdtemp(join(tmpdir(), 'coffer-folder-'));
  return { store: new FolderBlobStore(root), close: () => rm(root, { recursive: true, force: true }) };
});

let s3: RunningS3 | undefined;
blobStoreContract('s3 (s3rver)', async () => {
  s3 = await startS3();
  const store = new S3BlobStore(s3.config);
  return { store, close: async () => { await store.close(); await s3!.stop(); } };
});

describe('folder store read buffers', () => {
  it('reuses a read buffer only after it was handed back, never while it is in use', async () => {
    const root = await mkdtemp(join(tmpdir(), 'coffer-folder-'));
    try {
      const store = new FolderBlobStore(root);
      const key = (s: string) => createHash('sha256').update(s).digest('hex');
      const [a, b, c] = [rand(300_000), rand(310_000), rand(305_000)]; // one size class (256 KiB steps)
      await Promise.all([store.put(key('a'), a), store.put(key('b'), b), store.put(key('c'), c)]);
      const first = (await store.get(key('a')))!;
      const second = (await store.get(key('b')))!; // `first` is still in use: a buffer of its own
      expect(second.bytes!.buffer).not.toBe(first.bytes!.buffer);
      expect(Buffer.from(first.bytes!).equals(a)).toBe(true);
      expect(Buffer.from(second.bytes!).equals(b)).toBe(true);
      first.release!();
      first.release!(); // twice is once
      const third = (await store.get(key('c')))!;
      expect(third.bytes!.buffer).toBe(first.bytes!.buffer);
      expect(Buffer.from(third.bytes!).equals(c)).toBe(true);
      const fourth = (await store.get(key('a')))!; // the one handed back twice is not handed out twice
      expect(fourth.bytes!.buffer).not.toBe(third.bytes!.buffer);
      expect(Buffer.from(fourth.bytes!).equals(a)).toBe(true);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('folder store layout', () => {
  it('shards by key prefix, writes atomically and leaves no temp files', async () => {
    const root = await mkdtemp(join(tmpdir(), 'coffer-folder-'));
    try {
      const store = new FolderBlobStore(root);
      const key = createHash('sha256').update('x').digest('hex');
      await store.put(key, rand(1000));
      expect(await readdir(join(root, key.slice(0, 2), key.slice(2, 4)))).toEqual([key]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
