// A CryptoBackend (crypto-core API.md, "Crypto backend") on node:crypto, for Node hosts; exported as
// `@coffer/crypto-core/node` and installed by the `coffer` CLI at start-up. It lives outside src/ so
// the core stays free of Node-only imports. test/backend.test.ts checks that records sealed through
// it open through WebCrypto and the other way round.
import * as nc from 'node:crypto';
import { createRequire } from 'node:module';
import type { CryptoBackend } from '../src/index.ts';
import { sealChunkInWorker } from './chunk-sealer.ts';

type NativeArgon2 = typeof import('argon2');
let nativeArgon2: NativeArgon2 | null | undefined;

/**
 * The `argon2` package (libargon2's optimised C code through a prebuilt Node-API addon), loaded on
 * first use so commands that never derive a passphrase key do not pay its ~10 ms load. null when it
 * cannot load on this platform: crypto-core then falls back to hash-wasm (same bytes, ~1.5x slower).
 */
function loadNativeArgon2(): NativeArgon2 | null {
  if (nativeArgon2 === undefined) {
    try {
      nativeArgon2 = createRequire(import.meta.url)('argon2') as NativeArgon2;
    } catch {
      nativeArgon2 = null;
    }
  }
  return nativeArgon2;
}

const bufferView = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

// Imported private keys, by array: folder and account keys are reused for every child. The bytes
// are compared on every hit, so a caller reusing an array for another key gets a fresh import.
const privateKeys = new WeakMap<Uint8Array, { bytes: Buffer; key: nc.KeyObject }>();

function privateKey(raw: Uint8Array): nc.KeyObject {
  const hit = privateKeys.get(raw);
  if (hit && hit.bytes.equals(raw)) return hit.key;
  const der = Buffer.concat([PKCS8_X25519_PREFIX, raw]);
  try {
    const key = nc.createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    privateKeys.set(raw, { bytes: Buffer.from(raw), key });
    return key;
  } finally {
    der.fill(0);
  }
}

/**
 * Runs `input` through the cipher into `out` in 64 KiB steps; returns the bytes written. Each
 * update() output is a small allocation copied once into `out`, instead of one fresh multi-MiB
 * buffer per chunk.
 */
function updateInto(c: nc.CipherGCM | nc.DecipherGCM, input: Uint8Array, out: Uint8Array): number {
  let at = 0;
  for (let i = 0; i < input.length; i += 65536) {
    const part = c.update(input.subarray(i, Math.min(input.length, i + 65536)));
    out.set(part, at);
    at += part.length;
  }
  return at;
}

export const nodeCryptoBackend = {
  aesGcmSeal(key, nonce, pt, aad) {
    const c = nc.createCipheriv('aes-256-gcm', key, nonce);
    c.setAAD(aad);
    const head = c.update(pt);
    const tail = c.final();
    return Buffer.concat([head, tail, c.getAuthTag()]);
  },
  aesGcmSealInto(key, nonce, pt, aad, out) {
    const c = nc.createCipheriv('aes-256-gcm', key, nonce);
    c.setAAD(aad);
    const at = updateInto(c, pt, out);
    const tail = c.final();
    out.set(tail, at);
    out.set(c.getAuthTag(), at + tail.length);
  },
  aesGcmOpen(key, nonce, ctAndTag, aad) {
    if (ctAndTag.length < 16) throw new Error('too short');
    const d = nc.createDecipheriv('aes-256-gcm', key, nonce);
    d.setAAD(aad);
    d.setAuthTag(ctAndTag.subarray(ctAndTag.length - 16));
    const head = d.update(ctAndTag.subarray(0, ctAndTag.length - 16));
    try {
      const tail = d.final(); // throws when the tag does not verify
      return tail.length === 0 ? head : Buffer.concat([head, tail]);
    } catch (e) {
      head.fill(0); // never hand out unverified plaintext
      throw e;
    }
  },
  aesGcmOpenInto(key, nonce, ctAndTag, aad, out) {
    // `out` holds unverified plaintext until final() has checked the tag; decryptChunk wipes it
    // when this throws.
    if (ctAndTag.length < 16 || out.length !== ctAndTag.length - 16) throw new Error('wrong lengths');
    const d = nc.createDecipheriv('aes-256-gcm', key, nonce);
    d.setAAD(aad);
    d.setAuthTag(ctAndTag.subarray(ctAndTag.length - 16));
    const at = updateInto(d, ctAndTag.subarray(0, out.length), out);
    out.set(d.final(), at); // throws when the tag does not verify
  },
  // encryptStream's chunks: id, key and AES-GCM on a worker thread while this thread chunks
  // (chunk-sealer.ts).
  sealChunk: sealChunkInWorker,
  hmacSha256(key, msg) {
    return nc.createHmac('sha256', key).update(msg).digest();
  },
  async argon2id(password, salt, { m, t, p, hashLength }) {
    const argon2 = loadNativeArgon2();
    if (!argon2) return null;
    // Raw output, version 0x13, no secret or associated data: exactly RFC 9106 Argon2id as hash-wasm
    // computes it (test/argon2.test.ts). The package copies the password into a Buffer of its own
    // that we cannot wipe; hash-wasm likewise leaves it in its WebAssembly memory.
    return argon2.hash(bufferView(password), {
      raw: true, type: argon2.argon2id, version: 0x13, memoryCost: m, timeCost: t, parallelism: p, hashLength, salt: bufferView(salt),
    });
  },
  x25519(sk, pk) {
    const publicKey = nc.createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(pk).toString('base64url') }, format: 'jwk' });
    return nc.diffieHellman({ privateKey: privateKey(sk), publicKey });
  },
} satisfies CryptoBackend;
