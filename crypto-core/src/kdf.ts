// Passphrase key derivation (format §4.1): Argon2id via hash-wasm (WebAssembly, same code in Node,
// browsers and workers) or a backend's native Argon2id (the Node CLI), then HKDF into the login key
// and the passphrase KEK.
import { argon2id } from 'hash-wasm';
import { fail } from './errors';
import { assertBytes, assertString, fromBase64Url, toBase64Url, utf8, wipe } from './bytes';
import { hkdf } from './primitives';
import { asKek, type Kek } from './keys';
import { randomBytes } from './random';
import { cryptoBackend, owned } from './backend';

export interface KdfParams { m: number; t: number; p: number; salt: Uint8Array }

// format §4.1: the floor clients enforce, whatever the server sends.
export const KDF_MIN_M = 65536;
export const KDF_MIN_T = 3;
export const KDF_P = 1;
// format §4.1: ceilings, so a hostile server cannot make a client allocate without bound.
export const KDF_MAX_M = 1_048_576; // 1 GiB in KiB
export const KDF_MAX_T = 64;
const KDF_ALG_ARGON2ID = 0x01;
const KDF_PARAMS_BYTES = 26;
const SALT_BYTES = 16;

const EMPTY = new Uint8Array(0);

export function newKdfParams(): KdfParams {
  return { m: KDF_MIN_M, t: KDF_MIN_T, p: KDF_P, salt: randomBytes(SALT_BYTES) };
}

function checkKdfParams(k: KdfParams): void {
  if (!Number.isInteger(k.m) || !Number.isInteger(k.t) || !Number.isInteger(k.p)) {
    fail('KDF_PARAMS_INVALID', 'KDF parameters must be integers');
  }
  if (k.m < KDF_MIN_M || k.t < KDF_MIN_T || k.p !== KDF_P) fail('KDF_PARAMS_INVALID', 'KDF parameters below the floor');
  if (k.m > KDF_MAX_M || k.t > KDF_MAX_T) fail('KDF_PARAMS_INVALID', 'KDF parameters above the ceiling');
  if (!(k.salt instanceof Uint8Array) || k.salt.length !== SALT_BYTES) fail('KDF_PARAMS_INVALID', 'salt must be 16 bytes');
}

/** base64url of `u8 0x01 || u32 m || u32 t || u8 p || salt[16]` (format §4.1). */
export function encodeKdfParams(k: KdfParams): string {
  if (typeof k !== 'object' || k === null) throw new TypeError('k must be KdfParams');
  checkKdfParams(k);
  const b = new Uint8Array(KDF_PARAMS_BYTES);
  const v = new DataView(b.buffer);
  b[0] = KDF_ALG_ARGON2ID;
  v.setUint32(1, k.m);
  v.setUint32(5, k.t);
  b[9] = k.p;
  b.set(k.salt, 10);
  return toBase64Url(b);
}

export function decodeKdfParams(s: string): KdfParams {
  assertString('s', s);
  const b = fromBase64Url(s);
  if (b.length !== KDF_PARAMS_BYTES) fail('KDF_PARAMS_INVALID', 'KDF parameters must be 26 bytes');
  if (b[0] !== KDF_ALG_ARGON2ID) fail('KDF_PARAMS_INVALID', 'unknown KDF algorithm');
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const k: KdfParams = { m: v.getUint32(1), t: v.getUint32(5), p: b[9]!, salt: b.slice(10) };
  checkKdfParams(k);
  return k;
}

/** Argon2id(NFC(text), salt, m, t, p, 32) after checking the floor (format §4.1, §8). */
export async function argon2idFromText(text: string, kdf: KdfParams): Promise<Uint8Array> {
  checkKdfParams(kdf);
  const password = utf8(text.normalize('NFC'));
  try {
    // hash-wasm refuses an empty password (a plain Error); the backend is skipped for it so that an
    // empty passphrase or link password fails the same way on every platform.
    const backend = password.length > 0 ? cryptoBackend() : null;
    const native = await backend?.argon2id?.(password, kdf.salt, { m: kdf.m, t: kdf.t, p: kdf.p, hashLength: 32 });
    if (native != null) {
      const out = owned(native);
      if (out.length !== 32) {
        wipe(out);
        throw new TypeError('crypto backend argon2id must return hashLength bytes');
      }
      return out;
    }
    return await argon2id({
      password, salt: kdf.salt, iterations: kdf.t, memorySize: kdf.m, parallelism: kdf.p, hashLength: 32, outputType: 'binary',
    });
  } finally {
    wipe(password);
  }
}

export async function derivePassphraseKeys(passphrase: string, kdf: KdfParams): Promise<{ loginKey: Uint8Array; passKek: Kek }> {
  assertString('passphrase', passphrase);
  if (typeof kdf !== 'object' || kdf === null) throw new TypeError('kdf must be KdfParams');
  assertBytes('kdf.salt', kdf.salt);
  const master = await argon2idFromText(passphrase, kdf);
  try {
    return {
      loginKey: hkdf(master, EMPTY, utf8('coffer/v1/login'), 32),
      passKek: asKek(hkdf(master, EMPTY, utf8('coffer/v1/passphrase-kek'), 32)),
    };
  } finally {
    wipe(master);
  }
}
