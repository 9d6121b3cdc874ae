// Types for modules src/crypto/argon2.ts imports by path.
declare module 'argon2id/lib/argon2id.js' {
  import type { Argon2idParams } from 'argon2id';
  /** Argon2id (RFC 9106, version 0x13) on a WebAssembly instance of dist/simd.wasm or dist/no-simd.wasm. */
  export default function argon2id(params: Argon2idParams, wasm: { instance: WebAssembly.Instance; memory: WebAssembly.Memory }): Uint8Array;
}

// hash-wasm's ESM entry by path: the bare 'hash-wasm' is aliased to src/crypto/argon2.ts (vite.config.ts).
declare module 'hash-wasm/dist/index.esm.js' {
  export * from 'hash-wasm';
}
