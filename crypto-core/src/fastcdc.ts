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

  return { params: frozen, cut };
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
