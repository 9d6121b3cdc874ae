// The blob store holds chunk records (ciphertext) under opaque keys. Two backends implement it:
// a folder on disk (folder.ts) and S3 (s3.ts). Keys are 64 lowercase hex digits (see blobKey).
import { createHash } from 'node:crypto';

export interface Blob {
  size: number;
  stream: ReadableStream<Uint8Array>;
  /**
   * The whole blob, when the store read it in one piece (the folder store does for blobs up to a
   * chunk's size: one read instead of a stream of 64 KiB pieces). Then `stream` yields these bytes.
   */
  bytes?: Uint8Array<ArrayBuffer>;
  /**
   * Hands `bytes` back to the store for reuse, once nothing reads them any more (the response that
   * sends them has closed). Optional to call: bytes never handed back are collected as usual.
   */
  release?(): void;
}

export interface BlobStore {
  readonly kind: 'folder' | 's3';
  /**
   * Stores `data` under `key` atomically: readers see the whole blob or nothing. Idempotent. Does
   * not read `data` once the promise has settled: the caller may then reuse it (routes/chunks.ts).
   */
  put(key: string, data: Uint8Array): Promise<void>;
  /** The blob, or null when there is none. */
  get(key: string): Promise<Blob | null>;
  has(key: string): Promise<boolean>;
  /** Removes the blob; removing a missing blob is not an error. */
  delete(key: string): Promise<void>;
  /** Throws when the store cannot be reached (for readiness checks). */
  ping(): Promise<void>;
  close?(): Promise<void>;
  /** What the orphan sweep needs (services/gc.ts); a store without it is not swept. */
  readonly sweep?: BlobSweep;
}

/**
 * The orphan sweep's view of a store: every blob with the time it was last written, and a place
 * aside where a blob waits, unseen by `get` and `has`, until the sweep knows that no chunk row
 * names it (services/gc.ts, sweepBlobs).
 */
export interface BlobSweep {
  /** Every stored blob, in no order. */
  list(): AsyncIterable<{ key: string; modifiedAt: Date }>;
  /** Moves a blob aside; false when there was none. */
  setAside(key: string): Promise<boolean>;
  /** Returns a blob from aside, unless one was stored under its key meanwhile (then drops it). */
  putBack(key: string): Promise<void>;
  /** Removes a blob that is aside. */
  drop(key: string): Promise<void>;
  /**
   * Puts back every blob set aside before `before`: what a sweep that stopped midway left there
   * (a sweep running now, in this or another process, set its own aside later). Returns how many.
   */
  putBackAll(before: Date): Promise<number>;
  /** Removes what writes that never finished left behind, last written before `before`; returns how many. */
  clearUnfinished(before: Date): Promise<number>;
}

const KEY = /^[0-9a-f]{64}$/;

/** Whether `name` has the form of a blob key (a stored object's name, when listing). */
export function isKey(name: string): boolean {
  return KEY.test(name);
}

export function assertKey(key: string): void {
  if (!isKey(key)) throw new TypeError('blob key must be 64 lowercase hex digits');
}

/**
 * The blob key of one account's chunk: SHA-256(accountId || chunkId) in hex. Chunk ids are chosen
 * per vault, so keying blobs by account keeps one account from reading or overwriting another's
 * blob by naming its chunk id, while equal chunks within a vault still share one blob.
 */
export function blobKey(accountId: string, chunkId: string): string {
  return createHash('sha256').update(Buffer.from(accountId, 'hex')).update(Buffer.from(chunkId, 'hex')).digest('hex');
}
