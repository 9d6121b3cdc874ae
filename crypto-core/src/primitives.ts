// Primitive wrappers (format §1). Bulk AES-256-GCM, HMAC-SHA256 and SHA-256 go through WebCrypto
// (native, off the main thread in Node); HKDF on 32-byte inputs is cheaper synchronously in
// @noble/hashes than as a WebCrypto round trip. X25519 uses WebCrypto when the runtime has it and
// @noble/curves otherwise; the test suite cross-checks both paths.
//
// Small AES-256-GCM (inputs up to SMALL_AES_GCM_BYTES: metadata, HPKE key wraps, link payloads,
// device names, small manifests and chunks) goes through @noble/ciphers `gcm`, synchronously, where
// the runtime's WebCrypto is implemented in JavaScript (Node): there importKey + encrypt/decrypt
// cost 50–140 µs of CPU per record whatever its size (more under load: argument conversion in JS,
// a key object, a thread-pool job), against 20–50 µs for noble on 32–1024 bytes, whose cost grows
// with the size (~0.04 µs per byte) and overtakes WebCrypto's between 1 and 4 KiB. Browsers
// implement WebCrypto natively: Chromium does the same call in 10–25 µs, where noble takes
// 35–100 µs, so there it stays on WebCrypto. An installed backend (node:crypto, 4–10 µs) still
// comes first. Same bytes on every path; a failed tag is AUTH_FAILED on every path
// (test/small-aes.test.ts). Measured with bench/small-records-run.ts; docs/dependencies.md,
// "@noble/ciphers".
import { gcm as nobleGcm } from '@noble/ciphers/aes.js';
import { x25519 as nobleX25519 } from '@noble/curves/ed25519.js';
import { hkdf as nobleHkdf } from '@noble/hashes/hkdf.js';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { fail } from './errors';
import { concat } from './bytes';
import { cryptoBackend, owned } from './backend';
import { hmacKeyState, hmacSha256Fast, hmacWithState, hmacWithStateInto } from './sha256';

const subtle = (): SubtleCrypto => globalThis.crypto.subtle;

/** WebCrypto wants ArrayBuffer-backed views; TS 5.9's BufferSource typing is stricter than runtimes. */
const buf = (b: Uint8Array): Uint8Array<ArrayBuffer> => b as Uint8Array<ArrayBuffer>;

export const AES_KEY_BYTES = 32;
export const NONCE_BYTES = 12; // format §1
export const TAG_BYTES = 16; // format §1

// ---- AES-256-GCM ----

export function importAesKey(key: Uint8Array, usage: 'encrypt' | 'decrypt'): Promise<CryptoKey> {
  return subtle().importKey('raw', buf(key), { name: 'AES-GCM' }, false, [usage]);
}

/**
 * Inputs (plaintext, or ciphertext with its tag) of at most this many bytes take the synchronous
 * @noble/ciphers path where WebCrypto is implemented in JavaScript (see the top of this file).
 */
export const SMALL_AES_GCM_BYTES = 1024;

let syncSmallAes: boolean | null = null;

/**
 * Whether this runtime's WebCrypto is JavaScript (Node's, polyfills), so that each call pays for
 * argument conversion and a job hand-off in JS; browsers' is native code (checked once).
 */
function webCryptoIsJavaScript(): boolean {
  const encrypt: unknown = subtle().encrypt;
  return typeof encrypt !== 'function' || !/\{\s*\[native code\]\s*\}\s*$/.test(Function.prototype.toString.call(encrypt));
}

/** Tests and benchmarks only: force the small-record route (true: @noble, false: WebCrypto), or detect again (null). */
export function forceSyncSmallAes(force: boolean | null): void {
  syncSmallAes = force;
}

/** Whether AES-GCM of `length` bytes under this key and nonce takes the synchronous @noble path. */
export function useSyncAes(key: Uint8Array, nonce: Uint8Array, length: number): boolean {
  // Keys and nonces of other lengths go to WebCrypto, which reports them as it always did.
  if (length > SMALL_AES_GCM_BYTES || key.length !== AES_KEY_BYTES || nonce.length !== NONCE_BYTES) return false;
  return (syncSmallAes ??= webCryptoIsJavaScript());
}

