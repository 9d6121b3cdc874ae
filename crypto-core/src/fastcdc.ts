// Keyed FastCDC 2020 with 32-bit arithmetic (format §6.1).
import { utf8 } from './bytes';
import { hkdf } from './primitives';

export interface ChunkParams { min: number; avg: number; max: number }

// format §6.1
export const CHUNK_PARAMS: Readonly<ChunkParams> = Object.freeze({ min: 262_144, avg: 1_048_576, max: 4_194_304 });
export const MAX_CHUNK = CHUNK_PARAMS.max;

/** The gear table: 256 u32 values (format §6.1). */
export type Gear = Uint32Array;

/** GEAR[i] = u32(G[4i .. 4i+4]) with G = HKDF(chunkingKey, "", "coffer/v1/gear", 1024) (format §6.1). */
export function gearFromChunkingKey(chunkingKey: Uint8Array): Gear {
  const g = hkdf(chunkingKey, new Uint8Array(0), utf8('coffer/v1/gear'), 1024);
  const view = new DataView(g.buffer, g.byteOffset, g.byteLength);
  const gear = new Uint32Array(256);
  for (let i = 0; i < 256; i++) gear[i] = view.getUint32(4 * i, false);
  g.fill(0);
  return gear;
}

export interface Chunker {
  readonly params: Readonly<ChunkParams>;
  /** Length of the next chunk of `b[start .. end)`, which holds all remaining input or at least `max` bytes. */
  cut(b: Uint8Array, start: number, end: number): number;
  /** A resumable form of `cut` for streams (see ChunkScanner). */
  scanner(): ChunkScanner;
}

/**
 * Finds the next cut while the chunk's bytes arrive, keeping the rolling state between calls, so
 * no byte is hashed twice and no more than one chunk is buffered. It gives exactly `cut`'s answer:
 * a cut point found before the end of the available bytes is final, because §6.1 uses the same
 * mask at every position whatever the input length beyond it (center = min(n, avg) only moves
 * the switch beyond the available bytes).
 */
export interface ChunkScanner {
  /** `b[0 .. avail)` are the chunk's bytes so far (avail ≤ max). Returns the cut length, or −1 for "need more input". */
  scan(b: Uint8Array, avail: number): number;
  /** At the end of input with `n` bytes left: the cut length (≤ n). */
  finish(b: Uint8Array, n: number): number;
  /** Starts the next chunk. */
  reset(): void;
}

function checkParams(p: ChunkParams): number {
  const { min, avg, max } = p;
  // min ≥ 2 keeps every cut at a positive length (the first test is at byte 2·⌊min/2⌋).
  if (![min, avg, max].every((x) => Number.isSafeInteger(x)) || !(min >= 2 && min <= avg && avg <= max) || max > 2 ** 30) {
    throw new RangeError('params must satisfy 2 ≤ min ≤ avg ≤ max ≤ 2^30');
  }
  const bits = Math.log2(avg);
  if (!Number.isInteger(bits) || bits < 2 || bits > 30) throw new RangeError('params.avg must be a power of two from 4 to 2^30');
  return bits;
}

/** The top `k` bits of a u32, as an int32 so `&` comparisons stay in small-integer range. */
const topBits = (k: number): number => (0xffffffff << (32 - k)) | 0;

export function createChunker(gear: Gear, params: ChunkParams = CHUNK_PARAMS): Chunker {
  if (!(gear instanceof Uint32Array) || gear.length !== 256) throw new TypeError('gear must be a Uint32Array of 256 entries');
  const bits = checkParams(params);
  const frozen = Object.freeze({ ...params });
  const { min, avg, max } = frozen;
  // Int32 views of the tables keep every intermediate a small integer for the JIT.
  const g = new Int32Array(gear);
  const gls = new Int32Array(256);
  for (let i = 0; i < 256; i++) gls[i] = g[i]! << 1; // GEAR_LS, format §6.1
  const maskS = topBits(bits + 1);
  const maskL = topBits(bits - 1);
  const maskSLs = maskS << 1;
  const maskLLs = maskL << 1;

  function cut(b: Uint8Array, start: number, end: number): number {
    const n = end - start;
    if (n <= min) return n;
    const stop = n < max ? n : max;
    const center = n < avg ? n : avg;
    let h = 0;
    let i = min >>> 1;
    const c2 = center >>> 1;
    const s2 = stop >>> 1;
    for (; i < c2; i++) {
      const a = start + 2 * i;
      h = ((h << 2) + gls[b[a]!]!) | 0;
      if ((h & maskSLs) === 0) return 2 * i;
      h = (h + g[b[a + 1]!]!) | 0;
      if ((h & maskS) === 0) return 2 * i + 1;
    }
    for (; i < s2; i++) {
      const a = start + 2 * i;
      h = ((h << 2) + gls[b[a]!]!) | 0;
      if ((h & maskLLs) === 0) return 2 * i;
      h = (h + g[b[a + 1]!]!) | 0;
      if ((h & maskL) === 0) return 2 * i + 1;
    }
    return stop;
  }

  function scanner(): ChunkScanner {
    const first = min >>> 1;
    const centerPairs = avg >>> 1;
    const maxPairs = max >>> 1;
    let i = first;
    let h = 0;

    function scan(b: Uint8Array, avail: number): number {
      // Locals instead of closure slots in the hot loop, and one exit after it: in V8 this runs
      // about twice as fast as returning from inside the loop (measured, not guessed).
      const G = g, GL = gls, mS = maskS, mL = maskL, mSLs = maskSLs, mLLs = maskLLs;
      // Pair k covers bytes 2k and 2k + 1; scan only pairs fully available, never past max.
      const limit = Math.min(avail >>> 1, maxPairs);
      const c2 = Math.min(limit, centerPairs);
      let x = h;
      let k = i;
      let cut = -1;
      for (; k < c2; k++) {
        const a = 2 * k;
        x = ((x << 2) + GL[b[a]!]!) | 0;
        if ((x & mSLs) === 0) { cut = a; break; }
        x = (x + G[b[a + 1]!]!) | 0;
        if ((x & mS) === 0) { cut = a + 1; break; }
      }
      if (cut < 0) {
        for (; k < limit; k++) {
          const a = 2 * k;
          x = ((x << 2) + GL[b[a]!]!) | 0;
          if ((x & mLLs) === 0) { cut = a; break; }
          x = (x + G[b[a + 1]!]!) | 0;
          if ((x & mL) === 0) { cut = a + 1; break; }
        }
      }
      if (cut < 0 && avail >= max) cut = max;
      if (cut >= 0) return restart(cut);
      i = k;
      h = x;
      return -1;
    }

    function restart(cut: number): number {
      i = first;
      h = 0;
      return cut;
    }

    return {
      scan,
      finish(b, n) {
        const cut = n <= min ? n : scan(b, n);
        return restart(cut >= 0 ? cut : Math.min(n, max));
      },
      reset() {
        restart(0);
      },
    };
  }

  return { params: frozen, cut, scanner };
}

/** End offsets of every chunk of `data` (the last one is `data.length`; none for empty input). */
export function cutPoints(chunker: Chunker, data: Uint8Array): number[] {
  const out: number[] = [];
  let at = 0;
  while (at < data.length) {
    at += chunker.cut(data, at, data.length);
    out.push(at);
  }
  return out;
}
