// Blob store in an S3 bucket (any S3-compatible service): object `chunks/<key>`.
// A PUT is atomic on S3; objects are never partially visible. The orphan sweep sets blobs aside as
// `aside/<key>` (a copy, then a delete: S3 has no rename).
import {
  CopyObjectCommand, DeleteObjectCommand, GetObjectCommand, HeadBucketCommand, HeadObjectCommand, ListObjectsV2Command,
  PutObjectCommand, S3Client, CreateBucketCommand,
} from '@aws-sdk/client-s3';
import type { S3Config } from '../config.js';
import { assertKey, isKey, type Blob, type BlobStore, type BlobSweep } from './store.js';

export class S3TimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(ms: number) {
    super(`S3 did not answer within ${ms} ms`);
    this.name = 'S3TimeoutError';
  }
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}

const CHUNKS = 'chunks/';
const ASIDE = 'aside/';

/**
 * How long one S3 call may take until its answer starts (a GET's body then streams without it).
 * Without a limit, a store that accepts connections but stops answering held every chunk request
 * (and its body in memory) for as long as it stalled, and the circuit breaker never opened: it only
 * counts calls that fail.
 */
export const S3_CALL_TIMEOUT_MS = 30_000;

export interface S3StoreOptions { callTimeoutMs?: number }

export class S3BlobStore implements BlobStore, BlobSweep {
  readonly kind = 's3';
  readonly sweep: BlobSweep = this;
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #callTimeoutMs: number;

  constructor(config: S3Config, options: S3StoreOptions = {}) {
    this.#bucket = config.bucket;
    this.#callTimeoutMs = options.callTimeoutMs ?? S3_CALL_TIMEOUT_MS;
    this.#client = new S3Client({
      region: config.region,
      forcePathStyle: config.forcePathStyle,
      ...(config.endpoint ? { endpoint: config.endpoint } : {}),
      ...(config.accessKeyId && config.secretAccessKey
        ? { credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey } }
        : {}),
      maxAttempts: 2,
      // Plain PUTs with Content-Length: the widest compatibility with S3-like services.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  /**
   * Sends one command, aborted when no answer has come within the call timeout (waiting for a free
   * connection included). The timer stops at the answer, so a slow reader of a GET's body is not cut off.
   */
  async #send<T>(call: (options: { abortSignal: AbortSignal }) => Promise<T>): Promise<T> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(new S3TimeoutError(this.#callTimeoutMs)), this.#callTimeoutMs);
    try {
      return await call({ abortSignal: abort.signal });
    } catch (err) {
      // The SDK reports its own AbortError; say why it was aborted.
      if (abort.signal.aborted) throw abort.signal.reason;
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  #key(key: string): string {
    assertKey(key);
    return CHUNKS + key;
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    await this.#send((o) => this.#client.send(new PutObjectCommand({
      Bucket: this.#bucket, Key: this.#key(key), Body: data, ContentLength: data.byteLength,
      ContentType: 'application/octet-stream',
    }), o));
  }

  async get(key: string): Promise<Blob | null> {
    try {
      const out = await this.#send((o) => this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: this.#key(key) }), o));
      if (!out.Body) return null;
      return { size: out.ContentLength ?? 0, stream: out.Body.transformToWebStream() as ReadableStream<Uint8Array> };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async has(key: string): Promise<boolean> {
    try {
      await this.#send((o) => this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#key(key) }), o));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await this.#send((o) => this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: this.#key(key) }), o));
  }

  async ping(): Promise<void> {
    await this.#send((o) => this.#client.send(new HeadBucketCommand({ Bucket: this.#bucket }), o));
  }

  // ---- the orphan sweep (BlobSweep) ----

  async *#objects(prefix: string): AsyncIterable<{ key: string; modifiedAt: Date }> {
    let token: string | undefined;
    do {
      const page = await this.#send((o) => this.#client.send(new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: prefix, ContinuationToken: token }), o));
      for (const o of page.Contents ?? []) {
        const key = o.Key?.slice(prefix.length) ?? '';
        if (isKey(key) && o.LastModified) yield { key, modifiedAt: o.LastModified };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  list(): AsyncIterable<{ key: string; modifiedAt: Date }> {
    return this.#objects(CHUNKS);
  }

  /** Copies `from` to `to` within the bucket; false when `from` does not exist. */
  async #copy(from: string, to: string): Promise<boolean> {
    try {
      await this.#send((o) => this.#client.send(new CopyObjectCommand({ Bucket: this.#bucket, CopySource: `${this.#bucket}/${from}`, Key: to }), o));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async setAside(key: string): Promise<boolean> {
    if (!(await this.#copy(this.#key(key), ASIDE + key))) return false;
    await this.#send((o) => this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: this.#key(key) }), o));
    return true;
  }

  async putBack(key: string): Promise<void> {
    // Not atomic: a blob stored between the check and the copy is replaced by the one aside, which
    // is a record of the same chunk id, sealed by the same vault, and as good (docs/format.md §6.3).
    if (!(await this.has(key))) await this.#copy(ASIDE + key, this.#key(key));
    await this.drop(key);
  }

  async drop(key: string): Promise<void> {
    assertKey(key);
    await this.#send((o) => this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: ASIDE + key }), o));
  }

  async putBackAll(before: Date): Promise<number> {
    let n = 0;
    for await (const { key, modifiedAt } of this.#objects(ASIDE)) {
      if (modifiedAt >= before) continue; // the copy's time is when it was set aside
      await this.putBack(key);
      n += 1;
    }
    return n;
  }

  /** S3 writes are whole or absent: nothing is left unfinished. */
  async clearUnfinished(): Promise<number> {
    return 0;
  }

  /** Creates the bucket if it does not exist (used at start and by tests). */
  async ensureBucket(): Promise<void> {
    try {
      await this.ping();
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.#send((o) => this.#client.send(new CreateBucketCommand({ Bucket: this.#bucket }), o));
    }
  }

  async close(): Promise<void> {
    this.#client.destroy();
  }
}
