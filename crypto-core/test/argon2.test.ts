// Argon2id: hash-wasm (browsers, and Node without a backend), the native `argon2` package (the
// node:crypto backend's fast path) and @noble/hashes (for secret/ad vectors) against RFC 9106 and
// the reference KAT trace, and against each other.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it } from 'vitest';
import { argon2id as nobleArgon2id } from '@noble/hashes/argon2.js';
import { argon2id as wasmArgon2id } from 'hash-wasm';
import {
  decodeKdfParams, derivePassphraseKeys, encodeKdfParams, newKdfParams, setCryptoBackend, toBase64Url, type CryptoBackend,
} from '../src/index';
import { nodeCryptoBackend } from '../node/backend';
import { hex, seededBytes, toHexString, vectorPath, readVector } from './helpers';

const nativeArgon2 = createRequire(import.meta.url)('argon2') as typeof import('argon2');

interface Kat { m: number; t: number; p: number; tagLength: number; password: string; salt: string; secret: string; ad: string; tag: string }

/** Parses the phc-winner-argon2 trace: a header line of parameters, inputs, then a Tag line. */
function parseKatTrace(text: string): Kat[] {
  const out: Kat[] = [];
  let cur: Partial<Kat> = {};
  const bytesOf = (line: string) => line.slice(line.indexOf(':') + 1).trim().replace(/\s+/g, '');
  for (const line of text.split('\n')) {
    const params = /^Memory: (\d+) KiB, Iterations: (\d+), Parallelism: (\d+) lanes, Tag length: (\d+) bytes/.exec(line);
    if (params) cur = { m: +params[1]!, t: +params[2]!, p: +params[3]!, tagLength: +params[4]! };
    else if (line.startsWith('Password[')) cur.password = bytesOf(line);
    else if (line.startsWith('Salt[')) cur.salt = bytesOf(line);
    else if (line.startsWith('Secret[')) cur.secret = bytesOf(line);
    else if (line.startsWith('Associated data[')) cur.ad = bytesOf(line);
    else if (line.startsWith('Tag:')) {
      out.push({ ...(cur as Kat), tag: bytesOf(line) });
      cur = {};
    }
  }
  return out;
}

describe('Argon2id known answers', () => {
  const rfc = readVector<{ password: string; salt: string; secret: string; ad: string; t: number; m: number; p: number; taglen: number; tag: string }>(
    'third-party/argon2/argon2id_rfc9106.json',
  );

  it('RFC 9106 §5.3 (t=3, m=32, p=4, secret + ad) via @noble/hashes', () => {
    const tag = nobleArgon2id(hex(rfc.password), hex(rfc.salt), { t: rfc.t, m: rfc.m, p: rfc.p, dkLen: rfc.taglen, key: hex(rfc.secret), personalization: hex(rfc.ad) });
    expect(toHexString(tag)).toBe(rfc.tag);
  });

  it('records of the reference KAT trace (kats/argon2id)', () => {
    const kats = parseKatTrace(readFileSync(vectorPath('third-party/argon2/argon2id'), 'utf8'));
    expect(kats.length).toBeGreaterThan(0);
    for (const k of kats) {
      const tag = nobleArgon2id(hex(k.password), hex(k.salt), { t: k.t, m: k.m, p: k.p, dkLen: k.tagLength, key: hex(k.secret), personalization: hex(k.ad) });
      expect(toHexString(tag)).toBe(k.tag);
    }
  });

  it('hash-wasm agrees with @noble/hashes (no secret, no ad, as Coffer uses it)', async () => {
    for (const [m, t, p, seed] of [[8, 1, 1, 1], [64, 3, 1, 2], [256, 2, 2, 3], [1024, 3, 1, 4]] as const) {
      const password = seededBytes(seed * 7, seed), salt = seededBytes(16, seed + 100);
      const wasm = await wasmArgon2id({ password, salt, iterations: t, memorySize: m, parallelism: p, hashLength: 32, outputType: 'binary' });
      expect(toHexString(wasm)).toBe(toHexString(nobleArgon2id(password, salt, { t, m, p, dkLen: 32 })));
    }
  });

  it('hash-wasm honours a secret like @noble/hashes does', async () => {
    const password = seededBytes(20, 9), salt = seededBytes(16, 10), secret = seededBytes(8, 11);
    const wasm = await wasmArgon2id({ password, salt, secret, iterations: 3, memorySize: 32, parallelism: 4, hashLength: 32, outputType: 'binary' });
    expect(toHexString(wasm)).toBe(toHexString(nobleArgon2id(password, salt, { t: 3, m: 32, p: 4, dkLen: 32, key: secret })));
  });
});

