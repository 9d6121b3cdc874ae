// The two AES-256-GCM routes of primitives.ts for small records (format §1, §2): synchronous
// @noble/ciphers below SMALL_AES_GCM_BYTES where WebCrypto is JavaScript, WebCrypto otherwise. Both
// must give the same bytes and reject the same tampering with AUTH_FAILED, at sizes around the
// threshold, directly and through the record functions that use them.
import { afterEach, describe, expect, it } from 'vitest';
import { CofferCryptoError } from '../src/index';
import * as c from '../src/index';
import { openAead, primitives as p, RecordType, sealAead, setRandomSource } from '../src/internal';
import { piecesOf, seededBytes as bytes, toHexString } from './helpers';

const T = p.SMALL_AES_GCM_BYTES;
// Plaintext lengths; with the 16-byte tag the opened lengths cross the threshold too.
const SIZES = [0, 1, 15, 16, 17, 32, 48, 255, 256, T - 17, T - 16, T - 15, T - 1, T, T + 1, T + 16, 2 * T];

/** A seeded random source: the same nonces and keys on both routes. */
function seededRandom(seed: number): (n: number) => Uint8Array {
  let s = seed;
  return (n) => bytes(n, s++);
}

async function authFailed(f: () => Promise<unknown>): Promise<void> {
  const err = await f().then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(CofferCryptoError);
  expect((err as CofferCryptoError).code).toBe('AUTH_FAILED');
}

afterEach(() => {
  p.forceSyncSmallAes(null);
  setRandomSource(null);
});

