// Byte helpers and text encodings (format §1). Decoders are strict: they reject anything a
// canonical encoder would not have produced.
import { fail } from './errors';

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function assertBytes(name: string, value: unknown, length?: number): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  if (length !== undefined && value.length !== length) {
    throw new RangeError(`${name} must be ${length} bytes, got ${value.length}`);
  }
}

export function assertString(name: string, value: unknown): asserts value is string {
  if (typeof value !== 'string') throw new TypeError(`${name} must be a string`);
}

export function utf8(s: string): Uint8Array {
  return utf8Encoder.encode(s);
}

/** Decodes UTF-8, rejecting invalid sequences; returns null instead of throwing. */
export function tryDecodeUtf8(b: Uint8Array): string | null {
  try {
    return utf8Decoder.decode(b);
  } catch {
    return null;
  }
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, false);
  return b;
}

export function wipe(...buffers: (Uint8Array | undefined | null)[]): void {
  for (const b of buffers) b?.fill(0);
}

/** Constant-time comparison of two byte strings (the length is not secret). */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  assertBytes('a', a);
  assertBytes('b', b);
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

// ---- hex (ids are lowercase hex, format §1) ----

const HEX = '0123456789abcdef';

export function toHex(b: Uint8Array): string {
  assertBytes('b', b);
  let s = '';
  for (let i = 0; i < b.length; i++) s += HEX[b[i]! >> 4]! + HEX[b[i]! & 15]!;
  return s;
}

/** Lowercase hex only; uppercase, odd length or other characters are INVALID_ENCODING. */
export function fromHex(s: string): Uint8Array {
  assertString('s', s);
  if (s.length % 2 !== 0 || !/^[0-9a-f]*$/.test(s)) fail('INVALID_ENCODING', 'not lowercase hex');
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = (HEX_VALUE[s.charCodeAt(2 * i)]! << 4) | HEX_VALUE[s.charCodeAt(2 * i + 1)]!;
  return out;
}

// Values of '0'-'9' and 'a'-'f' (callers have already checked the alphabet).
const HEX_VALUE = new Uint8Array(128);
for (let i = 0; i < 16; i++) HEX_VALUE[HEX.charCodeAt(i)] = i;

/** Parses an id of `bytes` bytes (format §1: lowercase hex, exact length). Misuse → TypeError. */
export function idBytes(name: string, id: unknown, bytes: number): Uint8Array {
  if (typeof id !== 'string') throw new TypeError(`${name} must be a string`);
  if (id.length !== 2 * bytes || !/^[0-9a-f]*$/.test(id)) {
    throw new TypeError(`${name} must be ${2 * bytes} lowercase hex digits`);
  }
  return fromHex(id);
}

// ---- base64url without padding (format §1) ----

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const B64_INDEX = new Int16Array(128).fill(-1);
for (let i = 0; i < B64.length; i++) B64_INDEX[B64.charCodeAt(i)] = i;

export function toBase64Url(b: Uint8Array): string {
  assertBytes('b', b);
  let s = '';
  let i = 0;
  for (; i + 3 <= b.length; i += 3) {
    const v = (b[i]! << 16) | (b[i + 1]! << 8) | b[i + 2]!;
    s += B64[v >> 18]! + B64[(v >> 12) & 63]! + B64[(v >> 6) & 63]! + B64[v & 63]!;
  }
  const rest = b.length - i;
  if (rest === 1) {
    const v = b[i]! << 16;
    s += B64[v >> 18]! + B64[(v >> 12) & 63]!;
  } else if (rest === 2) {
    const v = (b[i]! << 16) | (b[i + 1]! << 8);
    s += B64[v >> 18]! + B64[(v >> 12) & 63]! + B64[(v >> 6) & 63]!;
  }
  return s;
}

/** Rejects padding, characters outside the alphabet and non-canonical trailing bits. */
export function fromBase64Url(s: string): Uint8Array {
  assertString('s', s);
  const n = s.length;
  if (n % 4 === 1) fail('INVALID_ENCODING', 'base64url length is impossible');
  const out = new Uint8Array(Math.floor((n * 3) / 4));
  const value = (i: number): number => {
    const c = s.charCodeAt(i);
    return c < 128 ? B64_INDEX[c]! : -1;
  };
  let at = 0;
  let i = 0;
  // Four characters make three bytes; a character outside the alphabet makes the sum negative.
  for (; i + 4 <= n; i += 4) {
    const a = value(i), b = value(i + 1), c = value(i + 2), d = value(i + 3);
    if ((a | b | c | d) < 0) fail('INVALID_ENCODING', 'character outside the base64url alphabet');
    const v = (a << 18) | (b << 12) | (c << 6) | d;
    out[at] = v >>> 16;
    out[at + 1] = v >>> 8;
    out[at + 2] = v;
    at += 3;
  }
  const rest = n - i; // 0, 2 or 3 characters: 0, 1 or 2 bytes, the unused low bits zero
  if (rest > 0) {
    const a = value(i), b = value(i + 1), c = rest === 3 ? value(i + 2) : 0;
    if ((a | b | c) < 0) fail('INVALID_ENCODING', 'character outside the base64url alphabet');
    const v = (a << 18) | (b << 12) | (c << 6);
    if ((rest === 2 ? v & 0xffff : v & 0xff) !== 0) fail('INVALID_ENCODING', 'non-canonical base64url trailing bits');
    out[at] = v >>> 16;
    if (rest === 3) out[at + 1] = v >>> 8;
  }
  return out;
}

// ---- Crockford base32 (recovery code, format §4.3) ----

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export function toCrockford(b: Uint8Array): string {
  let s = '';
  let acc = 0;
  let bits = 0;
  for (const byte of b) {
    acc = ((acc << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      s += CROCKFORD[(acc >> bits) & 31]!;
    }
  }
  if (bits > 0) s += CROCKFORD[(acc << (5 - bits)) & 31]!;
  return s;
}

/** Accepts lower case, O→0, I/L→1, ignores '-' and spaces; exact length and canonical bits required. */
export function fromCrockford(s: string, bytes: number): Uint8Array {
  const clean = s.replace(/[-\s]/g, '').toUpperCase().replace(/O/g, '0').replace(/[IL]/g, '1');
  if (clean.length !== Math.ceil((bytes * 8) / 5)) fail('INVALID_ENCODING', 'recovery code has the wrong length');
  const out = new Uint8Array(bytes);
  let acc = 0;
  let bits = 0;
  let at = 0;
  for (const ch of clean) {
    const v = CROCKFORD.indexOf(ch);
    if (v < 0) fail('INVALID_ENCODING', 'character outside the recovery code alphabet');
    acc = ((acc << 5) | v) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[at++] = (acc >> bits) & 0xff;
    }
  }
  if ((acc & ((1 << bits) - 1)) !== 0) fail('INVALID_ENCODING', 'non-canonical recovery code');
  return out;
}
