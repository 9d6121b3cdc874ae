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

  /**
   * A view of exactly `length` bytes (contents unspecified) over a pooled or new buffer: the
   * smallest free one that is large enough. Chunk sizes vary, so a buffer of exactly the size
   * class asked for is often not free when a larger one is; a new buffer then would grow memory
   * while the larger one waits unused.
   */
  take = (length: number): Uint8Array<ArrayBuffer> => {
    const size = Math.ceil(Math.max(length, 1) / BufferPool.STEP) * BufferPool.STEP;
    let best = 0;
    for (const [have, list] of this.#free) {
      if (have >= size && list.length > 0 && (best === 0 || have < best)) best = have;
    }
    const buffer = best > 0 ? this.#free.get(best)!.pop()! : new ArrayBuffer(size);
    this.#kept -= best;
    return new Uint8Array(buffer, 0, length);
  };

  /**
   * Hands back the buffer under a view from take(); the caller must not use that view again. When
   * the pool is full, buffers of the size class holding the most bytes make room: the sizes asked
   * for change (a client with other chunk sizes), and buffers of a size no longer asked for must
   * not keep the newest ones out.
   */
  give(view: Uint8Array): void {
    const { buffer } = view;
    const size = buffer.byteLength;
    if (!(buffer instanceof ArrayBuffer) || size === 0 || size % BufferPool.STEP !== 0 || size > this.maxBytes) return;
    while (this.#kept + size > this.maxBytes) this.#dropOne();
    const list = this.#free.get(size) ?? [];
    list.push(buffer);
    this.#free.set(size, list);
    this.#kept += size;
  }

  /** Leaves one buffer of the fullest size class to the garbage collector. */
  #dropOne(): void {
    let fullest = 0;
    let most = 0;
    for (const [size, list] of this.#free) {
      if (size * list.length > most) [fullest, most] = [size, size * list.length];
    }
    this.#free.get(fullest)!.shift();
    this.#kept -= fullest;
  }
}
