// HPKE (RFC 9180) base mode of Coffer's suite against the RFC vectors, through our own wrapper.
import { afterEach, describe, expect, it } from 'vitest';
import * as c from '../src/index';
import { hpkeOpen, hpkeSeal, primitives, resetHpkeSuite, setRandomSource } from '../src/internal';
import { hex, readVector, toHexString } from './helpers';

interface HpkeVector {
  mode: number; kem_id: number; kdf_id: number; aead_id: number;
  info: string; ikmE: string; skRm: string; pkRm: string; enc: string;
  encryptions: { aad: string; pt: string; nonce: string; ct: string }[];
}

const vectors = readVector<HpkeVector[]>('third-party/hpke/rfc9180-base-x25519-sha256-aes256gcm.json');

afterEach(() => setRandomSource(null));

describe('RFC 9180 DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM, base mode', () => {
  it('covers exactly our suite', () => {
    expect(vectors.length).toBeGreaterThan(0);
    for (const v of vectors) expect([v.mode, v.kem_id, v.kdf_id, v.aead_id]).toEqual([0, 32, 1, 2]);
  });

  for (const [i, v] of vectors.entries()) {
    it(`vector ${i}: single-shot Seal reproduces enc and the first ciphertext`, async () => {
      const first = v.encryptions[0]!;
      // Our ephemeral key is DeriveKeyPair(32 random bytes); the RFC derives skE from ikmE the same way.
      setRandomSource((n) => {
        expect(n).toBe(32);
        return hex(v.ikmE);
      });
      const { enc, ct } = await hpkeSeal(hex(v.pkRm), hex(v.info), hex(first.aad), hex(first.pt));
      expect(toHexString(enc)).toBe(v.enc);
      expect(toHexString(ct)).toBe(first.ct);
    });

    it(`vector ${i}: single-shot Open recovers the plaintext and rejects a changed aad`, async () => {
      const first = v.encryptions[0]!;
      const pt = await hpkeOpen(hex(v.skRm), hex(v.enc), hex(v.info), hex(first.aad), hex(first.ct));
      expect(toHexString(pt)).toBe(first.pt);
      await expect(hpkeOpen(hex(v.skRm), hex(v.enc), hex(v.info), hex('00'), hex(first.ct))).rejects.toMatchObject({ code: 'AUTH_FAILED' });
      await expect(hpkeOpen(hex(v.skRm), hex(v.enc), hex('00'), hex(first.aad), hex(first.ct))).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    });
  }

  it('refuses low-order keys with INVALID_KEY (all-zero DH output)', async () => {
    const v = vectors[0]!;
    const zero = new Uint8Array(32);
    const one = new Uint8Array(32);
    one[0] = 1;
    for (const bad of [zero, one]) {
      await expect(hpkeSeal(bad, hex(v.info), new Uint8Array(0), new Uint8Array(32))).rejects.toMatchObject({ code: 'INVALID_KEY' });
      await expect(hpkeOpen(hex(v.skRm), bad, hex(v.info), new Uint8Array(0), new Uint8Array(48))).rejects.toMatchObject({ code: 'INVALID_KEY' });
    }
  });
});

describe('fallback without WebCrypto X25519 (@noble/curves)', () => {
  afterEach(() => {
    primitives.forceNobleX25519(null);
    resetHpkeSuite();
  });

  it('passes the same vector, refuses low-order keys, and wraps node secrets', async () => {
    primitives.forceNobleX25519(true);
    resetHpkeSuite();
    expect(await primitives.hasWebCryptoX25519()).toBe(false);
    const v = vectors[0]!;
    const first = v.encryptions[0]!;
    setRandomSource(() => hex(v.ikmE));
    const { enc, ct } = await hpkeSeal(hex(v.pkRm), hex(v.info), hex(first.aad), hex(first.pt));
    setRandomSource(null);
    expect([toHexString(enc), toHexString(ct)]).toEqual([v.enc, first.ct]);
    expect(toHexString(await hpkeOpen(hex(v.skRm), hex(v.enc), hex(v.info), hex(first.aad), hex(first.ct)))).toBe(first.pt);
    await expect(hpkeOpen(hex(v.skRm), new Uint8Array(32), hex(v.info), new Uint8Array(0), new Uint8Array(48))).rejects.toMatchObject({ code: 'INVALID_KEY' });
    await expect(primitives.x25519(hex(v.skRm), new Uint8Array(32))).rejects.toMatchObject({ code: 'INVALID_KEY' });

    const vault = await c.openVault(c.randomId(), c.newAccount().accountKey);
    const parent = await c.nodeKeys(c.randomId(), c.newNode().secret);
    const child = c.newNode();
    const wrap = await c.wrapNodeSecret(child.secret, child.nodeId, parent, vault);
    expect(toHexString(await c.unwrapNodeSecret(wrap, child.nodeId, parent, null))).toBe(toHexString(child.secret));
  });
});
