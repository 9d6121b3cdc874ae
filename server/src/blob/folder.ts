// Blob store in a folder: `<root>/ab/cd/<key>`. Writes go to a temp file in the same folder,
// are fsynced, then renamed over the final name, so a crash never leaves a partial blob; the
// folder is fsynced after the rename (and a new shard folder's parents after it is made), so a
// blob whose write was acknowledged is still there after a crash. The orphan sweep sets blobs
// aside in `<root>/.aside/<key>`.
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readdir, rename, rm, stat, unlink, utimes, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { BufferPool } from '@coffer/crypto-core/buffer-pool';
import { syncPath } from '../fs-sync.js';
import { assertKey, isKey, type Blob, type BlobStore, type BlobSweep } from './store.js';

// Blobs up to this size (every chunk record) are read in one call rather than streamed.
const WHOLE_READ_MAX = 8 * 1024 * 1024;

const SHARD = /^[0-9a-f]{2}$/;
const TEMP = /^[0-9a-f]{64}\.[0-9a-f]{12}\.tmp$/;

/** A folder's entries; none when it does not exist. */
async function entries(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** Last write time, or null when the file is gone. */
async function modified(path: string): Promise<Date | null> {
  try {
    return (await stat(path)).mtime;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

async function unlinkIfThere(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

function oneShot(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
  });
}

export class FolderBlobStore implements BlobStore, BlobSweep {
  readonly kind = 'folder';
  readonly sweep: BlobSweep = this;

  // Shard folders known to exist, so a write does not ask the file system again (a folder removed
  // behind our back is re-created: see put).
  readonly #dirs = new Set<string>();
  // Buffers for whole reads, reused once their response has closed (Blob.release): a fresh ~1 MiB
  // buffer per chunk GET brought V8's full collections, a quarter of the server's time in a CLI get.
  readonly #buffers = new BufferPool(64 * 1024 * 1024);

  constructor(readonly root: string) {}

  #path(key: string): string {
    assertKey(key);
    return join(this.root, key.slice(0, 2), key.slice(2, 4), key);
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    const path = this.#path(key);
    const dir = dirname(path);
    const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    if (!this.#dirs.has(dir)) await this.#makeDir(dir);
    let file: FileHandle;
    try {
      file = await open(temp, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await this.#makeDir(dir);
      file = await open(temp, 'wx');
    }
    try {
      await file.writeFile(data);
      await file.sync();
    } catch (err) {
      await file.close();
      await rm(temp, { force: true });
      throw err;
    }
    await file.close();
    try {
      await rename(temp, path);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
    await syncPath(dir);
  }

  async #makeDir(dir: string): Promise<void> {
    const first = await mkdir(dir, { recursive: true });
    // Make the new entries durable: the parent of each folder made. Usually only the second level
    // is new (one fsync). When mkdir made nothing, another request may have made the folders a
    // moment ago without syncing them yet, so both parents are synced.
    await syncPath(dirname(dir));
    if (first !== dir) await syncPath(dirname(dirname(dir)));
    this.#dirs.add(dir);
  }

  async get(key: string): Promise<Blob | null> {
    let file: FileHandle;
    try {
      file = await open(this.#path(key), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    let streaming = false;
    try {
      const { size } = await file.stat();
      if (size > WHOLE_READ_MAX) {
        streaming = true;
        return { size, stream: Readable.toWeb(file.createReadStream()) as ReadableStream<Uint8Array> };
      }
      // Blobs are written once and renamed into place, so the size cannot change under us.
      const bytes = this.#buffers.take(size);
      for (let at = 0; at < size; ) {
        const { bytesRead } = await file.read(bytes, at, size - at, at);
        if (bytesRead === 0) throw new Error(`blob ${key} ended after ${at} of ${size} bytes`);
        at += bytesRead;
      }
      let released = false;
      const release = () => {
        if (!released) this.#buffers.give(bytes);
        released = true;
      };
      return { size, bytes, release, get stream() { return oneShot(bytes); } };
    } finally {
      if (!streaming) await file.close();
    }
  }

  async has(key: string): Promise<boolean> {
    try {
      await stat(this.#path(key));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await unlinkIfThere(this.#path(key));
  }

  // ---- the orphan sweep (BlobSweep) ----

  get #aside(): string {
    return join(this.root, '.aside');
  }

  /** Every file in the shard folders, by folder and name. */
  async *#files(): AsyncIterable<{ dir: string; name: string }> {
    for (const a of await entries(this.root)) {
      if (!SHARD.test(a)) continue;
      for (const b of await entries(join(this.root, a))) {
        if (!SHARD.test(b)) continue;
        const dir = join(this.root, a, b);
        for (const name of await entries(dir)) yield { dir, name };
      }
    }
  }

  async *list(): AsyncIterable<{ key: string; modifiedAt: Date }> {
    for await (const { dir, name } of this.#files()) {
      if (!isKey(name)) continue;
      const modifiedAt = await modified(join(dir, name));
      if (modifiedAt) yield { key: name, modifiedAt };
    }
  }

  async setAside(key: string): Promise<boolean> {
    const path = this.#path(key);
    await mkdir(this.#aside, { recursive: true });
    try {
      await rename(path, join(this.#aside, key));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    const now = new Date();
    await utimes(join(this.#aside, key), now, now); // when it was set aside (putBackAll)
    return true;
  }

  async putBack(key: string): Promise<void> {
    const path = this.#path(key);
    const aside = join(this.#aside, key);
    try {
      await link(aside, path); // never replaces a blob stored meanwhile
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return unlinkIfThere(aside);
      if (code !== 'ENOENT') throw err;
      if (!(await modified(aside))) return; // not aside any more: another sweep put it back
      await this.#makeDir(dirname(path)); // its shard folder was removed
      return this.putBack(key);
    }
    await syncPath(dirname(path));
    await unlinkIfThere(aside);
  }

  async drop(key: string): Promise<void> {
    assertKey(key);
    await unlinkIfThere(join(this.#aside, key));
  }

  async putBackAll(before: Date): Promise<number> {
    let n = 0;
    for (const name of await entries(this.#aside)) {
      if (!isKey(name)) continue;
      const at = await modified(join(this.#aside, name));
      if (!at || at >= before) continue;
      await this.putBack(name);
      n += 1;
    }
    return n;
  }

  async clearUnfinished(before: Date): Promise<number> {
    let n = 0;
    for await (const { dir, name } of this.#files()) {
      if (!TEMP.test(name)) continue;
      const at = await modified(join(dir, name));
      if (at && at < before) {
        await unlinkIfThere(join(dir, name));
        n += 1;
      }
    }
    return n;
  }

  async ping(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    await stat(this.root);
  }
}
