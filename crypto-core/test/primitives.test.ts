// Primitive wrappers against Wycheproof, and WebCrypto cross-checked against @noble.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { gcm } from '@noble/ciphers/aes.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { CofferCryptoError } from '../src/index';
import { primitives as p } from '../src/internal';
import { hex, readVector, toHexString } from './helpers';

interface Group<T> { tests: T[]; [k: string]: unknown }
interface Suite<T> { testGroups: Group<T>[] }

describe('Wycheproof AES-256-GCM (12-byte IV, 128-bit tag)', () => {
  type Case = { tcId: number; key: string; iv: string; aad: string; msg: string; ct: string; tag: string; result: string };
  const suite = readVector<Suite<Case>>('third-party/wycheproof/aes_gcm_test.json');
  const cases = suite.testGroups.filter((g) => g.keySize === 256 && g.ivSize === 96 && g.tagSize === 128).flatMap((g) => g.tests);

  it('has both valid and invalid cases', () => {
    expect(cases.filter((c) => c.result === 'valid').length).toBeGreaterThan(10);
    expect(cases.filter((c) => c.result === 'invalid').length).toBeGreaterThan(5);
  });

  // Both small-record routes of primitives.ts: WebCrypto, and synchronous @noble (format §1).
  it.each(cases.flatMap((c) => [[c.tcId, 'WebCrypto', c], [c.tcId, 'sync @noble', c]] as const))('tcId %i, %s', async (_id, route, c) => {
    const key = hex(c.key), iv = hex(c.iv), aad = hex(c.aad), msg = hex(c.msg);
    const sealed = hex(c.ct + c.tag);
    p.forceSyncSmallAes(route === 'sync @noble');
    try {
      if (c.result === 'valid') {
        expect(toHexString(await p.aesGcmSeal(key, iv, msg, aad))).toBe(c.ct + c.tag);
        expect(toHexString(await p.aesGcmOpen(key, iv, sealed, aad))).toBe(c.msg);
        expect(toHexString(gcm(key, iv, aad).decrypt(sealed))).toBe(c.msg);
      } else {
        await expect(p.aesGcmOpen(key, iv, sealed, aad)).rejects.toMatchObject({ code: 'AUTH_FAILED' });
        expect(() => gcm(key, iv, aad).decrypt(sealed)).toThrow();
      }
    } finally {
      p.forceSyncSmallAes(null);
    }
  });
});

describe('Wycheproof HMAC-SHA256', () => {
  type Case = { tcId: number; key: string; msg: string; tag: string; result: string };
  const suite = readVector<Suite<Case>>('third-party/wycheproof/hmac_sha256_test.json');
  const cases = suite.testGroups.flatMap((g) => g.tests.map((t) => ({ ...t, tagBytes: (g.tagSize as number) / 8 })));

  it.each(cases.map((c) => [c.tcId, c] as const))('tcId %i', async (_id, c) => {
    const full = await p.hmacSha256(hex(c.key), hex(c.msg));
    const matches = toHexString(full.subarray(0, c.tagBytes)) === c.tag;
    expect(matches).toBe(c.result === 'valid');
    expect(toHexString(p.hmacSha256Sync(hex(c.key), hex(c.msg)))).toBe(toHexString(full));
  });
});

describe('Wycheproof HKDF-SHA256', () => {
  type Case = { tcId: number; ikm: string; salt: string; info: string; size: number; okm: string; result: string };
  const suite = readVector<Suite<Case>>('third-party/wycheproof/hkdf_sha256_test.json');
  const cases = suite.testGroups.flatMap((g) => g.tests);

  it.each(cases.map((c) => [c.tcId, c] as const))('tcId %i', (_id, c) => {
    if (c.result === 'valid') {
      expect(toHexString(p.hkdf(hex(c.ikm), hex(c.salt), hex(c.info), c.size))).toBe(c.okm);
    } else {
      // The only invalid cases ask for more than 255 × 32 bytes.
      expect(() => p.hkdf(hex(c.ikm), hex(c.salt), hex(c.info), c.size)).toThrow();
    }
  });
});