describe('small AES-256-GCM: @noble/ciphers and WebCrypto routes', () => {
  it('in Node (WebCrypto written in JavaScript) inputs up to the threshold take the synchronous route', () => {
    const key = new Uint8Array(32), nonce = new Uint8Array(12);
    expect(p.useSyncAes(key, nonce, 0)).toBe(true);
    expect(p.useSyncAes(key, nonce, T)).toBe(true);
    expect(p.useSyncAes(key, nonce, T + 1)).toBe(false);
    // Other key or nonce lengths stay on WebCrypto, which reports them as before.
    expect(p.useSyncAes(new Uint8Array(16), nonce, 32)).toBe(false);
    expect(p.useSyncAes(key, new Uint8Array(16), 32)).toBe(false);
  });

  it.each(SIZES)('%i-byte plaintext: same ciphertext, same plaintext back, through either route', async (size) => {
    const key = bytes(32, size + 1), nonce = bytes(12, size + 2), aad = bytes(size % 41, size + 3), pt = bytes(size, size + 4);
    const sync = p.aesGcmSealSync(key, nonce, pt, aad);
    p.forceSyncSmallAes(false);
    const web = await p.aesGcmSeal(key, nonce, pt, aad);
    expect(toHexString(sync)).toBe(toHexString(web));
    expect(toHexString(await p.aesGcmOpen(key, nonce, sync, aad))).toBe(toHexString(pt));
    p.forceSyncSmallAes(true);
    expect(toHexString(await p.aesGcmSeal(key, nonce, pt, aad))).toBe(toHexString(web));
    expect(toHexString(await p.aesGcmOpen(key, nonce, web, aad))).toBe(toHexString(pt));
    expect(toHexString(p.aesGcmOpenSync(key, nonce, web, aad))).toBe(toHexString(pt));
  });

  it.each(SIZES)('%i-byte plaintext: tampering is AUTH_FAILED on both routes', async (size) => {
    const key = bytes(32, size + 11), nonce = bytes(12, size + 12), aad = bytes(20, size + 13), pt = bytes(size, size + 14);
    const ct = p.aesGcmSealSync(key, nonce, pt, aad);
    const flip = (b: Uint8Array, i: number) => {
      const out = b.slice();
      out[i]! ^= 0x01;
      return out;
    };
    const positions = [...new Set([0, ct.length >> 1, ct.length - 17, ct.length - 16, ct.length - 1].filter((i) => i >= 0))];
    const cases: [string, Uint8Array, Uint8Array, Uint8Array, Uint8Array][] = [
      ...positions.map((i): [string, Uint8Array, Uint8Array, Uint8Array, Uint8Array] => [`ct[${i}]`, key, nonce, flip(ct, i), aad]),
      ['aad', key, nonce, ct, flip(aad, 7)],
      ['nonce', key, flip(nonce, 11), ct, aad],
      ['key', flip(key, 31), nonce, ct, aad],
      ['tag cut by one byte', key, nonce, ct.subarray(0, ct.length - 1), aad],
      ['shorter than a tag', key, nonce, ct.subarray(0, 15), aad],
      ['empty', key, nonce, new Uint8Array(0), aad],
    ];
    for (const route of [true, false]) {
      p.forceSyncSmallAes(route);
      for (const [, k, n, x, a] of cases) await authFailed(() => p.aesGcmOpen(k, n, x, a));
    }
    for (const [, k, n, x, a] of cases) expect(() => p.aesGcmOpenSync(k, n, x, a)).toThrow(expect.objectContaining({ code: 'AUTH_FAILED' }));
  });

  it('a key of the wrong length is not AUTH_FAILED on either setting (WebCrypto reports it)', async () => {
    for (const route of [true, false]) {
      p.forceSyncSmallAes(route);
      const err = await p.aesGcmOpen(new Uint8Array(31), new Uint8Array(12), new Uint8Array(48), new Uint8Array(0)).then(() => null, (e: unknown) => e);
      expect(err).not.toBeNull();
      expect(err).not.toBeInstanceOf(CofferCryptoError);
    }
  });

  it('metadata records and small chunks: byte-identical records on both routes (seeded nonces)', async () => {
    const records: string[][] = [];
    for (const route of [true, false]) {
      p.forceSyncSmallAes(route);
      setRandomSource(seededRandom(42));
      const { accountId, accountKey } = c.newAccount();
      const vault = await c.openVault(accountId, accountKey);
      const node = await c.nodeKeys(c.randomId(), c.newNode().secret);
      const out: string[] = [];
      for (const name of ['a', 'x'.repeat(255), 'caf\u00e9.txt']) {
        out.push(toHexString(await c.sealMetadata(node, { name, mime: 'text/plain', size: name.length, mtime: -1 })));
      }
      for (const size of [1, 200, T - 40, T + 40]) {
        const body = bytes(size, size);
        for await (const ch of c.encryptStream(vault, piecesOf(body, body.length))) out.push(toHexString(ch.record));
      }
      const kids = c.newNode();
      const wrap = await c.wrapNodeSecret(kids.secret, kids.nodeId, node, vault);
      out.push(toHexString(wrap));
      records.push(out);
      // Each route opens what it sealed.
      expect(await c.unwrapNodeSecret(wrap, kids.nodeId, node, null)).toEqual(kids.secret);
    }
    expect(records[0]).toEqual(records[1]);
  });

  it('sealAead / openAead across routes, and a tampered record is AUTH_FAILED on both', async () => {
    const key = bytes(32, 5), context = bytes(30, 6);
    for (const size of [0, 256, T - 16, T, T + 1]) {
      p.forceSyncSmallAes(true);
      const a = await sealAead(RecordType.metadata, key, context, bytes(size, 7));
      p.forceSyncSmallAes(false);
      const b = await sealAead(RecordType.metadata, key, context, bytes(size, 7));
      for (const route of [true, false]) {
        p.forceSyncSmallAes(route);
        expect(await openAead(RecordType.metadata, key, context, a)).toEqual(bytes(size, 7));
        expect(await openAead(RecordType.metadata, key, context, b)).toEqual(bytes(size, 7));
        const bad = a.slice();
        bad[bad.length - 1]! ^= 0x80;
        await authFailed(() => openAead(RecordType.metadata, key, context, bad));
      }
    }
  });
});
