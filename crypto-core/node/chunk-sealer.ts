// sealChunk of the node:crypto backend (backend.ts): hands each chunk to one worker thread
// (chunk-worker.mjs), which computes its id HMAC, key and AES-256-GCM record while the calling
// thread chunks the rest of the file. With the file's chunking on one core and the keyed hashing and
// encryption on the other, encryptStream runs close to the speed of chunking alone (crypto bench).
//
// - Buffers move, they are not copied: a chunk's body is transferred to the worker and back, and
//   encryptStream's body pool reuses it; the record is built in the worker and transferred.
//   (SharedArrayBuffer bodies were tried: V8 copies into shared memory with relaxed atomics, and
//   chunking into them cost the main thread more than the transfers do.)
// - Memory stays bounded by encryptStream: it has at most `concurrency` chunks in flight, so at most
//   that many jobs are queued here.
// - Errors: a job that throws in the worker rejects that job; a worker that dies rejects every job
//   it held, and the next job starts a new worker.
// - Exit: the worker is unref'd whenever no job is pending, so it never keeps the process alive, and
//   ref'd while one is, so the process cannot exit under a pending encryptStream.
import { Worker } from 'node:worker_threads';
import type { ChunkJob, SealedChunk } from '../src/index.ts';

const WORKER_URL = new URL('./chunk-worker.mjs', import.meta.url);

interface Pending { resolve(out: SealedChunk): void; reject(err: Error): void }
interface Reply { seq: number; error?: string; id: Uint8Array; key: Uint8Array; record: Uint8Array; body?: Uint8Array }

class ChunkWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  dead = false;

  constructor() {
    // execArgv []: the worker is plain JavaScript and needs none of the parent's loaders (tsx).
    this.worker = new Worker(WORKER_URL, { execArgv: [], name: 'coffer chunk sealer' });
    this.worker.unref();
    this.worker.on('message', (m: Reply) => this.answer(m));
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => this.fail(new Error(`chunk worker exited (code ${code})`)));
  }

  seal(job: ChunkJob): Promise<SealedChunk> {
    const seq = ++this.seq;
    const { idKey, keyKey, header, nonce, aadPrefix, body, plainLength } = job;
    return new Promise<SealedChunk>((resolve, reject) => {
      // A body in a SharedArrayBuffer is shared as it is; one in an ArrayBuffer (encryptStream's) is
      // transferred and handed back. postMessage throws (DataCloneError) before anything is queued.
      const transfer = body.buffer instanceof ArrayBuffer ? [body.buffer] : [];
      this.worker.postMessage({ seq, idKey, keyKey, header, nonce, aadPrefix, body, plainLength }, transfer);
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(seq, { resolve, reject });
    });
  }

  private answer(m: Reply): void {
    const p = this.pending.get(m.seq);
    if (!p) return;
    this.pending.delete(m.seq);
    if (this.pending.size === 0) this.worker.unref();
    if (m.error !== undefined) p.reject(new Error(`chunk worker: ${m.error}`));
    else p.resolve(m.body ? { id: m.id, key: m.key, record: m.record, body: m.body } : { id: m.id, key: m.key, record: m.record });
  }

  private fail(err: Error): void {
    this.dead = true;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.worker.unref();
  }
}

let current: ChunkWorker | null = null;

/** CryptoBackend.sealChunk on a worker thread, started on first use. */
export function sealChunkInWorker(job: ChunkJob): Promise<SealedChunk> {
  if (!current || current.dead) current = new ChunkWorker();
  return current.seal(job);
}
