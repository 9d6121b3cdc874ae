// The reference FastCDC (fastcdc-rs 4.0.1, v2016 and v2020) with 64-bit arithmetic in BigInt.
// Slow and only for tests: it ties format §6.1 to the published algorithm and cut points.

export interface Reference64Params {
  gear: readonly bigint[];
  /** v2020 only: GEAR_LS (GEAR[i] << 1 mod 2^64 unless seeded). */
  gearLs?: readonly bigint[];
  maskS: bigint;
  maskL: bigint;
  /** v2020 only: default mask << 1 mod 2^64, as in fastcdc-rs. */
  maskSLs?: bigint;
  maskLLs?: bigint;
  min: number;
  avg: number;
  max: number;
}

const M64 = (1n << 64n) - 1n;

/** One cut of v2020 on `b`: returns the chunk length and the rolling hash at the cut. */
export function referenceCut2020(p: Reference64Params, b: Uint8Array): { length: number; hash: bigint } {
  const gearLs = p.gearLs ?? p.gear.map((x) => (x << 1n) & M64);
  const maskSLs = p.maskSLs ?? (p.maskS << 1n) & M64;
  const maskLLs = p.maskLLs ?? (p.maskL << 1n) & M64;
  let remaining = b.length;
  if (remaining <= p.min) return { length: remaining, hash: 0n };
  let center = p.avg;
  if (remaining > p.max) remaining = p.max;
  else if (remaining < center) center = remaining;
  let index = Math.floor(p.min / 2);
  let hash = 0n;
  for (; index < Math.floor(center / 2); index++) {
    const a = index * 2;
    hash = ((hash << 2n) + gearLs[b[a]!]!) & M64;
    if ((hash & maskSLs) === 0n) return { length: a, hash };
    hash = (hash + p.gear[b[a + 1]!]!) & M64;
    if ((hash & p.maskS) === 0n) return { length: a + 1, hash };
  }
  for (; index < Math.floor(remaining / 2); index++) {
    const a = index * 2;
    hash = ((hash << 2n) + gearLs[b[a]!]!) & M64;
    if ((hash & maskLLs) === 0n) return { length: a, hash };
    hash = (hash + p.gear[b[a + 1]!]!) & M64;
    if ((hash & p.maskL) === 0n) return { length: a + 1, hash };
  }
  return { length: remaining, hash };
}

/** One cut of v2016 (one byte per step). */
export function referenceCut2016(p: Reference64Params, b: Uint8Array): { length: number; hash: bigint } {
  let remaining = b.length;
  if (remaining <= p.min) return { length: remaining, hash: 0n };
  let center = p.avg;
  if (remaining > p.max) remaining = p.max;
  else if (remaining < center) center = remaining;
  let hash = 0n;
  let i = p.min;
  for (; i < center; i++) {
    hash = ((hash << 1n) + p.gear[b[i]!]!) & M64;
    if ((hash & p.maskS) === 0n) return { length: i, hash };
  }
  for (; i < remaining; i++) {
    hash = ((hash << 1n) + p.gear[b[i]!]!) & M64;
    if ((hash & p.maskL) === 0n) return { length: i, hash };
  }
  return { length: remaining, hash };
}

/** All chunks of `data` under one of the reference cut functions. */
export function referenceChunks(
  cut: (p: Reference64Params, b: Uint8Array) => { length: number; hash: bigint },
  p: Reference64Params,
  data: Uint8Array,
): { offset: number; length: number; hash: bigint }[] {
  const out: { offset: number; length: number; hash: bigint }[] = [];
  let at = 0;
  while (at < data.length) {
    const { length, hash } = cut(p, data.subarray(at));
    out.push({ offset: at, length, hash });
    at += length;
  }
  return out;
}
