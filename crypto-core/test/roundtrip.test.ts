// Round trips of the whole file pipeline and of the account, node and link objects.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as c from '../src/index';
import { encryptStreamWith, vaultInternals } from '../src/internal';
import { collect, concatAll, piecesOf, seededBytes, toHexString } from './helpers';

const SMALL = { min: 64, avg: 256, max: 1024 };

async function newVault(): Promise<c.Vault> {
  const { accountId, accountKey } = c.newAccount();
  return c.openVault(accountId, accountKey);
}

async function storeFile(vault: c.Vault, data: Uint8Array, pieceSize: number, params = SMALL, concurrency = 3) {
  const chunks = await collect(encryptStreamWith(vault, piecesOf(data, pieceSize), { concurrency }, params));
  const manifest: c.Manifest = { size: data.length, chunks: chunks.map((x) => x.entry) };
  const blobs = new Map(chunks.map((x) => [x.entry.chunkId, x.record]));
  return { chunks, manifest, blobs };
}

async function readFile(manifest: c.Manifest, blobs: Map<string, Uint8Array>): Promise<Uint8Array> {
  return concatAll(await collect(c.decryptStream(manifest, async (id) => blobs.get(id)!, { concurrency: 2 })));
}

describe('file pipeline (small chunk parameters)', () => {
  const sizes = [0, 1, 2, 63, 64, 65, 255, 256, 257, 1023, 1024, 1025, 2047, 2048, 2049, 3071, 3072, 3073, 50_000];

  it.each(sizes)('round-trips %i bytes with chunk ends equal to cutPoints', async (size) => {
    const vault = await newVault();
    const file = await c.nodeKeys(c.newNode().nodeId, c.newNode().secret);
    const data = seededBytes(size, size + 1);
    const { chunks, manifest, blobs } = await storeFile(vault, data, 100);
    const ends = c.cutPoints(c.createChunker(vaultInternals(vault).gear, SMALL), data);
    expect(chunks.map((x) => x.offset + x.entry.plainLength)).toEqual(ends);
    expect(chunks.map((x) => x.offset)).toEqual([0, ...ends].slice(0, ends.length));
    for (const x of chunks) expect(x.record.length).toBe(c.storedLengthOf(x.entry.plainLength));
    const sealed = await c.sealManifest(file, 1, manifest);
    const opened = await c.openManifest(file, 1, sealed);
    expect(opened.size).toBe(size);
    expect(toHexString(await readFile(opened, blobs))).toBe(toHexString(data));
  });

  it('does not depend on how the source is split, and reads WHATWG streams', async () => {
    const vault = await newVault();
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 6000 }), fc.integer({ min: 1, max: 3000 }), fc.integer({ min: 1, max: 5 }), async (size, piece, conc) => {
        const data = seededBytes(size, size * 31 + 7);
        const a = await storeFile(vault, data, piece, SMALL, conc);
        const stream = new ReadableStream<Uint8Array>({
          start(ctl) {
            for (let at = 0; at < size; at += 777) ctl.enqueue(data.slice(at, at + 777));
            ctl.close();
          },
        });
        const b = await collect(encryptStreamWith(vault, stream, undefined, SMALL));
        expect(a.chunks.map((x) => x.entry.chunkId)).toEqual(b.map((x) => x.entry.chunkId));
        const ends = c.cutPoints(c.createChunker(vaultInternals(vault).gear, SMALL), data);
        expect(a.chunks.map((x) => x.offset + x.entry.plainLength)).toEqual(ends);
        expect(toHexString(await readFile(a.manifest, a.blobs))).toBe(toHexString(data));
      }),
      { numRuns: 40 },
    );
  });

  it('deduplicates equal chunks within a vault but not across vaults', async () => {
    const [v1, v2] = [await newVault(), await newVault()];
    const data = seededBytes(20_000, 5);
    const ids = async (v: c.Vault) => (await storeFile(v, data, 4096)).chunks.map((x) => x.entry.chunkId);
    expect(await ids(v1)).toEqual(await ids(v1));
    expect(new Set([...(await ids(v1)), ...(await ids(v2))]).size).toBeGreaterThan((await ids(v1)).length);
    expect(await c.chunkIdOf(v1, data.subarray(0, 10))).not.toBe(await c.chunkIdOf(v2, data.subarray(0, 10)));
  });
});

describe('file pipeline (real chunk parameters)', () => {
  it('round-trips a multi-chunk file through encryptStream', async () => {
    const vault = await newVault();
    const data = seededBytes(9 * 2 ** 20 + 12345, 99);
    const chunks = await collect(c.encryptStream(vault, piecesOf(data, 1_000_003)));
    expect(chunks.length).toBeGreaterThan(3);
    const ends = c.cutPoints(c.createChunker(vaultInternals(vault).gear), data);
    expect(chunks.map((x) => x.offset + x.entry.plainLength)).toEqual(ends);
    const blobs = new Map(chunks.map((x) => [x.entry.chunkId, x.record]));
    const out = await readFile({ size: data.length, chunks: chunks.map((x) => x.entry) }, blobs);
    expect(Buffer.compare(out, data)).toBe(0);
  });
});

