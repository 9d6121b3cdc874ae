// BufferPool: a buffer comes back only after it was handed back, the smallest free one large enough,
// and no more than the cap are kept; when full, the fullest class makes room. (That every uploaded byte is right with
// reuse is checked end to end by the CLI's put/get tests, the web vault's upload tests and
// server/test/chunk-serving.test.ts.)
import { describe, expect, it } from 'vitest';
import { BufferPool } from '../src/index';

const STEP = BufferPool.STEP;

describe('BufferPool', () => {
  it('gives views of exactly the asked length over buffers rounded up to 256 KiB', () => {
    const pool = new BufferPool(4 * STEP);
    const a = pool.take(1_000_000);
    expect(a.length).toBe(1_000_000);
    expect(a.buffer.byteLength).toBe(Math.ceil(1_000_000 / STEP) * STEP);
    expect(pool.take(1).buffer.byteLength).toBe(STEP);
  });

  it('reuses a buffer only after it was given back: the smallest free one large enough', () => {
    const pool = new BufferPool(8 * STEP);
    const a = pool.take(STEP + 10);
    const b = pool.take(STEP + 10);
    expect(b.buffer).not.toBe(a.buffer);
    pool.give(a);
    expect(pool.take(3 * STEP).buffer).not.toBe(a.buffer); // too small for it
    const c = pool.take(2 * STEP);
    expect(c.buffer).toBe(a.buffer);
    expect(c.length).toBe(2 * STEP);
    expect(pool.take(2 * STEP).buffer).not.toBe(a.buffer); // handed out once

    // A smaller request takes a larger free buffer rather than a new one, the smallest that fits.
    const big = pool.take(4 * STEP);
    const mid = pool.take(2 * STEP);
    pool.give(big);
    pool.give(mid);
    const d = pool.take(10);
    expect(d.buffer).toBe(mid.buffer);
    expect(d.length).toBe(10);
    expect(pool.take(10).buffer).toBe(big.buffer);
    expect(pool.take(10).buffer.byteLength).toBe(STEP); // none left: a new one of its own class
  });

  it('keeps at most maxBytes of buffers and ignores buffers it could not have made', () => {
    const pool = new BufferPool(2 * STEP);
    const taken = [pool.take(100), pool.take(100), pool.take(100)];
    for (const t of taken) pool.give(t);
    pool.give(new Uint8Array(100)); // not a multiple of the step
    const again = [pool.take(100), pool.take(100), pool.take(100)].map((t) => t.buffer);
    expect(again.filter((b) => taken.some((t) => t.buffer === b))).toHaveLength(2);
    const big = pool.take(3 * STEP);
    pool.give(big); // over the limit on its own
    expect(pool.take(3 * STEP).buffer).not.toBe(big.buffer);
  });

  it('makes room for the size given back by dropping buffers of the fullest class', () => {
    const pool = new BufferPool(8 * STEP);
    const large = [pool.take(4 * STEP), pool.take(4 * STEP)];
    const small = [pool.take(STEP), pool.take(STEP)];
    for (const t of large) pool.give(t); // full with one class
    for (const t of small) pool.give(t); // drops one large buffer, the oldest, and keeps both
    const again = [pool.take(STEP).buffer, pool.take(STEP).buffer];
    expect(again.filter((b) => small.some((t) => t.buffer === b))).toHaveLength(2);
    expect(pool.take(4 * STEP).buffer).toBe(large[1]!.buffer);
    expect(pool.take(4 * STEP).buffer).not.toBe(large[0]!.buffer);
  });
});
