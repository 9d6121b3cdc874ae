// Encodings, padding and manifest parsing rules (format §1, §3, §7), plus runtime purity of src/.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as c from '../src/index';
import { decodeManifest, encodeManifest, pad, unpad } from '../src/internal';
import { seededBytes } from './helpers';

const codeOf = (f: () => unknown): string => {
  try {
    f();
    return 'OK';
  } catch (e) {
    return e instanceof c.CofferCryptoError ? e.code : (e as Error).name;
  }
};

describe('base64url and hex', () => {
  it('round-trip and match Buffer', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
        expect(c.toBase64Url(b)).toBe(Buffer.from(b).toString('base64url'));
        expect(Buffer.from(c.fromBase64Url(c.toBase64Url(b))).equals(Buffer.from(b))).toBe(true);
        expect(c.toHex(b)).toBe(Buffer.from(b).toString('hex'));
        expect(Buffer.from(c.fromHex(c.toHex(b))).equals(Buffer.from(b))).toBe(true);
      }),
    );
  });

  it('accepts exactly the canonical base64url strings', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const chars = fc.constantFrom(...alphabet, '=', '+', '/', ' ', 'é', '\u0100');
    fc.assert(
      fc.property(fc.array(chars, { maxLength: 40 }).map((a) => a.join('')), (s) => {
        const canonical = [...s].every((ch) => alphabet.includes(ch)) && s.length % 4 !== 1
          && Buffer.from(s, 'base64url').toString('base64url') === s;
        const code = codeOf(() => c.fromBase64Url(s));
        expect(code).toBe(canonical ? 'OK' : 'INVALID_ENCODING');
        if (canonical) expect(Buffer.from(c.fromBase64Url(s)).equals(Buffer.from(s, 'base64url'))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it.each(['AA==', 'AA=', 'A', 'AB', 'AAB', 'a+b/', 'ab c', 'é'])('rejects base64url %j', (s) => {
    expect(codeOf(() => c.fromBase64Url(s))).toBe('INVALID_ENCODING');
  });

  it.each(['ABCD', 'abc', 'zz', '0x00'])('rejects hex %j', (s) => {
    expect(codeOf(() => c.fromHex(s))).toBe('INVALID_ENCODING');
  });

  it('rejects malformed recovery codes', async () => {
    await expect(c.recoveryKeys('0000-0000')).rejects.toMatchObject({ code: 'INVALID_ENCODING' });
    await expect(c.recoveryKeys('UUUU-0000-0000-0000-0000-0000-0000-0000')).rejects.toMatchObject({ code: 'INVALID_ENCODING' });
  });
});

describe('Padmé padding (format §3)', () => {
  it('matches the definition on known values', () => {
    expect([0, 1, 2, 3, 9, 100, 1000, 1001, 2 ** 20 + 1].map(c.padme)).toEqual([0, 1, 2, 3, 10, 104, 1024, 1024, 1048576 + 32768]);
    expect([0, 1, 255, 256, 257].map(c.padLen)).toEqual([256, 256, 256, 256, 272]);
    expect(c.padme(2 ** 49 - 1)).toBe(2 ** 49);
  });

  it('pads by at most 12 % and round-trips', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 2 ** 52 }), (n) => {
        const p = c.padme(n);
        expect(p).toBeGreaterThanOrEqual(n);
        expect((p - n) / n).toBeLessThanOrEqual(0.12);
      }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), (pt) => {
        const body = pad(pt);
        expect(body.length).toBe(c.padLen(pt.length + 1));
        expect(Buffer.from(unpad(body)).equals(Buffer.from(pt))).toBe(true);
      }),
    );
  });
});

describe('manifest plaintext (format §7)', () => {
  const entry = (plainLength: number, seed: number): c.ManifestEntry => ({
    chunkId: c.toHex(seededBytes(32, seed)), chunkKey: seededBytes(32, seed + 1), plainLength, storedLength: c.storedLengthOf(plainLength),
  });
  const good = encodeManifest({ size: 1300, chunks: [entry(1000, 1), entry(300, 2)] });
  const patched = (at: number, value: number, width: 1 | 4 = 4) => {
    const b = good.slice();
    const v = new DataView(b.buffer);
    if (width === 1) b[at] = value;
    else v.setUint32(at, value);
    return b;
  };

  it('round-trips, including the empty file', () => {
    expect(decodeManifest(good).chunks.map((e) => e.plainLength)).toEqual([1000, 300]);
    expect(decodeManifest(encodeManifest({ size: 0, chunks: [] }))).toEqual({ size: 0, chunks: [] });
  });

  it.each([
    ['unknown manifest version', () => decodeManifest(patched(0, 2, 1)), 'UNSUPPORTED_VERSION'],
    ['count too large', () => decodeManifest(patched(9, 3)), 'MANIFEST_INVALID'],
    ['trailing byte', () => decodeManifest(new Uint8Array([...good, 0])), 'MANIFEST_INVALID'],
    ['short', () => decodeManifest(good.subarray(0, 12)), 'MANIFEST_INVALID'],
    ['plainLength 0', () => decodeManifest(patched(13 + 64, 0)), 'MANIFEST_INVALID'],
    ['plainLength above max', () => decodeManifest(patched(13 + 64, 4 * 2 ** 20 + 1)), 'MANIFEST_INVALID'],
    ['storedLength wrong', () => decodeManifest(patched(13 + 68, c.storedLengthOf(1000) + 1)), 'MANIFEST_INVALID'],
    ['size wrong', () => decodeManifest(patched(5, 1301)), 'MANIFEST_INVALID'],
    ['encoding a wrong size', () => encodeManifest({ size: 1, chunks: [] }), 'MANIFEST_INVALID'],
  ])('rejects %s', (_name, f, code) => {
    expect(codeOf(f)).toBe(code);
  });
});

describe('runtime purity', () => {
  it('src/ imports nothing from node: and uses no DOM-only globals', () => {
    const dir = fileURLToPath(new URL('../src/', import.meta.url));
    for (const f of readdirSync(dir)) {
      const text = readFileSync(dir + f, 'utf8');
      expect(text, f).not.toMatch(/from ['"]node:|require\(|\bwindow\.|\bdocument\.|\bBuffer\b|\bprocess\./);
    }
  });
});
