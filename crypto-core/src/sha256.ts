// A small synchronous SHA-256 / HMAC-SHA256 (FIPS 180-4, RFC 2104) for the short inputs of key
// schedules (HKDF on 32-byte keys, the HPKE key schedule): ~7 HMACs per child of a folder listing.
// @noble/hashes computes the same values but allocates several objects per call, which cost more
// than the compressions themselves here. Bulk hashing stays in WebCrypto. Cross-checked against
// @noble/hashes and the Wycheproof HMAC / HKDF vectors (test/primitives.test.ts).

const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const IV = new Int32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);

const W = new Int32Array(64); // message schedule scratch (wiped after each use)
const BLOCK = new Uint8Array(64); // padding scratch (wiped after each use)

/** One compression of the 64 bytes at b[off ..] into the 8 words of s starting at word `so`. */
function compress(s: Int32Array, so: number, b: Uint8Array, off: number): void {
  for (let t = 0; t < 16; t++, off += 4) W[t] = (b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!;
  for (let t = 16; t < 64; t++) {
    const w15 = W[t - 15]!, w2 = W[t - 2]!;
    const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
    const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
    W[t] = (s1 + W[t - 7]! + s0 + W[t - 16]!) | 0;
  }
  let a = s[so]!, b_ = s[so + 1]!, c = s[so + 2]!, d = s[so + 3]!, e = s[so + 4]!, f = s[so + 5]!, g = s[so + 6]!, h = s[so + 7]!;
  for (let t = 0; t < 64; t++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[t]! + W[t]!) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (S0 + ((a & b_) ^ (a & c) ^ (b_ & c))) | 0;
    h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b_; b_ = a; a = (t1 + t2) | 0;
  }
  s[so] = (s[so]! + a) | 0; s[so + 1] = (s[so + 1]! + b_) | 0; s[so + 2] = (s[so + 2]! + c) | 0; s[so + 3] = (s[so + 3]! + d) | 0;
  s[so + 4] = (s[so + 4]! + e) | 0; s[so + 5] = (s[so + 5]! + f) | 0; s[so + 6] = (s[so + 6]! + g) | 0; s[so + 7] = (s[so + 7]! + h) | 0;
}

/**
 * Continues hashing msg[0 .. len) from state `s` (which has absorbed `prefix` bytes, a multiple of
 * 64) and writes the digest to out[0 .. 32).
 */
function finish(s: Int32Array, prefix: number, msg: Uint8Array, len: number, out: Uint8Array): void {
  let off = 0;
  for (; off + 64 <= len; off += 64) compress(s, 0, msg, off);
  const rest = len - off;
  for (let i = 0; i < rest; i++) BLOCK[i] = msg[off + i]!;
  BLOCK[rest] = 0x80;
  BLOCK.fill(0, rest + 1);
  if (rest >= 56) {
    compress(s, 0, BLOCK, 0);
    BLOCK.fill(0);
  }
  const bits = (prefix + len) * 8; // < 2^53 for any message here
  const hi = Math.floor(bits / 0x100000000);
  BLOCK[56] = hi >>> 24; BLOCK[57] = hi >>> 16; BLOCK[58] = hi >>> 8; BLOCK[59] = hi;
  BLOCK[60] = bits >>> 24; BLOCK[61] = bits >>> 16; BLOCK[62] = bits >>> 8; BLOCK[63] = bits;
  compress(s, 0, BLOCK, 0);
  for (let i = 0; i < 8; i++) {
    const v = s[i]!;
    out[4 * i] = v >>> 24; out[4 * i + 1] = v >>> 16; out[4 * i + 2] = v >>> 8; out[4 * i + 3] = v;
  }
  BLOCK.fill(0);
  W.fill(0);
}

export function sha256Sync(msg: Uint8Array): Uint8Array {
  const s = IV.slice();
  const out = new Uint8Array(32);
  finish(s, 0, msg, msg.length, out);
  s.fill(0);
  return out;
}

/** HMAC key states after the ipad and opad blocks (16 words: inner, then outer). */
export type HmacKeyState = Int32Array;

const PAD = new Uint8Array(64); // key pad scratch (wiped after each use)

/** Writes the HMAC key state of `key` into st[0 .. 16) (no allocation). */
export function hmacKeyStateInto(key: Uint8Array, st: Int32Array): void {
  const k = key.length > 64 ? sha256Sync(key) : key;
  st.set(IV, 0);
  st.set(IV, 8);
  PAD.set(k);
  PAD.fill(0, k.length);
  for (let i = 0; i < 64; i++) PAD[i]! ^= 0x36;
  compress(st, 0, PAD, 0);
  for (let i = 0; i < 64; i++) PAD[i]! ^= 0x36 ^ 0x5c;
  compress(st, 8, PAD, 0);
  PAD.fill(0);
  W.fill(0);
  if (k !== key) k.fill(0);
}

export function hmacKeyState(key: Uint8Array): HmacKeyState {
  const st = new Int32Array(16);
  hmacKeyStateInto(key, st);
  return st;
}

const S = new Int32Array(8); // working state scratch (wiped after each use)
const INNER = new Uint8Array(32);

/** HMAC-SHA256 of msg[0 .. len) from a precomputed key state, into out[0 .. 32) (no allocation). */
export function hmacWithStateInto(st: HmacKeyState, msg: Uint8Array, len: number, out: Uint8Array): void {
  for (let i = 0; i < 8; i++) S[i] = st[i]!;
  finish(S, 64, msg, len, INNER);
  for (let i = 0; i < 8; i++) S[i] = st[8 + i]!;
  finish(S, 64, INNER, 32, out);
  S.fill(0);
  INNER.fill(0);
}

/** HMAC-SHA256 from a precomputed key state. */
export function hmacWithState(st: HmacKeyState, msg: Uint8Array): Uint8Array {
  const out = new Uint8Array(32);
  hmacWithStateInto(st, msg, msg.length, out);
  return out;
}

const ST = new Int32Array(16); // key state scratch of hmacSha256Fast (wiped after each use)

/** HMAC-SHA256(key, msg). */
export function hmacSha256Fast(key: Uint8Array, msg: Uint8Array): Uint8Array {
  hmacKeyStateInto(key, ST);
  const out = new Uint8Array(32);
  hmacWithStateInto(ST, msg, msg.length, out);
  ST.fill(0);
  return out;
}

/** HMAC-SHA256(key, msg[0 .. len)) into out[0 .. 32) (no allocation). */
export function hmacSha256Into(key: Uint8Array, msg: Uint8Array, len: number, out: Uint8Array): void {
  hmacKeyStateInto(key, ST);
  hmacWithStateInto(ST, msg, len, out);
  ST.fill(0);
}
