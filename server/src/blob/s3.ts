// Blob store in an S3 bucket (any S3-compatible service): object `chunks/<key>`.
// A PUT is atomic on S3; objects are never partially visible.
import {
  DeleteObjectCommand, GetObjectCommand, HeadBucketCommand, HeadObjectCommand, PutObjectCommand, S3Client,
  CreateBucketCommand,
} from '@aws-sdk/client-s3';
import type { S3Config } from '../config.js';
import { assertKey, type Blob, type BlobStore } from './store.js';

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}

export class S3BlobStore implements BlobStore {
  readonly kind = 's3';
  readonly #client: S3Client;
  readonly #bucket: string;

  constructor(config: S3Config) {
    this.#bucket = config.bucket;
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

  #key(key: string): string {
    assertKey(key);
    return `chunks/${key}`;
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    await this.#client.send(new PutObjectCommand({
      Bucket: this.#bucket, Key: this.#key(key), Body: data, ContentLength: data.byteLength,
      ContentType: 'application/octet-stream',
    }));
  }

  async get(key: string): Promise<Blob | null> {
    try {
      const out = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: this.#key(key) }));
      if (!out.Body) return null;
      return { size: out.ContentLength ?? 0, stream: out.Body.transformToWebStream() as ReadableStream<Uint8Array> };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async has(key: string): Promise<boolean> {
    try {
      await this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#key(key) }));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: this.#key(key) }));
  }

  async ping(): Promise<void> {
    await this.#client.send(new HeadBucketCommand({ Bucket: this.#bucket }));
  }

  /** Creates the bucket if it does not exist (used at start and by tests). */
  async ensureBucket(): Promise<void> {
    try {
      await this.ping();
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.#client.send(new CreateBucketCommand({ Bucket: this.#bucket }));
    }
  }

  async close(): Promise<void> {
    this.#client.destroy();
  }
}
