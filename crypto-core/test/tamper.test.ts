// Tampering with stored records: every flipped byte, truncation, reordering, swapping between
// files and wrong keys fail with the right code and never release plaintext.
import { beforeAll, describe, expect, it } from 'vitest';
import * as c from '../src/index';
import { encryptStreamWith, sealAead, nodeInternals, RecordType, pad } from '../src/internal';
import { collect, piecesOf, seededBytes } from './helpers';

const SMALL = { min: 64, avg: 256, max: 1024 };

interface Stored { node: c.NodeKeys; data: Uint8Array; manifest: c.Manifest; manifestRecord: Uint8Array; metaRecord: Uint8Array; blobs: Map<string, Uint8Array> }

let vault: c.Vault;
let a: Stored;
let b: Stored;

async function store(seed: number, size: number): Promise<Stored> {
  const n = c.newNode();
  const node = await c.nodeKeys(n.nodeId, n.secret);
  const data = seededBytes(size, seed);
  const chunks = await collect(encryptStreamWith(vault, piecesOf(data, 500), undefined, SMALL));
  const manifest = { size, chunks: chunks.map((x) => x.entry) };
  return {
    node, data, manifest,
    manifestRecord: await c.sealManifest(node, 1, manifest),
    metaRecord: await c.sealMetadata(node, { name: `f${seed}`, mime: '', size, mtime: 0 }),
    blobs: new Map(chunks.map((x) => [x.entry.chunkId, x.record])),
  };
}

/** The code each position of a flipped AES-GCM record must give (format §2 parse order). */
const expectedCode = (i: number) => (i === 0 ? 'UNSUPPORTED_VERSION' : i === 1 ? 'HEADER_INVALID' : 'AUTH_FAILED');

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'RELEASED';
  } catch (e) {
    return e instanceof c.CofferCryptoError ? e.code : String(e);
  }
}

function flipped(record: Uint8Array, i: number): Uint8Array {
  const r = record.slice();
  r[i]! ^= 0x01;
  return r;
}

beforeAll(async () => {
  const { accountId, accountKey } = c.newAccount();
  vault = await c.openVault(accountId, accountKey);
  a = await store(1, 2500);
  b = await store(2, 2500);
});

describe('bit flips', () => {
  it('in every byte of every chunk record', async () => {
    expect(a.manifest.chunks.length).toBeGreaterThan(2);
    for (const entry of a.manifest.chunks) {
      const record = a.blobs.get(entry.chunkId)!;
      for (let i = 0; i < record.length; i++) expect(await codeOf(c.decryptChunk(entry, flipped(record, i)))).toBe(expectedCode(i));
    }
  });

  it('in every byte of the manifest and metadata records', async () => {
    for (let i = 0; i < a.manifestRecord.length; i++) {
      expect(await codeOf(c.openManifest(a.node, 1, flipped(a.manifestRecord, i)))).toBe(expectedCode(i));
    }
    for (let i = 0; i < a.metaRecord.length; i++) expect(await codeOf(c.openMetadata(a.node, flipped(a.metaRecord, i)))).toBe(expectedCode(i));
  });

  it('in a key wrap, a slot and a link payload', async () => {
    const kek = (await c.recoveryKeys(c.newRecoveryCode())).kek;
    const slot = await c.sealSlot(vault, 'recovery', kek);
    for (let i = 0; i < slot.length; i++) expect(await codeOf(c.openSlot(vault.accountId, 'recovery', kek, flipped(slot, i)))).toBe(expectedCode(i));
    const child = c.newNode();
    const wrap = await c.wrapNodeSecret(child.secret, child.nodeId, a.node, vault);
    for (let i = 0; i < wrap.length; i++) {
      // Flipping enc (bytes 2..33) changes the DH input; X25519 still succeeds, so the tag fails.
      expect(await codeOf(c.unwrapNodeSecret(flipped(wrap, i), child.nodeId, a.node, null))).toBe(expectedCode(i));
    }
    const link = await c.createLink(child);
    const { linkKey } = await c.linkKeys(link.linkId, link.secret);
    for (let i = 0; i < link.payload.length; i++) expect(await codeOf(c.openLinkPayload(link.linkId, linkKey, flipped(link.payload, i)))).toBe(expectedCode(i));
  });
});

describe('truncation and length', () => {
  it('a chunk record of the wrong length is TRUNCATED before decryption', async () => {
    const entry = a.manifest.chunks[0]!;
    const record = a.blobs.get(entry.chunkId)!;
    for (const r of [record.subarray(0, record.length - 1), record.subarray(0, 10), new Uint8Array(0), new Uint8Array([...record, 0])]) {
      expect(await codeOf(c.decryptChunk(entry, r))).toBe('TRUNCATED');
    }
  });

  it('short records are TRUNCATED, cut records fail authentication', async () => {
    for (const n of [0, 1, 2, 29]) expect(await codeOf(c.openManifest(a.node, 1, a.manifestRecord.subarray(0, n)))).toBe('TRUNCATED');
    expect(await codeOf(c.openManifest(a.node, 1, a.manifestRecord.subarray(0, 30)))).toBe('AUTH_FAILED');
    expect(await codeOf(c.openManifest(a.node, 1, a.manifestRecord.subarray(0, a.manifestRecord.length - 1)))).toBe('AUTH_FAILED');
    const wrap = await c.wrapNodeSecret(c.newNode().secret, c.randomId(), a.node, vault);
    expect(await codeOf(c.unwrapNodeSecret(wrap.subarray(0, 49), c.randomId(), a.node, null))).toBe('TRUNCATED');
  });

  it('a stream stops at the first bad chunk and yields only verified chunks before it', async () => {
    const bad = new Map(a.blobs);
    const third = a.manifest.chunks[2]!;
    bad.set(third.chunkId, flipped(a.blobs.get(third.chunkId)!, 40));
    const released: Uint8Array[] = [];
    let code = 'RELEASED';
    try {
      for await (const pt of c.decryptStream(a.manifest, async (id) => bad.get(id)!)) released.push(pt);
    } catch (e) {
      code = (e as c.CofferCryptoError).code;
    }
    expect(code).toBe('AUTH_FAILED');
    const offset = a.manifest.chunks[0]!.plainLength + a.manifest.chunks[1]!.plainLength;
    expect(Buffer.compare(Buffer.concat(released), a.data.subarray(0, offset))).toBe(0);
  });
});