describe('Wycheproof X25519', () => {
  type Case = { tcId: number; public: string; private: string; shared: string; result: string; flags: string[] };
  const suite = readVector<Suite<Case>>('third-party/wycheproof/x25519_test.json');
  const cases = suite.testGroups.flatMap((g) => g.tests);

  it('runs on WebCrypto in Node 20', async () => {
    expect(await p.hasWebCryptoX25519()).toBe(true);
  });

  it.each(cases.map((c) => [c.tcId, c] as const))('tcId %i', async (_id, c) => {
    const sk = hex(c.private), pk = hex(c.public);
    if (c.flags.includes('ZeroSharedSecret')) {
      // A low-order public key: Coffer refuses it (format §10), whichever backend runs.
      await expect(p.x25519(sk, pk)).rejects.toMatchObject({ code: 'INVALID_KEY' });
      await expect(p.x25519(sk, pk)).rejects.toBeInstanceOf(CofferCryptoError);
      expect(() => {
        const out = p.x25519Noble(sk, pk);
        if (out.every((b) => b === 0)) throw new Error('zero');
      }).toThrow();
      return;
    }
    expect(toHexString(await p.x25519(sk, pk))).toBe(c.shared);
    expect(toHexString(await p.x25519WebCrypto(sk, pk))).toBe(c.shared);
    expect(toHexString(p.x25519Noble(sk, pk))).toBe(c.shared);
  });
});

describe('WebCrypto agrees with @noble', () => {
  const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });

  it('AES-256-GCM', async () => {
    p.forceSyncSmallAes(false); // WebCrypto even for the small inputs primitives.ts would give @noble in Node
    try {
      await fc.assert(
        fc.asyncProperty(bytes(32), bytes(12), fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 40 }), async (k, n, m, a) => {
          const web = await p.aesGcmSeal(k, n, m, a);
          expect(toHexString(web)).toBe(toHexString(gcm(k, n, a).encrypt(m)));
        }),
        { numRuns: 100 },
      );
    } finally {
      p.forceSyncSmallAes(null);
    }
  });

  it('HMAC-SHA256 and SHA-256', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 100 }), fc.uint8Array({ maxLength: 300 }), async (k, m) => {
        expect(toHexString(await p.hmacSha256(k.length ? k : new Uint8Array(1), m))).toBe(toHexString(hmac(sha256, k.length ? k : new Uint8Array(1), m)));
        expect(toHexString(await p.sha256(m))).toBe(toHexString(sha256(m)));
      }),
      { numRuns: 100 },
    );
  });

  it('the synchronous SHA-256 / HMAC / HKDF (src/sha256.ts) equal @noble at every block boundary', async () => {
    const { sha256Sync } = await import('../src/sha256');
    const { hkdf: nobleHkdf } = await import('@noble/hashes/hkdf.js');
    for (let n = 0; n <= 200; n++) {
      const m = Uint8Array.from({ length: n }, (_, i) => (i * 7 + n) & 255);
      expect(toHexString(sha256Sync(m))).toBe(toHexString(sha256(m)));
      expect(toHexString(p.hmacZeroKey(m))).toBe(toHexString(hmac(sha256, new Uint8Array(32), m)));
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 1, max: 32 }), (k, m, len) => {
        expect(toHexString(p.hmacSha256Sync(k, m))).toBe(toHexString(hmac(sha256, k, m)));
        expect(toHexString(p.hkdf(m, k, k, len))).toBe(toHexString(nobleHkdf(sha256, m, k.length ? k : undefined, k, len)));
      }),
      { numRuns: 300 },
    );
  });

  it('X25519', async () => {
    await fc.assert(
      fc.asyncProperty(bytes(32), bytes(32), async (a, b) => {
        const pubB = p.x25519PublicKey(b);
        expect(toHexString(await p.x25519WebCrypto(a, pubB))).toBe(toHexString(p.x25519Noble(a, pubB)));
        expect(toHexString(await p.x25519(b, p.x25519PublicKey(a)))).toBe(toHexString(await p.x25519(a, pubB)));
      }),
      { numRuns: 50 },
    );
  });
});
