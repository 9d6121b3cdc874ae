import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CircuitBreakerStore } from '../src/blob/breaker.js';
import { FolderBlobStore } from '../src/blob/folder.js';
import { blobKey, type Blob, type BlobStore } from '../src/blob/store.js';
import { chunkIdOf, hexId, rand } from './helpers.js';

/** The real folder store behind a switch that makes every call fail. */
class Switchable implements BlobStore {
  readonly kind = 'folder';
  down = false;
  calls = 0;
  constructor(readonly inner: BlobStore) {}
  async #go<T>(fn: () => Promise<T>): Promise<T> {
    this.calls += 1;
    if (this.down) throw new Error('store down');
    return fn();
  }
  put(k: string, d: Uint8Array) { return this.#go(() => this.inner.put(k, d)); }
  get(k: string): Promise<Blob | null> { return this.#go(() => this.inner.get(k)); }
  has(k: string) { return this.#go(() => this.inner.has(k)); }
  delete(k: string) { return this.#go(() => this.inner.delete(k)); }
  ping() { return this.#go(() => this.inner.ping()); }
}

describe('circuit breaker', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'coffer-breaker-'));
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('opens after the threshold, fails fast while open, and closes after a successful trial', async () => {
    let now = 1_000_000;
    const store = new Switchable(new FolderBlobStore(root));
    const breaker = new CircuitBreakerStore(store, { threshold: 2, cooldownMs: 10_000, now: () => now });
    const key = blobKey(hexId(), chunkIdOf());
    store.down = true;
    for (let i = 0; i < 2; i++) await expect(breaker.has(key)).rejects.toMatchObject({ status: 503, code: 'STORAGE_UNAVAILABLE' });
    expect(breaker.open).toBe(true);
    const callsWhenOpened = store.calls;
    const fast = await breaker.put(key, rand(10)).catch((e: unknown) => e);
    expect(fast).toMatchObject({ status: 503, headers: { 'Retry-After': '10' } });
    expect(store.calls).toBe(callsWhenOpened); // the store was not touched
    store.down = false;
    now += 10_001;
    expect(breaker.open).toBe(false);
    await breaker.put(key, rand(10));
    expect(await breaker.has(key)).toBe(true);
  });

  it('says in Retry-After when to come back: soon below the threshold, else the time left until the trial', async () => {
    let now = 2_000_000;
    const store = new Switchable(new FolderBlobStore(root));
    const breaker = new CircuitBreakerStore(store, { threshold: 3, cooldownMs: 10_000, now: () => now });
    const key = blobKey(hexId(), chunkIdOf());
    const retryAfter = async () => ((await breaker.has(key).catch((e: unknown) => e)) as { headers: Record<string, string> }).headers['Retry-After'];
    store.down = true;
    // One failure, the breaker closed: the next call goes to the store (before: 10, the cooldown).
    expect(await retryAfter()).toBe('1');
    expect(await retryAfter()).toBe('1');
    expect(await retryAfter()).toBe('10'); // the third opens it
    now += 3_200;
    expect(await retryAfter()).toBe('7');
    now += 6_500;
    expect(await retryAfter()).toBe('1');
    now += 400; // cooled down: the trial fails and opens it again for the whole cooldown
    expect(await retryAfter()).toBe('10');
  });
});
