// The optional crypto backend (setCryptoBackend) and the batch listing API (openChildren).
// Records sealed through node:crypto open through WebCrypto/@noble and the other way round.
import { afterEach, describe, expect, it } from 'vitest';
import * as c from '../src/index';
import { encryptStreamWith, hpkeOpen, hpkeSeal, setRandomSource } from '../src/internal';
import { nodeCryptoBackend } from '../node/backend';
import { collect, concatAll, hex, piecesOf, readVector, seededBytes, toHexString } from './helpers';

const SMALL = { min: 64, avg: 256, max: 1024 };

afterEach(() => {
  c.setCryptoBackend(null);
  setRandomSource(null);
});

interface Sealed {
  vault: c.Vault; parent: c.NodeKeys; child: { nodeId: string; secret: c.NodeSecret };
  wrap: Uint8Array; rootWrap: Uint8Array; meta: Uint8Array; manifest: c.Manifest; manifestRecord: Uint8Array;
  blobs: Map<string, Uint8Array>; data: Uint8Array;
}

const META = { name: 'report é.pdf', mime: 'application/pdf', size: 5000, mtime: -12 };

async function sealAll(accountId: string, accountKey: c.AccountKey): Promise<Sealed> {
  const vault = await c.openVault(accountId, accountKey);
  const root = c.newNode();
  const parent = await c.nodeKeys(root.nodeId, root.secret);
  const child = c.newNode();
  const childKeys = await c.nodeKeys(child.nodeId, child.secret);
  const data = seededBytes(5000, 7);
  const chunks = await collect(encryptStreamWith(vault, piecesOf(data, 333), { concurrency: 3 }, SMALL));
  const manifest: c.Manifest = { size: data.length, chunks: chunks.map((x) => x.entry) };
  return {
    vault, parent, child, data, manifest,
    wrap: await c.wrapNodeSecret(child.secret, child.nodeId, parent, vault),
    rootWrap: await c.wrapNodeSecret(root.secret, root.nodeId, null, vault),
    meta: await c.sealMetadata(childKeys, META),
    manifestRecord: await c.sealManifest(childKeys, 1, manifest),
    blobs: new Map(chunks.map((x) => [x.entry.chunkId, x.record])),
  };
}

async function openAll(s: Sealed): Promise<void> {
  const vault = await c.openVault(s.vault.accountId, s.vault.accountKey);
  const root = await c.unwrapNodeSecret(s.rootWrap, s.parent.nodeId, null, vault);
  expect(toHexString(root)).toBe(toHexString(s.parent.secret));
  const parent = await c.nodeKeys(s.parent.nodeId, root);
  const secret = await c.unwrapNodeSecret(s.wrap, s.child.nodeId, parent, null);
  expect(toHexString(secret)).toBe(toHexString(s.child.secret));
  const keys = await c.nodeKeys(s.child.nodeId, secret);
  expect(await c.openMetadata(keys, s.meta)).toEqual({ ...META, name: META.name.normalize('NFC') });
  const manifest = await c.openManifest(keys, 1, s.manifestRecord);
  expect(manifest).toEqual(s.manifest);
  const plain = concatAll(await collect(c.decryptStream(manifest, async (id) => s.blobs.get(id)!)));
  expect(toHexString(plain)).toBe(toHexString(s.data));
  // Chunk ids do not depend on the backend (deduplication across devices).
  const again = await collect(encryptStreamWith(vault, piecesOf(s.data, 1000), undefined, SMALL));
  expect(again.map((x) => x.entry.chunkId)).toEqual(s.manifest.chunks.map((x) => x.chunkId));
  expect(await c.chunkIdOf(vault, s.data)).toBe(await (async () => {
    const backend = nodeCryptoBackend;
    c.setCryptoBackend(null);
    const id = await c.chunkIdOf(vault, s.data);
    return (c.setCryptoBackend(backend), id);
  })());
}