describe('accounts, nodes and links', () => {
  it('derives the local cache key as format §4.5 says, one per account', async () => {
    const { hkdf } = await import('@noble/hashes/hkdf.js');
    const { sha256 } = await import('@noble/hashes/sha2.js');
    const vault = await newVault();
    const key = c.localCacheKey(vault);
    expect(toHexString(key)).toBe(toHexString(hkdf(sha256, vault.accountKey, undefined, new TextEncoder().encode('coffer/v1/local-cache'), 32)));
    expect(toHexString(c.localCacheKey(await newVault()))).not.toBe(toHexString(key));
    expect(() => c.localCacheKey({ ...vault })).toThrow(TypeError);
  });

  it('seals and opens every kind of slot', async () => {
    const vault = await newVault();
    const kdf = c.newKdfParams();
    const { passKek } = await c.derivePassphraseKeys('pass phrase', kdf);
    const pass = await c.sealSlot(vault, 'passphrase', passKek);
    expect(toHexString(await c.openSlot(vault.accountId, 'passphrase', passKek, pass))).toBe(toHexString(vault.accountKey));

    const code = c.newRecoveryCode();
    expect(code).toMatch(/^([0-9A-HJKMNP-TV-Z]{4}-){7}[0-9A-HJKMNP-TV-Z]{4}$/);
    const rec = await c.sealSlot(vault, 'recovery', (await c.recoveryKeys(code)).kek);
    const typed = code.toLowerCase().replace(/-/g, ' ').replace(/0/g, 'o').replace(/1/g, 'l');
    expect(toHexString(await c.openSlot(vault.accountId, 'recovery', (await c.recoveryKeys(typed)).kek, rec))).toBe(toHexString(vault.accountKey));

    const binding = await c.credentialIdHash(seededBytes(16, 1));
    const prfKek = c.prfKek(seededBytes(32, 2));
    const prf = await c.sealSlot(vault, 'prf', prfKek, binding);
    expect(toHexString(await c.openSlot(vault.accountId, 'prf', prfKek, prf, binding))).toBe(toHexString(vault.accountKey));
    await expect(c.openSlot(vault.accountId, 'prf', prfKek, prf, new Uint8Array(32))).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    // A slot of one kind does not open as another, nor for another account.
    await expect(c.openSlot(vault.accountId, 'recovery', passKek, pass)).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    await expect(c.openSlot(c.randomId(), 'passphrase', passKek, pass)).rejects.toMatchObject({ code: 'AUTH_FAILED' });

    const device = c.newDeviceKeyPair();
    const ds = await c.sealDeviceSlot(vault, device.deviceId, device.publicKey);
    expect(toHexString(await c.openDeviceSlot(vault.accountId, device, ds))).toBe(toHexString(vault.accountKey));
    await expect(c.openDeviceSlot(vault.accountId, { ...device, deviceId: c.randomId() }, ds)).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    await expect(c.openDeviceSlot(vault.accountId, c.newDeviceKeyPair(), ds)).rejects.toMatchObject({ code: 'AUTH_FAILED' });
  });

  it('seals device names for the account only, bound to the device id', async () => {
    const vault = await newVault();
    const device = c.newDeviceKeyPair();
    const record = await c.sealDeviceName(vault, device.deviceId, 'Firefox on Linux');
    expect(await c.openDeviceName(vault, device.deviceId, record)).toBe('Firefox on Linux');
    await expect(c.openDeviceName(vault, c.randomId(), record)).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    await expect(c.openDeviceName(await newVault(), device.deviceId, record)).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    await expect(c.sealDeviceName(vault, device.deviceId, '')).rejects.toMatchObject({ code: 'METADATA_INVALID' });
  });

  it('unwraps a tree with a folder secret alone, and nothing outside it', async () => {
    const vault = await newVault();
    const mk = async () => {
      const n = c.newNode();
      return c.nodeKeys(n.nodeId, n.secret);
    };
    const [root, folder, file, other] = [await mk(), await mk(), await mk(), await mk()];
    const wRoot = await c.wrapNodeSecret(root.secret, root.nodeId, null, vault);
    const wFolder = await c.wrapNodeSecret(folder.secret, folder.nodeId, root, vault);
    const wFile = await c.wrapNodeSecret(file.secret, file.nodeId, folder, vault);
    expect(toHexString(await c.unwrapNodeSecret(wRoot, root.nodeId, null, vault))).toBe(toHexString(root.secret));
    const shared = await c.nodeKeys(folder.nodeId, folder.secret); // what a share recipient rebuilds
    expect(toHexString(await c.unwrapNodeSecret(wFile, file.nodeId, shared, null))).toBe(toHexString(file.secret));
    await expect(c.unwrapNodeSecret(wFolder, folder.nodeId, shared, null)).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    await expect(c.unwrapNodeSecret(wFile, file.nodeId, other, null)).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    await expect(c.unwrapNodeSecret(wFile, other.nodeId, folder, null)).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    await expect(c.unwrapNodeSecret(wRoot, root.nodeId, null, null)).rejects.toThrow(TypeError);
  });

  it('round-trips metadata and hashes names after NFC', async () => {
    const parent = await c.nodeKeys(c.randomId(), c.newNode().secret);
    const node = await c.nodeKeys(c.randomId(), c.newNode().secret);
    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }).filter((s) => !/[/\0]/.test(s) && s.normalize('NFC') !== '.' && s.normalize('NFC') !== '..'),
        fc.string({ maxLength: 30 }), fc.nat(), fc.integer({ min: -(2 ** 50), max: 2 ** 50 }),
        async (name, mime, size, mtime) => {
          const rec = await c.sealMetadata(node, { name, mime, size, mtime });
          expect(await c.openMetadata(node, rec)).toEqual({ name: name.normalize('NFC'), mime, size, mtime });
          expect(await c.nameHash(parent, name)).toBe(await c.nameHash(parent, name.normalize('NFD')));
        },
      ),
      { numRuns: 50 },
    );
    expect(await c.nameHash(parent, 'a')).not.toBe(await c.nameHash(node, 'a'));
  });

  it('opens links with and without a password, and answers challenges', async () => {
    const node = c.newNode();
    const plain = await c.createLink(node);
    expect(plain.kdf).toBeUndefined();
    const keys = await c.linkKeys(plain.linkId, plain.secret);
    const opened = await c.openLinkPayload(plain.linkId, keys.linkKey, plain.payload);
    expect([opened.nodeId, toHexString(opened.secret)]).toEqual([node.nodeId, toHexString(node.secret)]);

    const pw = await c.createLink(node, 'hunter2');
    expect(pw.kdf && pw.authKey).toBeTruthy();
    const kdf = c.decodeKdfParams(c.encodeKdfParams(pw.kdf!));
    const good = await c.linkKeys(pw.linkId, pw.secret, 'hunter2', kdf);
    expect(toHexString(good.authKey!)).toBe(toHexString(pw.authKey!));
    expect((await c.openLinkPayload(pw.linkId, good.linkKey, pw.payload)).nodeId).toBe(node.nodeId);
    const bad = await c.linkKeys(pw.linkId, pw.secret, 'hunter3', kdf);
    await expect(c.openLinkPayload(pw.linkId, bad.linkKey, pw.payload)).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    const noPw = await c.linkKeys(pw.linkId, pw.secret);
    await expect(c.openLinkPayload(pw.linkId, noPw.linkKey, pw.payload)).rejects.toMatchObject({ code: 'AUTH_FAILED' });

    const challenge = seededBytes(32, 3);
    const answer = await c.linkChallengeResponse(good.authKey!, pw.linkId, challenge);
    expect(c.constantTimeEqual(answer, await c.linkChallengeResponse(pw.authKey!, pw.linkId, challenge))).toBe(true);
    expect(c.constantTimeEqual(answer, await c.linkChallengeResponse(bad.authKey!, pw.linkId, challenge))).toBe(false);
    await expect(c.linkKeys(pw.linkId, pw.secret + 'A')).rejects.toMatchObject({ code: 'INVALID_ENCODING' });
  });
});

