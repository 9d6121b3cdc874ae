// A pool of byte buffers for EncryptOptions.recordBuffer, and for any other per-chunk buffer a host
// fills and then is done with (the server's blob reads): buffers come in 256 KiB size classes and
// are reused once given back. A new ~1 MiB buffer per chunk costs a page fault for every fresh page
// and, as external memory, the garbage collector's full collections (docs/benchmarks.md).
// Importable alone as `@coffer/crypto-core/buffer-pool`.

export class BufferPool {
  static readonly STEP = 256 * 1024;
  readonly #free = new Map<number, ArrayBuffer[]>();
  #kept = 0; // bytes

  /** Keeps at most `maxBytes` of buffers given back; more are left to the garbage collector. */
  constructor(private readonly maxBytes: number) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new RangeError('maxBytes must be a whole number');
  }

  /** A view of exactly `length` bytes (contents unspecified) over a pooled or new buffer. */
  take = (length: number): Uint8Array<ArrayBuffer> => {
    const size = Math.ceil(Math.max(length, 1) / BufferPool.STEP) * BufferPool.STEP;
    const buffer = this.#free.get(size)?.pop();
    if (buffer) this.#kept -= size;
    return new Uint8Array(buffer ?? new ArrayBuffer(size), 0, length);
  };

  /** Hands back the buffer under a view from take(); the caller must not use that view again. */
  give(view: Uint8Array): void {
    const { buffer } = view;
    if (!(buffer instanceof ArrayBuffer) || buffer.byteLength === 0 || buffer.byteLength % BufferPool.STEP !== 0) return;
    if (this.#kept + buffer.byteLength > this.maxBytes) return;
    const list = this.#free.get(buffer.byteLength) ?? [];
    list.push(buffer);
    this.#free.set(buffer.byteLength, list);
    this.#kept += buffer.byteLength;
  }
}
