// Streaming encryption and decryption of whole files (format §6, §7) with bounded memory.
import { fail } from './errors';
import { vaultInternals, type Vault } from './account';
import { checkEntry, decryptChunk, sealPaddedChunk, type ManifestEntry } from './chunks';
import { CHUNK_PARAMS, createChunker, type ChunkParams } from './fastcdc';
import { padLen } from './padding';
import type { Manifest } from './manifest';

export interface EncryptedChunk { entry: ManifestEntry; record: Uint8Array; offset: number }

export interface EncryptOptions {
  /** Chunks being sealed at once, 1 to 64 (default 4). */
  concurrency?: number;
  /**
   * Gives the buffer, of exactly `length` bytes, that the next chunk's record is built in, instead
   * of a new one; the caller may reuse a buffer once it is done with the record built in it. A
   * backend whose sealChunk builds the record itself (on another thread) does not call it.
   */
  recordBuffer?: (length: number) => Uint8Array;
}

const DEFAULT_CONCURRENCY = 4;

function checkConcurrency(c: number | undefined): number {
  if (c === undefined) return DEFAULT_CONCURRENCY;
  if (!Number.isInteger(c) || c < 1 || c > 64) throw new RangeError('opts.concurrency must be an integer from 1 to 64');
  return c;
}

