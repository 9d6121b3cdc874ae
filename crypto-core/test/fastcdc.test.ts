// FastCDC: the 64-bit reference form against fastcdc-rs cut points, and the 32-bit fast path of
// format §6.1 against the reference form.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createChunker, cutPoints, gearFromChunkingKey, CHUNK_PARAMS } from '../src/index';
import { referenceChunks, referenceCut2016, referenceCut2020, type Reference64Params } from '../src/internal';
import { readVector, readVectorBytes, seededBytes } from './helpers';

interface Expected {
  gear: { GEAR: string[] };
  masks: { MASKS: string[] };
  variants: Record<'v2016' | 'v2020', {
    test: string; input: string; min_size: number; avg_size: number; max_size: number;
    normalization_level: number; seed: number; chunks: { offset: number; length: number; hash: string }[];
  }[]>;
}

const expected = readVector<Expected>('third-party/fastcdc/fastcdc_expected.json');
const sekien = readVectorBytes('third-party/fastcdc/SekienAkashita.jpg');
const GEAR = expected.gear.GEAR.map((x) => BigInt(x));
const MASKS = expected.masks.MASKS.map((x) => BigInt(x));
const M64 = (1n << 64n) - 1n;

describe('64-bit reference form reproduces fastcdc-rs 4.0.1', () => {
  it('uses the intended fixture', () => {
    expect(sekien.length).toBe(109466);
  });

  for (const version of ['v2016', 'v2020'] as const) {
    for (const t of expected.variants[version]) {
      it(`${version} ${t.test}`, () => {
        const bits = Math.round(Math.log2(t.avg_size));
        const seed = BigInt(t.seed);
        const params: Reference64Params = {
          gear: GEAR.map((g) => g ^ seed),
          gearLs: GEAR.map((g) => ((g << 1n) & M64) ^ ((seed << 1n) & M64)),
          maskS: MASKS[bits + t.normalization_level]!,
          maskL: MASKS[bits - t.normalization_level]!,
          min: t.min_size, avg: t.avg_size, max: t.max_size,
        };
        const input = t.input === 'SekienAkashita.jpg' ? sekien : new Uint8Array(10240);
        const chunks = referenceChunks(version === 'v2016' ? referenceCut2016 : referenceCut2020, params, input);
        expect(chunks.map((c) => ({ offset: c.offset, length: c.length, hash: c.hash.toString() }))).toEqual(
          t.chunks.map((c) => ({ offset: c.offset, length: c.length, hash: c.hash })),
        );
      });
    }
  }
});

describe('32-bit fast path (format §6.1)', () => {
  const topBits = (k: number) => BigInt((0xffffffff << (32 - k)) >>> 0);

  // The 32-bit form takes mask << 1 mod 2^32, so the 64-bit form gets the same four masks
  // zero-extended; the high halves of its gear table then never reach a masked bit.
  it('equals the 64-bit form when the masks fit in 32 bits (any high gear halves)', () => {
    fc.assert(
      fc.property(
        fc.uint32Array({ minLength: 256, maxLength: 256 }),
        fc.uint32Array({ minLength: 256, maxLength: 256 }),
        fc.integer({ min: 3, max: 10 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 30_000 }),
        fc.integer({ min: 1, max: 2 ** 31 }),
        (low, high, bits, minShift, maxMul, length, seed) => {
          const avg = 2 ** bits;
          const params = { min: Math.max(2, avg >> minShift), avg, max: avg * maxMul };
          const data = seededBytes(length, seed);
          const fast = cutPoints(createChunker(low, params), data);
          const ref = referenceChunks(referenceCut2020, {
            gear: Array.from(low, (l, i) => (BigInt(high[i]!) << 32n) | BigInt(l)),
            maskS: topBits(bits + 1),
            maskL: topBits(bits - 1),
            maskSLs: (topBits(bits + 1) << 1n) & 0xffffffffn,
            maskLLs: (topBits(bits - 1) << 1n) & 0xffffffffn,
            ...params,
          }, data).map((c) => c.offset + c.length);
          expect(fast).toEqual(ref);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('the resumable scanner cuts exactly where cut() does, however the bytes arrive', () => {
    fc.assert(
      fc.property(
        fc.uint32Array({ minLength: 256, maxLength: 256 }), fc.integer({ min: 3, max: 9 }), fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 20_000 }), fc.integer({ min: 1, max: 700 }),
        (gear, bits, minShift, maxMul, length, step) => {
          const avg = 2 ** bits;
          const chunker = createChunker(gear, { min: Math.max(2, avg >> minShift), avg, max: avg * maxMul + (maxMul > 2 ? 1 : 0) });
          const data = seededBytes(length, length + bits);
          const scanner = chunker.scanner();
          const ends: number[] = [];
          let start = 0;
          let avail = 0;
          for (let fed = 0; fed < data.length; ) {
            fed = Math.min(data.length, fed + step);
            avail = Math.min(fed - start, chunker.params.max);
            for (let cut = scanner.scan(data.subarray(start), avail); cut >= 0; cut = scanner.scan(data.subarray(start), avail)) {
              start += cut;
              ends.push(start);
              avail = Math.min(fed - start, chunker.params.max);
            }
          }
          while (start < data.length) {
            start += scanner.finish(data.subarray(start), data.length - start);
            ends.push(start);
          }
          expect(ends).toEqual(cutPoints(chunker, data));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('cuts real-size input within bounds and depends on the chunking key', () => {
    const data = seededBytes(24 * 2 ** 20, 42);
    const a = cutPoints(createChunker(gearFromChunkingKey(new Uint8Array(32).fill(1))), data);
    const b = cutPoints(createChunker(gearFromChunkingKey(new Uint8Array(32).fill(2))), data);
    expect(a.at(-1)).toBe(data.length);
    const lengths = a.map((end, i) => end - (a[i - 1] ?? 0));
    for (const l of lengths.slice(0, -1)) {
      expect(l).toBeGreaterThan(CHUNK_PARAMS.min);
      expect(l).toBeLessThanOrEqual(CHUNK_PARAMS.max);
    }
    expect(lengths.length).toBeGreaterThan(8); // ~1 MiB average
    expect(a).not.toEqual(b);
  });

  it('is content-defined: an insertion moves only nearby cut points', () => {
    const chunker = createChunker(gearFromChunkingKey(new Uint8Array(32).fill(3)), { min: 256, avg: 1024, max: 4096 });
    const data = seededBytes(200_000, 7);
    const edited = new Uint8Array(data.length + 5);
    edited.set(data.subarray(0, 1000));
    edited.set(data.subarray(1000), 1005);
    const before = new Set(cutPoints(chunker, data));
    const after = cutPoints(chunker, edited).map((x) => x - 5);
    const shared = after.filter((x) => before.has(x)).length;
    expect(shared / before.size).toBeGreaterThan(0.9);
  });

  it('rejects unusable parameters', () => {
    const gear = new Uint32Array(256);
    expect(() => createChunker(gear, { min: 10, avg: 1000, max: 4000 })).toThrow(RangeError);
    expect(() => createChunker(gear, { min: 100, avg: 64, max: 4000 })).toThrow(RangeError);
    expect(() => createChunker(gear, { min: 1, avg: 64, max: 4000 })).toThrow(RangeError);
    expect(() => createChunker(new Uint32Array(255))).toThrow(TypeError);
  });
});