describe('KDF parameters (format §4.1)', () => {
  const encode = (alg: number, m: number, t: number, p: number) => {
    const b = new Uint8Array(26);
    const v = new DataView(b.buffer);
    b[0] = alg;
    v.setUint32(1, m);
    v.setUint32(5, t);
    b[9] = p;
    return toBase64Url(b);
  };

  it('round-trips and keeps the floor', () => {
    const k = newKdfParams();
    expect([k.m, k.t, k.p, k.salt.length]).toEqual([65536, 3, 1, 16]);
    const back = decodeKdfParams(encodeKdfParams(k));
    expect({ ...back, salt: toHexString(back.salt) }).toEqual({ ...k, salt: toHexString(k.salt) });
    expect(decodeKdfParams(encode(1, 131072, 4, 1)).m).toBe(131072);
  });

  it.each([
    ['m below the floor', encode(1, 65535, 3, 1)],
    ['t below the floor', encode(1, 65536, 2, 1)],
    ['p other than 1', encode(1, 65536, 3, 2)],
    ['unknown algorithm', encode(2, 65536, 3, 1)],
    ['m above the ceiling', encode(1, 2 ** 31, 3, 1)],
    ['wrong length', toBase64Url(new Uint8Array(25))],
  ])('rejects %s with KDF_PARAMS_INVALID', (_name, s) => {
    expect(() => decodeKdfParams(s)).toThrow(expect.objectContaining({ code: 'KDF_PARAMS_INVALID' }));
  });

  it('rejects bad base64url with INVALID_ENCODING', () => {
    expect(() => decodeKdfParams('AQ==')).toThrow(expect.objectContaining({ code: 'INVALID_ENCODING' }));
  });

  it('derivePassphraseKeys refuses parameters below the floor', async () => {
    await expect(derivePassphraseKeys('pw', { m: 1024, t: 3, p: 1, salt: new Uint8Array(16) })).rejects.toMatchObject({ code: 'KDF_PARAMS_INVALID' });
  });

  it('derivePassphraseKeys normalises to NFC and separates login key from KEK', async () => {
    const kdf = { m: 65536, t: 3, p: 1, salt: seededBytes(16, 5) };
    const a = await derivePassphraseKeys('caf\u00e9', kdf);
    const b = await derivePassphraseKeys('cafe\u0301', kdf);
    expect(toHexString(a.loginKey)).toBe(toHexString(b.loginKey));
    expect(toHexString(a.passKek)).toBe(toHexString(b.passKek));
    expect(toHexString(a.loginKey)).not.toBe(toHexString(a.passKek));
  });
});