describe('setCryptoBackend (node:crypto)', () => {
  it('records sealed with node:crypto open with WebCrypto', async () => {
    const { accountId, accountKey } = c.newAccount();
    c.setCryptoBackend(nodeCryptoBackend);
    const sealed = await sealAll(accountId, accountKey);
    c.setCryptoBackend(null);
    await openAll(sealed);
  });

  it('records sealed with WebCrypto open with node:crypto', async () => {
    const { accountId, accountKey } = c.newAccount();
    const sealed = await sealAll(accountId, accountKey);
    c.setCryptoBackend(nodeCryptoBackend);
    await openAll(sealed);
  });

  it('passes the RFC 9180 vectors and refuses low-order keys', async () => {
    c.setCryptoBackend(nodeCryptoBackend);
    const vectors = readVector<{ info: string; ikmE: string; skRm: string; pkRm: string; enc: string; encryptions: { aad: string; pt: string; ct: string }[] }[]>(
      'third-party/hpke/rfc9180-base-x25519-sha256-aes256gcm.json',
    );
    for (const v of vectors) {
      const first = v.encryptions[0]!;
      setRandomSource(() => hex(v.ikmE));
      const { enc, ct } = await hpkeSeal(hex(v.pkRm), hex(v.info), hex(first.aad), hex(first.pt));
      setRandomSource(null);
      expect([toHexString(enc), toHexString(ct)]).toEqual([v.enc, first.ct]);
      expect(toHexString(await hpkeOpen(hex(v.skRm), hex(v.enc), hex(v.info), hex(first.aad), hex(first.ct)))).toBe(first.pt);
    }
    const v = vectors[0]!;
    const one = new Uint8Array(32);
    one[0] = 1;
    for (const bad of [new Uint8Array(32), one]) {
      await expect(hpkeSeal(bad, hex(v.info), new Uint8Array(0), new Uint8Array(32))).rejects.toMatchObject({ code: 'INVALID_KEY' });
      await expect(hpkeOpen(hex(v.skRm), bad, hex(v.info), new Uint8Array(0), new Uint8Array(48))).rejects.toMatchObject({ code: 'INVALID_KEY' });
    }
  });

  it('keeps the error codes: a flipped bit is AUTH_FAILED, a short chunk TRUNCATED', async () => {
    const { accountId, accountKey } = c.newAccount();
    c.setCryptoBackend(nodeCryptoBackend);
    const s = await sealAll(accountId, accountKey);
    const keys = await c.nodeKeys(s.child.nodeId, s.child.secret);
    const meta = s.meta.slice();
    meta[meta.length - 1]! ^= 1;
    await expect(c.openMetadata(keys, meta)).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    const wrap = s.wrap.slice();
    wrap[40]! ^= 1;
    await expect(c.unwrapNodeSecret(wrap, s.child.nodeId, s.parent, null)).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    const entry = s.manifest.chunks[0]!;
    const blob = s.blobs.get(entry.chunkId)!.slice();
    blob[blob.length - 20]! ^= 1;
    await expect(c.decryptChunk(entry, blob)).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    await expect(c.decryptChunk(entry, blob.subarray(1))).rejects.toMatchObject({ code: 'TRUNCATED' });
  });

  it('refuses a backend whose members are not functions', () => {
    expect(() => c.setCryptoBackend({ aesGcmSeal: new Uint8Array(0) } as unknown as c.CryptoBackend)).toThrow(TypeError);
    expect(() => c.setCryptoBackend('node' as unknown as c.CryptoBackend)).toThrow(TypeError);
  });

  it('takes a backend with only some members: those are used, the rest stay built in', async () => {
    // X25519 only, as the web vault's crypto worker installs it (its helper thread computes them).
    const calls: number[] = [];
    c.setCryptoBackend({
      x25519: (sk, pk) => {
        calls.push(pk.length);
        return nodeCryptoBackend.x25519(sk, pk);
      },
    });
    const s = await sealAll(c.randomId(), c.newAccount().accountKey);
    expect(calls.length).toBeGreaterThan(0); // the seals of the two wraps went through it
    calls.length = 0;
    const secret = await c.unwrapNodeSecret(s.wrap, s.child.nodeId, s.parent, null);
    expect(calls.length).toBeGreaterThan(0);
    c.setCryptoBackend(null);
    // What the partial backend sealed opens on the built-in path, and with the same node secret.
    expect(toHexString(await c.unwrapNodeSecret(s.wrap, s.child.nodeId, s.parent, null))).toBe(toHexString(secret));
    expect(toHexString(secret)).toBe(toHexString(s.child.secret));
    const keys = await c.nodeKeys(s.child.nodeId, secret);
    expect(await c.openMetadata(keys, s.meta)).toEqual(META);
    // A public key the backend refuses is INVALID_KEY, as on the built-in path.
    c.setCryptoBackend({ x25519: () => { throw new Error('refused'); } });
    await expect(c.unwrapNodeSecret(s.wrap, s.child.nodeId, s.parent, null)).rejects.toMatchObject({ code: 'INVALID_KEY' });
  });
});