/** AES-256-GCM seal through @noble/ciphers: ct || tag, the bytes WebCrypto gives. */
export function aesGcmSealSync(key: Uint8Array, nonce: Uint8Array, pt: Uint8Array, aad: Uint8Array): Uint8Array {
  return nobleGcm(key, nonce, aad).encrypt(pt);
}

/** AES-256-GCM open through @noble/ciphers: the tag is checked before any plaintext is computed; AUTH_FAILED otherwise. */
export function aesGcmOpenSync(key: Uint8Array, nonce: Uint8Array, ct: Uint8Array, aad: Uint8Array): Uint8Array {
  try {
    return nobleGcm(key, nonce, aad).decrypt(ct);
  } catch {
    // With a 32-byte key and a 12-byte nonce (useSyncAes), noble throws only for a bad tag or a
    // ciphertext shorter than the tag: both AUTH_FAILED, as from WebCrypto.
    fail('AUTH_FAILED', 'authentication failed');
  }
}

export async function aesGcmSeal(key: Uint8Array, nonce: Uint8Array, pt: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
  const backend = cryptoBackend();
  if (backend?.aesGcmSeal) return owned(await backend.aesGcmSeal(key, nonce, pt, aad));
  if (useSyncAes(key, nonce, pt.length)) return aesGcmSealSync(key, nonce, pt, aad);
  const k = await importAesKey(key, 'encrypt');
  const ct = await subtle().encrypt({ name: 'AES-GCM', iv: buf(nonce), additionalData: buf(aad), tagLength: 128 }, k, buf(pt));
  return new Uint8Array(ct);
}

/** Returns the plaintext, or throws AUTH_FAILED. Nothing is returned before the tag verified. */
export async function aesGcmOpen(key: Uint8Array, nonce: Uint8Array, ct: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
  const backend = cryptoBackend();
  if (backend?.aesGcmOpen) {
    let out: Uint8Array;
    try {
      out = await backend.aesGcmOpen(key, nonce, ct, aad);
    } catch {
      fail('AUTH_FAILED', 'authentication failed');
    }
    return owned(out); // a backend returning something else is misuse (TypeError), not AUTH_FAILED
  }
  if (useSyncAes(key, nonce, ct.length)) return aesGcmOpenSync(key, nonce, ct, aad);
  const k = await importAesKey(key, 'decrypt');
  let pt: ArrayBuffer;
  try {
    pt = await subtle().decrypt({ name: 'AES-GCM', iv: buf(nonce), additionalData: buf(aad), tagLength: 128 }, k, buf(ct));
  } catch {
    fail('AUTH_FAILED', 'authentication failed');
  }
  return new Uint8Array(pt);
}

// ---- HMAC-SHA256 / SHA-256 ----

export function importHmacKey(key: Uint8Array): Promise<CryptoKey> {
  return subtle().importKey('raw', buf(key), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
}

export async function hmacSha256(key: Uint8Array | CryptoKey, msg: Uint8Array): Promise<Uint8Array> {
  const backend = cryptoBackend();
  if (backend?.hmacSha256 && key instanceof Uint8Array) return owned(await backend.hmacSha256(key, msg));
  const k = key instanceof Uint8Array ? await importHmacKey(key) : key;
  return new Uint8Array(await subtle().sign('HMAC', k, buf(msg)));
}

/** Synchronous HMAC for short messages (names, challenges), where a WebCrypto round trip dominates. */
export function hmacSha256Sync(key: Uint8Array, msg: Uint8Array): Uint8Array {
  return hmacSha256Fast(key, msg);
}

// HMAC keyed with HashLen zero bytes (HKDF-Extract with an empty salt, RFC 5869): the keyed inner
// and outer states are computed once, saving two of four compressions per use.
const ZERO_KEY_STATE = hmacKeyState(new Uint8Array(32));

/** HMAC(32 zero bytes, msg) = HKDF-Extract(salt = "", msg). */
export function hmacZeroKey(msg: Uint8Array): Uint8Array {
  return hmacWithState(ZERO_KEY_STATE, msg);
}

/** HMAC(32 zero bytes, msg[0 .. len)) into out[0 .. 32) (no allocation). */
export function hmacZeroKeyInto(msg: Uint8Array, len: number, out: Uint8Array): void {
  hmacWithStateInto(ZERO_KEY_STATE, msg, len, out);
}

export async function sha256(msg: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle().digest('SHA-256', buf(msg)));
}

