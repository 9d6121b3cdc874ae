// Optional native crypto backend (API.md, "Crypto backend"). crypto-core itself uses WebCrypto and
// @noble only, so it runs unchanged in browsers and workers; a host that has faster primitives
// (the Node CLI / desktop agent: node:crypto) may inject them here. The byte format does not
// change: a backend computes the same functions, and records sealed with one backend open with
// any other (crypto-core/test/backend.test.ts).

/**
 * One chunk for CryptoBackend.sealChunk (format §6.2, §6.3): id = HMAC(idKey, plaintext),
 * key = HMAC(keyKey, id), record = header || nonce || AES-256-GCM(key, nonce, body, aadPrefix || id).
 */
export interface ChunkJob {
  /** The vault's chunk-id and chunk-key HMAC keys, 32 bytes each; read, never modified. */
  idKey: Uint8Array;
  keyKey: Uint8Array;
  /** The record header and the 12-byte nonce that start the record. */
  header: Uint8Array;
  nonce: Uint8Array;
  /** The AAD is aadPrefix || id. */
  aadPrefix: Uint8Array;
  /**
   * The padded chunk (format §3); the plaintext is body[0 .. plainLength). crypto-core does not
   * touch body.buffer until the call settles, then reuses it; a backend that transferred it to
   * another thread (detaching it) hands the buffer back as the result's `body`.
   */
  body: Uint8Array;
  plainLength: number;
}

export interface SealedChunk { id: Uint8Array; key: Uint8Array; record: Uint8Array; body?: Uint8Array }

/**
 * Byte-level AES-256-GCM, HMAC-SHA256, X25519 and Argon2id. Every member is optional: what a
 * backend leaves out takes crypto-core's own path. Results may be sync or async.
 */
export interface CryptoBackend {
  /** AES-256-GCM with a 96-bit nonce and a 128-bit tag: returns ct || tag. */
  aesGcmSeal?(key: Uint8Array, nonce: Uint8Array, pt: Uint8Array, aad: Uint8Array): Uint8Array | Promise<Uint8Array>;
  /**
   * Inverse of aesGcmSeal on ct || tag. MUST verify the tag before returning anything and throw
   * (any error) when it fails; crypto-core reports AUTH_FAILED.
   */
  aesGcmOpen?(key: Uint8Array, nonce: Uint8Array, ctAndTag: Uint8Array, aad: Uint8Array): Uint8Array | Promise<Uint8Array>;
  /**
   * Optional form of aesGcmSeal that writes ct || tag into `out` (exactly pt.length + 16 bytes, a
   * view into the record being built), saving a multi-MiB allocation and copy per chunk.
   */
  aesGcmSealInto?(key: Uint8Array, nonce: Uint8Array, pt: Uint8Array, aad: Uint8Array, out: Uint8Array): void | Promise<void>;
  /**
   * Optional form of aesGcmOpen that writes the plaintext into `out` (exactly ctAndTag.length - 16
   * bytes, a buffer the caller reuses), saving an allocation per chunk. MUST verify the tag before
   * returning and throw (any error) when it fails; crypto-core then wipes `out`.
   */
  aesGcmOpenInto?(key: Uint8Array, nonce: Uint8Array, ctAndTag: Uint8Array, aad: Uint8Array, out: Uint8Array): void | Promise<void>;
  /** HMAC-SHA256(key, msg), 32 bytes. `msg` may be a view into a larger buffer (a chunk). */
  hmacSha256?(key: Uint8Array, msg: Uint8Array): Uint8Array | Promise<Uint8Array>;
  /** X25519(privateKey, publicKey) on raw 32-byte keys (RFC 7748); throw for a rejected key. crypto-core checks the all-zero output. */
  x25519?(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array | Promise<Uint8Array>;
  /**
   * Optional Argon2id (RFC 9106, version 0x13, no secret, no associated data) of `password` and
   * `salt`: `m` KiB, `t` passes, `p` lanes, `hashLength` bytes out. It must give exactly the bytes
   * of the built-in hash-wasm path (format §4.1); crypto-core has checked the parameters first.
   * Resolving to null means "not available here" (e.g. a native module that failed to load):
   * crypto-core then uses hash-wasm.
   */
  argon2id?(password: Uint8Array, salt: Uint8Array, params: { m: number; t: number; p: number; hashLength: number }): Promise<Uint8Array | null>;
  /**
   * Optional: a chunk's id, key and record in one call (see ChunkJob), so that a host can compute
   * them on another thread while encryptStream chunks the next part of the file. Jobs may
   * complete in any order; encryptStream keeps file order. When present it is used instead of
   * hmacSha256 + aesGcmSeal(Into) for encryptStream; chunkIdOf still uses hmacSha256.
   */
  sealChunk?(job: ChunkJob): Promise<SealedChunk>;
}

let current: CryptoBackend | null = null;

/**
 * Installs (or with null, removes) a backend for bulk and per-record AES-GCM, HMAC, X25519 and Argon2id.
 * Process-wide; install it once at start-up, before opening a vault.
 */
export function setCryptoBackend(backend: CryptoBackend | null): void {
  if (backend !== null) {
    if (typeof backend !== 'object') throw new TypeError('backend must be a CryptoBackend or null');
    for (const f of ['aesGcmSeal', 'aesGcmOpen', 'hmacSha256', 'x25519', 'aesGcmSealInto', 'aesGcmOpenInto', 'argon2id', 'sealChunk'] as const) {
      if (backend[f] !== undefined && typeof backend[f] !== 'function') throw new TypeError(`backend.${f} must be a function`);
    }
  }
  current = backend;
}

export function cryptoBackend(): CryptoBackend | null {
  return current;
}

/**
 * A plain Uint8Array that owns its whole buffer. Backends may return a view into
 * a shared pool (node:crypto does for small outputs); handing that out would expose the pool, so
 * such results are copied and the original wiped.
 */
export function owned(b: Uint8Array): Uint8Array {
  if (!(b instanceof Uint8Array)) throw new TypeError('crypto backend must return Uint8Array values');
  if (b.byteOffset === 0 && b.buffer.byteLength === b.byteLength) {
    return b.constructor === Uint8Array ? b : new Uint8Array(b.buffer, 0, b.byteLength);
  }
  const copy = new Uint8Array(b.length);
  copy.set(b);
  b.fill(0);
  return copy;
}
