// A pool of byte buffers for EncryptOptions.recordBuffer (and any other per-chunk buffer a host
// fills and then is done with): buffers come in 256 KiB size classes and are reused once given
// back. A new ~1 MiB buffer per chunk costs a page fault for every fresh page and, as external
// memory, the garbage collector's full collections (docs/benchmarks.md, "coffer CLI").

export class BufferPool {
  static readonly STEP = 256 * 1024;
  readonly #free = new Map<number, ArrayBuffer[]>();
  #kept = 0;

  /** Keeps at most `maxKept` buffers given back; more are left to the garbage collector. */
  constructor(private readonly maxKept: number) {
    if (!Number.isInteger(maxKept) || maxKept < 0) throw new RangeError('maxKept must be a whole number');
  }

  /** A view of exactly `length` bytes (contents unspecified) over a pooled or new buffer. */
  take = (length: number): Uint8Array => {
    const size = Math.ceil(Math.max(length, 1) / BufferPool.STEP) * BufferPool.STEP;
    const buffer = this.#free.get(size)?.pop();
    if (buffer) this.#kept--;
    return new Uint8Array(buffer ?? new ArrayBuffer(size), 0, length);
  };

  /** Hands back the buffer under a view from take(); the caller must not use that view again. */
  give(view: Uint8Array): void {
    const { buffer } = view;
    if (!(buffer instanceof ArrayBuffer) || buffer.byteLength === 0 || buffer.byteLength % BufferPool.STEP !== 0) return;
    if (this.#kept >= this.maxKept) return;
    const list = this.#free.get(buffer.byteLength) ?? [];
    list.push(buffer);
    this.#free.set(buffer.byteLength, list);
    this.#kept++;
  }
}