// ---- HKDF-SHA256 (RFC 5869; an empty salt means HashLen zero bytes, format §1) ----

export function hkdf(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  if (length > 32 || length < 1) return nobleHkdf(nobleSha256, ikm, salt.length === 0 ? undefined : salt, info, length);
  // One output block: PRK = HMAC(salt, ikm); OKM = HMAC(PRK, info || 0x01)[0 .. length).
  const prk = salt.length === 0 ? hmacZeroKey(ikm) : hmacSha256Fast(salt, ikm);
  const msg = new Uint8Array(info.length + 1);
  msg.set(info);
  msg[info.length] = 1;
  const t = hmacSha256Fast(prk, msg);
  prk.fill(0);
  if (length === 32) return t;
  const out = t.slice(0, length);
  t.fill(0);
  return out;
}

// ---- X25519 (RFC 7748) ----

const BASE_POINT = new Uint8Array(32);
BASE_POINT[0] = 9;
// PKCS#8 prefix for a raw X25519 private key (RFC 8410).
const PKCS8_X25519_PREFIX = new Uint8Array([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20,
]);

let webCryptoX25519: Promise<boolean> | null = null;

/** Whether this runtime's WebCrypto implements X25519 deriveBits (checked once). */
export function hasWebCryptoX25519(): Promise<boolean> {
  webCryptoX25519 ??= (async () => {
    try {
      const k = new Uint8Array(32).fill(7);
      const out = await x25519WebCrypto(k, BASE_POINT);
      return out.length === 32 && out.some((b) => b !== 0);
    } catch {
      return false;
    }
  })();
  return webCryptoX25519;
}

/** Tests only: pretend WebCrypto lacks X25519 (true), or detect again (null). */
export function forceNobleX25519(force: boolean | null): void {
  webCryptoX25519 = force === null ? null : Promise.resolve(!force);
}

export async function x25519WebCrypto(privateKey: Uint8Array, publicKey: Uint8Array): Promise<Uint8Array> {
  const sk = await subtle().importKey('pkcs8', buf(concat(PKCS8_X25519_PREFIX, privateKey)), { name: 'X25519' }, false, ['deriveBits']);
  const pk = await subtle().importKey('raw', buf(publicKey), { name: 'X25519' }, true, []);
  return new Uint8Array(await subtle().deriveBits({ name: 'X25519', public: pk } as EcdhKeyDeriveParams, sk, 256));
}

/** Imports a raw X25519 private key for deriveBits (WebCrypto). */
export function x25519WebCryptoImportPrivate(privateKey: Uint8Array): Promise<CryptoKey> {
  const der = concat(PKCS8_X25519_PREFIX, privateKey);
  return subtle().importKey('pkcs8', buf(der), { name: 'X25519' }, false, ['deriveBits']).finally(() => der.fill(0));
}

/** X25519(sk, pk) with an imported private key; no all-zero check (callers do it). */
export async function x25519WebCryptoDerive(sk: CryptoKey, publicKey: Uint8Array): Promise<Uint8Array> {
  const pk = await subtle().importKey('raw', buf(publicKey), { name: 'X25519' }, true, []);
  return new Uint8Array(await subtle().deriveBits({ name: 'X25519', public: pk } as EcdhKeyDeriveParams, sk, 256));
}

export function x25519Noble(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  return nobleX25519.getSharedSecret(privateKey, publicKey);
}

/** X25519(sk, pk); an all-zero result (a low-order public key) is INVALID_KEY (RFC 7748 §6.1). */
export async function x25519(privateKey: Uint8Array, publicKey: Uint8Array): Promise<Uint8Array> {
  let shared: Uint8Array;
  try {
    shared = (await hasWebCryptoX25519()) ? await x25519WebCrypto(privateKey, publicKey) : x25519Noble(privateKey, publicKey);
  } catch {
    fail('INVALID_KEY', 'X25519 rejected the public key');
  }
  if (shared.every((b) => b === 0)) fail('INVALID_KEY', 'X25519 shared secret is all zero');
  return shared;
}

/** The public key X25519(sk, 9). Synchronous so key objects can compute it lazily. */
export function x25519PublicKey(privateKey: Uint8Array): Uint8Array {
  return nobleX25519.getPublicKey(privateKey);
}