describe('native Argon2id (node:crypto backend, `argon2` package)', () => {
  afterEach(() => setCryptoBackend(null));
  const rfc = readVector<{ password: string; salt: string; secret: string; ad: string; t: number; m: number; p: number; taglen: number; tag: string }>(
    'third-party/argon2/argon2id_rfc9106.json',
  );
  const native = (password: Uint8Array, salt: Uint8Array, o: { m: number; t: number; p: number; hashLength: number; secret?: Uint8Array; ad?: Uint8Array }) =>
    nativeArgon2.hash(Buffer.from(password), {
      raw: true, type: nativeArgon2.argon2id, version: 0x13, memoryCost: o.m, timeCost: o.t, parallelism: o.p, hashLength: o.hashLength,
      salt: Buffer.from(salt), ...(o.secret ? { secret: Buffer.from(o.secret) } : {}), ...(o.ad ? { associatedData: Buffer.from(o.ad) } : {}),
    });

  it('RFC 9106 §5.3 (t=3, m=32, p=4, secret + ad)', async () => {
    const tag = await native(hex(rfc.password), hex(rfc.salt), { m: rfc.m, t: rfc.t, p: rfc.p, hashLength: rfc.taglen, secret: hex(rfc.secret), ad: hex(rfc.ad) });
    expect(toHexString(tag)).toBe(rfc.tag);
  });

  it('records of the reference KAT trace (kats/argon2id)', async () => {
    const kats = parseKatTrace(readFileSync(vectorPath('third-party/argon2/argon2id'), 'utf8'));
    expect(kats.length).toBeGreaterThan(0);
    for (const k of kats) {
      const tag = await native(hex(k.password), hex(k.salt), { m: k.m, t: k.t, p: k.p, hashLength: k.tagLength, secret: hex(k.secret), ad: hex(k.ad) });
      expect(toHexString(tag)).toBe(k.tag);
    }
  });

  it('the backend gives the same bytes as hash-wasm for seeded random passwords, salts and parameters', async () => {
    for (let i = 0; i < 40; i++) {
      const r = seededBytes(6, 1000 + i);
      // Lengths 0..127 (the empty password too) and salts of 8..39 bytes; m from the minimum 8p up.
      const password = seededBytes(i === 0 ? 0 : r[0]! % 128, 2000 + i), salt = seededBytes(8 + (r[1]! % 32), 3000 + i);
      const p = 1 + (r[2]! % 4), t = 1 + (r[3]! % 4), m = 8 * p + ((r[4]! << 8 | r[5]!) % 1024), hashLength = i % 5 === 0 ? 16 + (r[0]! % 49) : 32;
      const out = await nodeCryptoBackend.argon2id!(password, salt, { m, t, p, hashLength });
      expect(out, 'the native module must load here, or this test compares nothing').toBeInstanceOf(Uint8Array);
      // hash-wasm refuses an empty password; @noble/hashes stands in for it there.
      const other = password.length === 0 ? nobleArgon2id(password, salt, { t, m, p, dkLen: hashLength })
        : await wasmArgon2id({ password, salt, iterations: t, memorySize: m, parallelism: p, hashLength, outputType: 'binary' });
      expect(toHexString(out!), JSON.stringify({ i, m, t, p, hashLength })).toBe(toHexString(other));
    }
  });

  it('derivePassphraseKeys goes through the backend and matches the format-v1 passphrase vector (m = 64 MiB)', async () => {
    const v = readVector<{ inputs: { passphrase: string; kdfParams: string }; expected: { loginKey: string; passKek: string } }>('format-v1/passphrase.json');
    let calls = 0;
    const counting: CryptoBackend = { ...nodeCryptoBackend, argon2id: (...a) => (calls++, nodeCryptoBackend.argon2id!(...a)) };
    setCryptoBackend(counting);
    const keys = await derivePassphraseKeys(v.inputs.passphrase, decodeKdfParams(v.inputs.kdfParams));
    expect(calls).toBe(1);
    expect([toHexString(keys.loginKey), toHexString(keys.passKek)]).toEqual([v.expected.loginKey, v.expected.passKek]);
  });

  it('an empty passphrase fails as it does without the backend (hash-wasm refuses it)', async () => {
    const kdf = { m: 65536, t: 3, p: 1, salt: seededBytes(16, 78) };
    const without = await derivePassphraseKeys('', kdf).then(() => 'OK', (e: Error) => e.message);
    expect(without).not.toBe('OK');
    setCryptoBackend(nodeCryptoBackend);
    expect(await derivePassphraseKeys('', kdf).then(() => 'OK', (e: Error) => e.message)).toBe(without);
  });

  it('a backend resolving null falls back to hash-wasm; a wrong-length result is misuse', async () => {
    const kdf = { m: 65536, t: 3, p: 1, salt: seededBytes(16, 77) };
    const expected = await derivePassphraseKeys('fallback', kdf);
    setCryptoBackend({ ...nodeCryptoBackend, argon2id: async () => null });
    expect(toHexString((await derivePassphraseKeys('fallback', kdf)).loginKey)).toBe(toHexString(expected.loginKey));
    setCryptoBackend({ ...nodeCryptoBackend, argon2id: async () => new Uint8Array(31) });
    await expect(derivePassphraseKeys('fallback', kdf)).rejects.toThrow(TypeError);
  });
});