describe('encryptStream with caller-owned buffers', () => {
  /** A source that reads every piece into one buffer, as the CLI's file reader does. */
  async function* reusing(data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
    const buffer = new Uint8Array(size);
    for (let at = 0; at < data.length; at += size) {
      const n = Math.min(size, data.length - at);
      buffer.set(data.subarray(at, at + n));
      yield buffer.subarray(0, n);
      buffer.fill(0xee); // what a reused buffer holds by the time the pipeline could misread it
    }
  }

  const backends: Array<[string, c.CryptoBackend | null]> = [
    ['WebCrypto', null],
    ['node:crypto, sealed on the calling thread', { ...nodeCryptoBackend, sealChunk: undefined }],
  ];
  for (const [label, backend] of backends) {
    it(`builds each record in the buffer recordBuffer gives, and a source may reuse its buffer (${label})`, async () => {
      c.setCryptoBackend(backend);
      const vault = await c.openVault(c.randomId(), c.newAccount().accountKey);
      const data = seededBytes(40_000, 3);
      const given: Uint8Array[] = [];
      const recordBuffer = (length: number) => {
        const b = new Uint8Array(new ArrayBuffer(length + 100), 50, length).fill(0xaa);
        given.push(b);
        return b;
      };
      const chunks = await collect(encryptStreamWith(vault, reusing(data, 999), { concurrency: 3, recordBuffer }, SMALL));
      expect(chunks.length).toBeGreaterThan(20);
      expect(given.length).toBe(chunks.length);
      const givenSet = new Set(given); // called as records are built, not necessarily in file order
      for (const ch of chunks) expect(givenSet.has(ch.record)).toBe(true);
      const blobs = new Map(chunks.map((x) => [x.entry.chunkId, x.record]));
      const manifest = { size: data.length, chunks: chunks.map((x) => x.entry) };
      const out = concatAll(await collect(c.decryptStream(manifest, async (id) => blobs.get(id)!)));
      expect(toHexString(out)).toBe(toHexString(data));
      // The same chunk ids as from a source that never reuses its buffers.
      const plain = await collect(encryptStreamWith(vault, piecesOf(data, 999), undefined, SMALL));
      expect(plain.map((x) => x.entry.chunkId)).toEqual(chunks.map((x) => x.entry.chunkId));
    });
  }

  it('refuses a recordBuffer that returns the wrong length', async () => {
    const vault = await c.openVault(c.randomId(), c.newAccount().accountKey);
    const run = collect(encryptStreamWith(vault, piecesOf(seededBytes(500, 1), 100), { recordBuffer: (n) => new Uint8Array(n - 1) }, SMALL));
    await expect(run).rejects.toThrow(TypeError);
  });
});