async function* pieces(source: AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  if (typeof (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === 'function') {
    for await (const piece of source as AsyncIterable<Uint8Array>) yield piece;
    return;
  }
  if (typeof (source as ReadableStream<Uint8Array>)?.getReader !== 'function') {
    throw new TypeError('source must be an AsyncIterable<Uint8Array> or a ReadableStream<Uint8Array>');
  }
  const reader = (source as ReadableStream<Uint8Array>).getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}

const SCAN_STEP = 65536;

/**
 * Cuts the source into chunks, each returned as its padded body (format §3) in a pooled buffer:
 * input is copied once, straight into the buffer that will be encrypted, and only the few bytes
 * read past a cut are moved to the next buffer. At most `max` bytes of input are held.
 */
async function* paddedChunks(
  source: AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>, vault: Vault, params: ChunkParams, pool: BodyPool,
): AsyncGenerator<{ body: Uint8Array; plainLength: number; buffer: ArrayBuffer }> {
  const scanner = createChunker(vaultInternals(vault).gear, params).scanner();
  let buffer = pool.take();
  let cur = new Uint8Array(buffer);
  let filled = 0;
  const emit = (length: number) => {
    const done = { buffer, body: new Uint8Array(buffer, 0, padLen(length + 1)), plainLength: length };
    const previous = cur;
    buffer = pool.take();
    cur = new Uint8Array(buffer);
    cur.set(previous.subarray(length, filled)); // bytes past the cut start the next chunk
    filled -= length;
    done.body[length] = 0x80;
    done.body.fill(0, length + 1);
    return done;
  };
  for await (const piece of pieces(source)) {
    if (!(piece instanceof Uint8Array)) throw new TypeError('source must yield Uint8Array values');
    let at = 0;
    while (at < piece.length) {
      // At most SCAN_STEP bytes before each scan: the bytes past a cut, which move to the next
      // buffer, stay under SCAN_STEP instead of up to a whole source piece (the scanner resumes).
      const take = Math.min(piece.length - at, params.max - filled, SCAN_STEP);
      cur.set(piece.subarray(at, at + take), filled);
      filled += take;
      at += take;
      for (let cut = scanner.scan(cur, filled); cut >= 0; cut = scanner.scan(cur, filled)) yield emit(cut);
    }
  }
  while (filled > 0) yield emit(scanner.finish(cur, filled));
  pool.give(buffer);
}

/**
 * Recycles chunk buffers (each max + padding bytes), so the pipeline does not allocate and
 * collect a multi-MiB buffer per chunk. At most `limit` buffers are kept. One pool per buffer size
 * is shared by every encryptStream of the process: a folder of small files would otherwise
 * allocate (and zero, and collect) two or three such buffers per file.
 */
class BodyPool {
  private readonly free: ArrayBuffer[] = [];
  constructor(private readonly size: number, private limit: number) {}
  /** Keeps up to `limit` buffers (a stream with more chunks in flight raises it). */
  atLeast(limit: number): this {
    this.limit = Math.max(this.limit, Math.min(limit, MAX_POOLED));
    return this;
  }
  take(): ArrayBuffer {
    return this.free.pop() ?? new ArrayBuffer(this.size);
  }
  give(buffer: ArrayBufferLike): void {
    // Taken only if it is one of ours: a buffer a backend transferred away and did not hand back
    // is detached (byteLength 0).
    if (this.free.length < this.limit && buffer instanceof ArrayBuffer && buffer.byteLength === this.size) this.free.push(buffer);
  }
}

const MAX_POOLED = 8;
const pools = new Map<number, BodyPool>();
const poolFor = (size: number, limit: number): BodyPool => {
  let pool = pools.get(size);
  if (!pool) pools.set(size, (pool = new BodyPool(size, 0)));
  return pool.atLeast(limit);
};

/** Internal form of encryptStream with explicit chunk parameters (tests use small ones). */
export async function* encryptStreamWith(
  vault: Vault, source: AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>,
  opts: EncryptOptions | undefined, params: ChunkParams,
): AsyncGenerator<EncryptedChunk> {
  vaultInternals(vault);
  const concurrency = checkConcurrency(opts?.concurrency);
  const inFlight: Promise<EncryptedChunk>[] = [];
  let offset = 0;
  const pool = poolFor(padLen(params.max + 1), concurrency + 2);
  for await (const { body, plainLength, buffer } of paddedChunks(source, vault, params, pool)) {
    const at = offset;
    const p = sealPaddedChunk(vault, body, plainLength, (back = buffer) => pool.give(back), opts?.recordBuffer).then(({ entry, record }) => ({ entry, record, offset: at }));
    p.catch(() => {}); // observed when awaited below; avoids an unhandled rejection meanwhile
    inFlight.push(p);
    offset += plainLength;
    if (inFlight.length >= concurrency) yield await inFlight.shift()!;
  }
  while (inFlight.length > 0) yield await inFlight.shift()!;
}

/**
 * Chunks (keyed FastCDC), ids and encrypts a file, `concurrency` chunks in flight; yields in file
 * order. Memory ≈ (concurrency + 2) × max chunk size. Each piece of `source` is copied before the
 * next one is asked for, so a source may read every piece into the same buffer.
 */
export function encryptStream(
  vault: Vault, source: AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>, opts?: EncryptOptions,
): AsyncIterable<EncryptedChunk> {
  return encryptStreamWith(vault, source, opts, CHUNK_PARAMS);
}

/** Streams plaintext in order; each chunk is yielded only after its record verified. */
export async function* decryptStream(
  manifest: Manifest, fetchChunk: (chunkId: string) => Promise<Uint8Array>, opts?: { concurrency?: number },
): AsyncGenerator<Uint8Array> {
  if (typeof manifest !== 'object' || manifest === null || !Array.isArray(manifest.chunks)) throw new TypeError('manifest must be a Manifest');
  if (typeof fetchChunk !== 'function') throw new TypeError('fetchChunk must be a function');
  const concurrency = checkConcurrency(opts?.concurrency);
  let sum = 0;
  manifest.chunks.forEach((e, i) => {
    checkEntry(e, `manifest.chunks[${i}]`);
    sum += e.plainLength;
  });
  if (sum !== manifest.size) fail('MANIFEST_INVALID', 'size differs from the sum of chunk lengths');
  const entries = manifest.chunks;
  let next = 0;
  const start = (entry: ManifestEntry) => {
    const p = fetchChunk(entry.chunkId).then((record) => decryptChunk(entry, record));
    p.catch(() => {});
    return p;
  };
  const inFlight: Promise<Uint8Array>[] = [];
  while (next < entries.length && inFlight.length < concurrency) inFlight.push(start(entries[next++]!));
  while (inFlight.length > 0) {
    const pt = await inFlight.shift()!;
    if (next < entries.length) inFlight.push(start(entries[next++]!));
    yield pt;
  }
}
