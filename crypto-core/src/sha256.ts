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

/** One compression of the 64 bytes at b[off ..] into state s. */
function compress(s: Int32Array, b: Uint8Array, off: number): void {
  for (let t = 0; t < 16; t++, off += 4) W[t] = (b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!;
  for (let t = 16; t < 64; t++) {
    const w15 = W[t - 15]!, w2 = W[t - 2]!;
    const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
    const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
    W[t] = (s1 + W[t - 7]! + s0 + W[t - 16]!) | 0;
  }
  let a = s[0]!, b_ = s[1]!, c = s[2]!, d = s[3]!, e = s[4]!, f = s[5]!, g = s[6]!, h = s[7]!;
  for (let t = 0; t < 64; t++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[t]! + W[t]!) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (S0 + ((a & b_) ^ (a & c) ^ (b_ & c))) | 0;
    h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b_; b_ = a; a = (t1 + t2) | 0;
  }
  s[0] = (s[0]! + a) | 0; s[1] = (s[1]! + b_) | 0; s[2] = (s[2]! + c) | 0; s[3] = (s[3]! + d) | 0;
  s[4] = (s[4]! + e) | 0; s[5] = (s[5]! + f) | 0; s[6] = (s[6]! + g) | 0; s[7] = (s[7]! + h) | 0;
}

/** Continues hashing `msg` from state `s` (which has absorbed `prefix` bytes, a multiple of 64) and writes the digest. */
function finish(s: Int32Array, prefix: number, msg: Uint8Array, out: Uint8Array): void {
  let off = 0;
  for (; off + 64 <= msg.length; off += 64) compress(s, msg, off);
  const rest = msg.length - off;
  BLOCK.set(msg.subarray(off));
  BLOCK[rest] = 0x80;
  BLOCK.fill(0, rest + 1);
  if (rest >= 56) {
    compress(s, BLOCK, 0);
    BLOCK.fill(0);
  }
  const bits = (prefix + msg.length) * 8; // < 2^53 for any message here
  const hi = Math.floor(bits / 0x100000000);
  BLOCK[56] = hi >>> 24; BLOCK[57] = hi >>> 16; BLOCK[58] = hi >>> 8; BLOCK[59] = hi;
  BLOCK[60] = bits >>> 24; BLOCK[61] = bits >>> 16; BLOCK[62] = bits >>> 8; BLOCK[63] = bits;
  compress(s, BLOCK, 0);
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
  finish(s, 0, msg, out);
  s.fill(0);
  return out;
}

/** HMAC key states after the ipad and opad blocks (16 words: inner, then outer). */
export type HmacKeyState = Int32Array;

export function hmacKeyState(key: Uint8Array): HmacKeyState {
  const k = key.length > 64 ? sha256Sync(key) : key;
  const st = new Int32Array(16);
  const pad = new Uint8Array(64);
  const inner = st.subarray(0, 8), outer = st.subarray(8, 16);
  inner.set(IV);
  outer.set(IV);
  pad.set(k);
  for (let i = 0; i < 64; i++) pad[i]! ^= 0x36;
  compress(inner, pad, 0);
  for (let i = 0; i < 64; i++) pad[i]! ^= 0x36 ^ 0x5c;
  compress(outer, pad, 0);
  pad.fill(0);
  W.fill(0);
  if (k !== key) k.fill(0);
  return st;
}

const S = new Int32Array(8); // working state scratch (wiped after each use)
const INNER = new Uint8Array(32);

/** HMAC-SHA256 from a precomputed key state. */
export function hmacWithState(st: HmacKeyState, msg: Uint8Array): Uint8Array {
  S.set(st.subarray(0, 8));
  finish(S, 64, msg, INNER);
  S.set(st.subarray(8, 16));
  const out = new Uint8Array(32);
  finish(S, 64, INNER, out);
  S.fill(0);
  INNER.fill(0);
  return out;
}

/** HMAC-SHA256(key, msg). */
export function hmacSha256Fast(key: Uint8Array, msg: Uint8Array): Uint8Array {
  const st = hmacKeyState(key);
  try {
    return hmacWithState(st, msg);
  } finally {
    st.fill(0);
  }
}