describe('reordering and swapping', () => {
  it('serving chunk records under other ids fails (reorder, or another file of the vault)', async () => {
    const ids = a.manifest.chunks.map((e) => e.chunkId);
    const rotated = new Map(ids.map((id, i) => [id, a.blobs.get(ids[(i + 1) % ids.length]!)!]));
    const code = await codeOf(collect(c.decryptStream(a.manifest, async (id) => rotated.get(id)!)));
    expect(['AUTH_FAILED', 'TRUNCATED']).toContain(code);
    for (const [i, entry] of a.manifest.chunks.entries()) {
      const foreign = [...b.blobs.values()][i % b.blobs.size]!;
      expect(['AUTH_FAILED', 'TRUNCATED']).toContain(await codeOf(c.decryptChunk(entry, foreign)));
    }
  });

  it('a reordered manifest no longer matches its sealed size/order and a forged one cannot be sealed by the server', async () => {
    const entries = a.manifest.chunks;
    const reordered = { size: a.manifest.size, chunks: [entries[1]!, entries[0]!, ...entries.slice(2)] };
    const out = Buffer.concat(await collect(c.decryptStream(reordered, async (id) => a.blobs.get(id)!)));
    // Chunks authenticate individually; the order is protected by the manifest record itself.
    expect(Buffer.compare(out, a.data)).not.toBe(0);
    expect(await codeOf(c.openManifest(a.node, 1, b.manifestRecord))).toBe('AUTH_FAILED');
  });

  it('manifests and metadata replayed under another node or version fail', async () => {
    expect(await codeOf(c.openManifest(b.node, 1, a.manifestRecord))).toBe('AUTH_FAILED');
    expect(await codeOf(c.openManifest(a.node, 2, a.manifestRecord))).toBe('AUTH_FAILED');
    expect(await codeOf(c.openMetadata(b.node, a.metaRecord))).toBe('AUTH_FAILED');
    expect(await codeOf(c.openMetadata(a.node, a.manifestRecord))).toBe('HEADER_INVALID');
  });

  it('wrong keys fail authentication', async () => {
    const other = await c.openVault(c.randomId(), c.newAccount().accountKey);
    const root = c.newNode();
    const wrap = await c.wrapNodeSecret(root.secret, root.nodeId, null, vault);
    expect(await codeOf(c.unwrapNodeSecret(wrap, root.nodeId, null, other))).toBe('AUTH_FAILED');
    const entry = { ...a.manifest.chunks[0]!, chunkKey: b.manifest.chunks[0]!.chunkKey };
    expect(await codeOf(c.decryptChunk(entry, a.blobs.get(entry.chunkId)!))).toBe('AUTH_FAILED');
  });
});

describe('authenticated but malformed plaintext', () => {
  it('bad padding is PADDING_INVALID, bad JSON METADATA_INVALID, bad manifests MANIFEST_INVALID', async () => {
    const n = nodeInternals(a.node);
    const metaCtx = new Uint8Array([...new TextEncoder().encode('coffer/v1/meta'), ...n.idBytes]);
    const seal = (body: Uint8Array) => sealAead(RecordType.metadata, n.metaKey(), metaCtx, body);
    const enc = (s: string) => pad(new TextEncoder().encode(s));
    expect(await codeOf(c.openMetadata(a.node, await seal(new Uint8Array(256))))).toBe('PADDING_INVALID');
    expect(await codeOf(c.openMetadata(a.node, await seal(new Uint8Array([1, 2, 0x80, 0]))))).toBe('PADDING_INVALID'); // shorter than padLen
    for (const bad of [
      '{"name":"a","mime":"","size":0}', '{"name":"a","mime":"","size":0,"mtime":0,"x":1}', '{"name":"a/b","mime":"","size":0,"mtime":0}',
      '{"name":"a","mime":"","size":-1,"mtime":0}', '{"name":"a","mime":"","size":1.5,"mtime":0}', '{"name":"cafe\u0301","mime":"","size":0,"mtime":0}',
      '[1]', 'null', '{"name":".","mime":"","size":0,"mtime":0}', '{"name":"a","mime":null,"size":0,"mtime":0}', 'not json',
    ]) {
      expect(await codeOf(c.openMetadata(a.node, await seal(enc(bad))))).toBe('METADATA_INVALID');
    }
    expect(await codeOf(c.openMetadata(a.node, await seal(pad(new Uint8Array([0xff, 0xfe])))))).toBe('METADATA_INVALID');
  });
});
