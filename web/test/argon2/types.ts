// What web/test/argon2.test.ts sends to the test page's worker and gets back (plain data).
export interface Vector { m: number; t: number; p: number; tagLength: number; password: string; salt: string; secret: string; ad: string }
export interface Params { m: number; t: number; p: number; password: string; salt: string }
export interface Check { vectors: Vector[]; params: Params[]; passphrase: string; kdf: string }
export interface Result {
  /** The wasm compiled from our origin under the CSP (null would mean the hash-wasm fallback). */
  wasmLoaded: boolean;
  /** The SIMD file is a same-origin asset this engine validates, so it is the one compiled. */
  simdValid: boolean;
  /** argon2id's block function (the wasm this build loads), with secret and ad, per vector. */
  vectors: string[];
  /** [shim, hash-wasm] per params. */
  pairs: [string, string][];
  /** crypto-core's derivePassphraseKeys through the alias: the login key. */
  loginKey: string;
  emptyPassword: [string, string];
}