describe('decryptChunk into a caller-owned buffer', () => {
  const sealed = async () => {
    const vault = await c.openVault(c.randomId(), c.newAccount().accountKey);
    const data = seededBytes(5000, 9);
    const chunks = await collect(encryptStreamWith(vault, piecesOf(data, 777), undefined, SMALL));
    return { data, chunks };
  };

  it('decrypts into the buffer plainBuffer gives, with node:crypto', async () => {
    c.setCryptoBackend(nodeCryptoBackend);
    const { data, chunks } = await sealed();
    let at = 0;
    for (const { entry, record } of chunks) {
      const given: Uint8Array[] = [];
      const pt = await c.decryptChunk(entry, record, (length) => {
        const b = new Uint8Array(new ArrayBuffer(length + 64), 32, length).fill(0xaa);
        given.push(b);
        return b;
      });
      expect(given).toHaveLength(1);
      expect(pt.buffer).toBe(given[0]!.buffer);
      expect(toHexString(pt)).toBe(toHexString(data.subarray(at, at + entry.plainLength)));
      at += entry.plainLength;
    }
    expect(at).toBe(data.length);
  });

  it('wipes the buffer and reports AUTH_FAILED when the tag does not verify', async () => {
    c.setCryptoBackend(nodeCryptoBackend);
    const { chunks } = await sealed();
    const { entry, record } = chunks[1]!;
    const tampered = record.slice();
    tampered[20]! ^= 1;
    let given: Uint8Array | null = null;
    await expect(c.decryptChunk(entry, tampered, (length) => (given = new Uint8Array(length).fill(0xaa)))).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    expect(given!.every((b) => b === 0)).toBe(true);
  });

  it('uses a buffer of its own where the backend cannot decrypt into one (WebCrypto)', async () => {
    const { data, chunks } = await sealed();
    const { entry, record } = chunks[0]!;
    let asked = 0;
    const pt = await c.decryptChunk(entry, record, (length) => (asked++, new Uint8Array(length)));
    expect(asked).toBe(0);
    expect(toHexString(pt)).toBe(toHexString(data.subarray(0, entry.plainLength)));
  });

  it('refuses a plainBuffer that returns the wrong length', async () => {
    c.setCryptoBackend(nodeCryptoBackend);
    const { chunks } = await sealed();
    const { entry, record } = chunks[0]!;
    await expect(c.decryptChunk(entry, record, (n) => new Uint8Array(n + 1))).rejects.toThrow(TypeError);
  });
});

describe('openChildren', () => {
  for (const backend of [null, nodeCryptoBackend]) {
    it(`opens every child in order, reports a tampered one without failing the rest (${backend ? 'node:crypto' : 'WebCrypto'})`, async () => {
      c.setCryptoBackend(backend);
      const vault = await c.openVault(c.randomId(), c.newAccount().accountKey);
      const folder = c.newNode();
      const parent = await c.nodeKeys(folder.nodeId, folder.secret);
      const kids = Array.from({ length: 40 }, () => c.newNode());
      const records = await Promise.all(kids.map(async (k, i) => ({
        nodeId: k.nodeId,
        wrap: await c.wrapNodeSecret(k.secret, k.nodeId, parent, vault),
        metadata: await c.sealMetadata(await c.nodeKeys(k.nodeId, k.secret), { name: `f${i}`, mime: '', size: i, mtime: i }),
      })));
      records[7]!.metadata = records[7]!.metadata.slice();
      records[7]!.metadata[20]! ^= 1;
      records[9] = { ...records[9]!, wrap: records[10]!.wrap }; // a wrap moved to another child: bound to its nodeId
      const out = await c.openChildren(parent, records, { concurrency: 5 });
      expect(out.map((o) => o.nodeId)).toEqual(kids.map((k) => k.nodeId));
      out.forEach((o, i) => {
        if (i === 7 || i === 9) {
          expect(o.error).toBeInstanceOf(c.CofferCryptoError);
          expect(o.error?.code).toBe('AUTH_FAILED');
        } else {
          expect(o.error).toBeUndefined();
          expect(o.metadata).toEqual({ name: `f${i}`, mime: '', size: i, mtime: i });
          expect(toHexString(o.keys!.secret)).toBe(toHexString(kids[i]!.secret));
        }
      });
    });
  }

  it('rejects misuse with TypeError / RangeError', async () => {
    const parent = await c.nodeKeys(c.randomId(), c.newNode().secret);
    await expect(c.openChildren({ ...parent }, [])).rejects.toThrow(TypeError);
    await expect(c.openChildren(parent, [{ nodeId: 'XY', wrap: new Uint8Array(1), metadata: new Uint8Array(1) }])).rejects.toThrow(TypeError);
    await expect(c.openChildren(parent, [], { concurrency: 0 })).rejects.toThrow(RangeError);
    expect(await c.openChildren(parent, [])).toEqual([]);
  });
});
