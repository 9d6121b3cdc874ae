// Padmé padding (format §3).
import { fail } from './errors';

export const MIN_PADDED = 256; // format §3

/** Padmé (Nikitin et al., PETS 2019): round n up, leaving O(log log n) bits of length. */
export function padme(n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError('n must be a non-negative safe integer');
  if (n < 2) return n;
  const e = floorLog2(n);
  const s = floorLog2(e) + 1;
  const maskBits = e - s;
  // n < 2^53, so the mask fits a double exactly; avoid 32-bit bitwise operators here.
  const step = 2 ** maskBits;
  return Math.ceil(n / step) * step;
}

/** Exact floor(log2 n) for 1 ≤ n < 2^53 (Math.log2 rounds up just below powers of two). */
function floorLog2(n: number): number {
  let e = Math.floor(Math.log2(n));
  if (2 ** e > n) e--;
  else if (2 ** (e + 1) <= n) e++;
  return e;
}

export function padLen(n: number): number {
  return Math.max(MIN_PADDED, padme(n));
}

/** `pt || 0x80 || 0x00*k` of length padLen(len(pt) + 1). */
export function pad(pt: Uint8Array): Uint8Array {
  const body = new Uint8Array(padLen(pt.length + 1));
  body.set(pt);
  body[pt.length] = 0x80;
  return body;
}

/** Inverse of pad; returns a view into `body`. */
export function unpad(body: Uint8Array): Uint8Array {
  let end = body.length - 1;
  while (end >= 0 && body[end] === 0) end--;
  if (end < 0 || body[end] !== 0x80) fail('PADDING_INVALID', 'padding marker missing');
  if (body.length !== padLen(end + 1)) fail('PADDING_INVALID', 'padded length does not match');
  return body.subarray(0, end);
}