describe('misuse is a TypeError or RangeError naming the argument', () => {
  it('brands keep key kinds apart at compile time (checked by tsc -p crypto-core/test)', async () => {
    const kek = c.prfKek(new Uint8Array(32));
    const vault = await newVault();
    // @ts-expect-error a Kek is not a NodeSecret
    const wrongKind = () => c.nodeKeys(c.randomId(), kek);
    // @ts-expect-error an AccountKey is not a Kek
    const wrongKek = () => c.sealSlot(vault, 'passphrase', vault.accountKey);
    // @ts-expect-error plain bytes are not an AccountKey
    const plainBytes = () => c.openVault(c.randomId(), new Uint8Array(32));
    // At run time all three are 32 bytes, so only the types stop them; they must still not throw oddly.
    await expect(wrongKind()).resolves.toBeDefined();
    await expect(wrongKek()).resolves.toBeInstanceOf(Uint8Array);
    await expect(plainBytes()).resolves.toBeDefined();
  });

  it('checks ids, key lengths and key objects', async () => {
    await expect(c.openVault('ABCDEF', new Uint8Array(32) as c.AccountKey)).rejects.toThrow(/accountId/);
    await expect(c.openVault(c.randomId(), new Uint8Array(31) as c.AccountKey)).rejects.toThrow(RangeError);
    await expect(c.nodeKeys(c.randomId().toUpperCase(), new Uint8Array(32) as c.NodeSecret)).rejects.toThrow(/nodeId/);
    const fake = { nodeId: c.randomId(), secret: new Uint8Array(32) as c.NodeSecret, folderPublicKey: new Uint8Array(32) };
    await expect(c.sealMetadata(fake, { name: 'a', mime: '', size: 0, mtime: 0 })).rejects.toThrow(TypeError);
    await expect(c.sealManifest(await c.nodeKeys(c.randomId(), fake.secret), 0, { size: 0, chunks: [] })).rejects.toThrow(RangeError);
    await expect(c.linkChallengeResponse(new Uint8Array(32), c.randomId(), new Uint8Array(31))).rejects.toThrow(/challenge/);
  });
});
