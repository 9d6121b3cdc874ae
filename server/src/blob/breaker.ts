// A circuit breaker in front of a blob store. Any failure of the store becomes a 503
// STORAGE_UNAVAILABLE with Retry-After; after `threshold` failures in a row the breaker opens and
// answers 503 at once for `cooldownMs`, then lets one trial call through (half-open).
import { ApiError } from '../errors.js';
import type { Blob, BlobStore, BlobSweep } from './store.js';

export interface BreakerOptions { threshold?: number; cooldownMs?: number; now?: () => number }

export class CircuitBreakerStore implements BlobStore {
  readonly kind: BlobStore['kind'];
  /** The store's own: the sweep runs in the background, where a failure is logged, not answered. */
  readonly sweep?: BlobSweep;
  readonly #inner: BlobStore;
  readonly #threshold: number;
  readonly #cooldownMs: number;
  readonly #now: () => number;
  #failures = 0;
  #openUntil = 0;
  /** A half-open trial call is under way: the others are refused until it has shown the store works. */
  #trying = false;
  /** Called when a store call fails (for logs); never given secrets. */
  onFailure: (err: unknown) => void = () => {};

  constructor(inner: BlobStore, options: BreakerOptions = {}) {
    this.#inner = inner;
    this.kind = inner.kind;
    this.sweep = inner.sweep;
    this.#threshold = options.threshold ?? 5;
    this.#cooldownMs = options.cooldownMs ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  get open(): boolean {
    return this.#now() < this.#openUntil;
  }

  #unavailable(): ApiError {
    // Open: the time left until a trial call may go through. Otherwise (a failure below the
    // threshold, or a trial under way) the next call may well work: soon.
    const seconds = this.open ? Math.max(1, Math.ceil((this.#openUntil - this.#now()) / 1000)) : 1;
    return new ApiError(503, 'STORAGE_UNAVAILABLE', 'The blob store is unavailable; try again later',
      {}, { 'Retry-After': String(seconds) });
  }

  async #call<T>(fn: () => Promise<T>): Promise<T> {
    if (this.open) throw this.#unavailable();
    // Cooled down but not yet shown to work: one call tries the store. Letting every request through
    // would have each of them wait for the store's timeout while it still hangs.
    const trial = this.#failures >= this.#threshold;
    if (trial) {
      if (this.#trying) throw this.#unavailable();
      this.#trying = true;
    }
    try {
      const result = await fn();
      this.#failures = 0;
      return result;
    } catch (err) {
      this.onFailure(err);
      this.#failures += 1;
      if (this.#failures >= this.#threshold) this.#openUntil = this.#now() + this.#cooldownMs;
      throw this.#unavailable();
    } finally {
      if (trial) this.#trying = false;
    }
  }

  put(key: string, data: Uint8Array): Promise<void> {
    return this.#call(() => this.#inner.put(key, data));
  }
  get(key: string): Promise<Blob | null> {
    return this.#call(() => this.#inner.get(key));
  }
  has(key: string): Promise<boolean> {
    return this.#call(() => this.#inner.has(key));
  }
  delete(key: string): Promise<void> {
    return this.#call(() => this.#inner.delete(key));
  }
  ping(): Promise<void> {
    return this.#call(() => this.#inner.ping());
  }
  async close(): Promise<void> {
    await this.#inner.close?.();
  }
}
