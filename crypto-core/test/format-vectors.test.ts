// Runs the committed format vectors (tests/vectors/format-v1) through the public API, and fails
// if regenerating them would change a byte.
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as c from '../src/index';
import { unpad, vaultInternals } from '../src/internal';
import { generateFormatVectors, seededInput, serialize, vectorsDir } from '../../scripts/gen-format-vectors';
import { hex, toHexString } from './helpers';

/* eslint-disable @typescript-eslint/no-explicit-any -- vectors are untyped JSON */
const load = (name: string): any => JSON.parse(readFileSync(`${vectorsDir}${name}.json`, 'utf8'));

async function codeOf(f: () => Promise<unknown> | unknown): Promise<string> {
  try {
    await f();
    return 'OK';
  } catch (e) {
    return e instanceof c.CofferCryptoError ? e.code : `${(e as Error).name}: ${(e as Error).message}`;
  }
}

const vaultOf = (v: { accountId: string; accountKey: string }) => c.openVault(v.accountId, hex(v.accountKey) as c.AccountKey);
const nodeOf = (id: string, secret: string) => c.nodeKeys(id, hex(secret) as c.NodeSecret);

describe('format-v1 vectors', () => {
  it('passphrase (§4.1)', async () => {
    const v = load('passphrase');
    const kdf = c.decodeKdfParams(v.inputs.kdfParams);
    expect({ ...kdf, salt: toHexString(kdf.salt) }).toEqual(v.inputs.kdf);
    const keys = await c.derivePassphraseKeys(v.inputs.passphrase, kdf);
    expect(toHexString(keys.loginKey)).toBe(v.expected.loginKey);
    expect(toHexString(keys.passKek)).toBe(v.expected.passKek);
    expect(toHexString(await c.loginVerifier(keys.loginKey))).toBe(v.expected.loginVerifier);
    for (const n of v.negative) expect(await codeOf(() => c.decodeKdfParams(n.kdfParams)), n.case).toBe(n.error);
  });

  it('account (§4.2)', async () => {
    const v = load('account');
    const vault = await vaultOf(v.inputs);
    expect(toHexString(vault.accountPublicKey)).toBe(v.expected.accountPublicKey);
    expect(Array.from(vaultInternals(vault).gear, (g) => g.toString(16).padStart(8, '0'))).toEqual(v.expected.gear);
    expect(await c.chunkIdOf(vault, hex(v.expected.chunkIdSample.chunk))).toBe(v.expected.chunkIdSample.chunkId);
    expect(Array.from(c.gearFromChunkingKey(hex(v.expected.chunkingKey)), (g) => g.toString(16).padStart(8, '0'))).toEqual(v.expected.gear);
  });

  it('slots (§4.3)', async () => {
    const v = load('slots');
    const id = v.inputs.accountId;
    const recovery = await c.recoveryKeys(v.inputs.recoveryCode);
    expect(toHexString(recovery.kek)).toBe(v.expected.recoveryKek);
    expect(toHexString(recovery.loginKey)).toBe(v.expected.recoveryLoginKey);
    expect(toHexString((await c.recoveryKeys(v.inputs.recoveryCodeAsTyped)).kek)).toBe(v.expected.recoveryKek);
    const prfKek = c.prfKek(hex(v.inputs.prf));
    expect(toHexString(prfKek)).toBe(v.expected.prfKek);
    const credHash = await c.credentialIdHash(hex(v.inputs.credentialId));
    expect(toHexString(credHash)).toBe(v.expected.credentialIdHash);
    const device: c.DeviceKeyPair = { deviceId: v.inputs.device.deviceId, privateKey: hex(v.inputs.device.privateKey), publicKey: hex(v.inputs.device.publicKey) };
    const open = {
      passphrase: (r: Uint8Array) => c.openSlot(id, 'passphrase', hex(v.inputs.passKek) as c.Kek, r),
      recovery: (r: Uint8Array) => c.openSlot(id, 'recovery', recovery.kek, r),
      prf: (r: Uint8Array) => c.openSlot(id, 'prf', prfKek, r, credHash),
      device: (r: Uint8Array) => c.openDeviceSlot(id, device, r),
    } as const;
    for (const [kind, record] of Object.entries(v.records)) {
      expect(toHexString(await open[kind as keyof typeof open](hex(record as string))), kind).toBe(v.expected.accountKey);
    }
    for (const n of v.negative) {
      const run = n.slot === 'recovery-code' ? () => c.recoveryKeys(n.recoveryCode) : () => open[n.slot as keyof typeof open](hex(n.record));
      expect(await codeOf(run), `${n.slot}: ${n.case}`).toBe(n.error);
    }
  });

  it('device names (§4.4)', async () => {
    const v = load('device-name');
    const vault = await vaultOf(v.inputs);
    expect(await c.openDeviceName(vault, v.inputs.deviceId, hex(v.record))).toBe(v.expected.name);
    for (const n of v.negative) expect(await codeOf(() => c.openDeviceName(vault, n.deviceId ?? v.inputs.deviceId, hex(n.record))), n.case).toBe(n.error);
  });

  it('node wraps (§5.1, §5.2)', async () => {
    const v = load('node-wrap');
    const vault = await vaultOf(v.inputs);
    const keys = new Map<string, c.NodeKeys>();
    for (const n of v.nodes) {
      const parent = n.parentId === null ? null : keys.get(n.parentId)!;
      const secret = await c.unwrapNodeSecret(hex(n.wrap), n.nodeId, parent, n.parentId === null ? vault : null);
      expect(toHexString(secret), n.role).toBe(n.secret);
      const k = await c.nodeKeys(n.nodeId, secret);
      expect(toHexString(k.folderPublicKey)).toBe(n.derived.folderPublicKey);
      keys.set(n.nodeId, k);
    }
    for (const n of v.negative) {
      expect(await codeOf(() => c.unwrapNodeSecret(hex(n.record), n.nodeId, keys.get(n.parentId)!, null)), n.case).toBe(n.error);
    }
  });

  it('metadata and name hashes (§5.3)', async () => {
    const v = load('metadata');
    const node = await nodeOf(v.inputs.nodeId, v.inputs.secret);
    expect(await c.openMetadata(node, hex(v.record))).toEqual(v.expected.metadata);
    const parent = await nodeOf(v.nameHashes.parentId, v.nameHashes.parentSecret);
    for (const n of v.nameHashes.names) expect(await c.nameHash(parent, n.name)).toBe(n.nameHash);
    for (const n of v.nameHashes.invalidNames) expect(await codeOf(() => c.nameHash(parent, n.name))).toBe(n.error);
    for (const n of v.negative) expect(await codeOf(() => c.openMetadata(node, hex(n.record))), n.case).toBe(n.error);
  });

  it('padding (§3)', () => {
    const v = load('padding');
    for (const p of v.padLen) expect([c.padme(p.n), c.padLen(p.n)]).toEqual([p.padme, p.padLen]);
    for (const b of v.bodies) expect(toHexString(unpad(hex(b.body)))).toBe(b.plaintext);
    for (const n of v.negative) expect(() => unpad(hex(n.body)), n.case).toThrow(expect.objectContaining({ code: n.error }));
  });

  it('chunking (§6.1)', async () => {
    const v = load('chunking');
    const vault = await c.openVault(c.randomId(), hex(v.inputs.accountKey) as c.AccountKey);
    const input = seededInput(v.inputs.input.label, v.inputs.input.length);
    const gear = c.gearFromChunkingKey(hex(v.inputs.chunkingKey));
    expect(Array.from(gear)).toEqual(Array.from(vaultInternals(vault).gear));
    expect(c.cutPoints(c.createChunker(gear), input)).toEqual(v.expected.cutPoints);
    expect(c.cutPoints(c.createChunker(gear, v.smallParams.params), input.subarray(0, 8192))).toEqual(v.smallParams.cutPoints);
    const ends: number[] = [];
    for await (const ch of c.encryptStream(vault, (async function* () { yield input; })())) ends.push(ch.offset + ch.entry.plainLength);
    expect(ends).toEqual(v.expected.cutPoints);
  });

  it('chunk record (§6.2, §6.3)', async () => {
    const v = load('chunk');
    const vault = await c.openVault(c.randomId(), hex(v.inputs.accountKey) as c.AccountKey);
    expect(await c.chunkIdOf(vault, hex(v.inputs.plaintext))).toBe(v.expected.chunkId);
    const entry: c.ManifestEntry = { ...v.expected, chunkKey: hex(v.expected.chunkKey) };
    expect(toHexString(await c.decryptChunk(entry, hex(v.record)))).toBe(v.inputs.plaintext);
    for (const n of v.negative) expect(await codeOf(() => c.decryptChunk(entry, hex(n.record))), n.case).toBe(n.error);
  });

  it('manifest (§7)', async () => {
    const v = load('manifest');
    const node = await nodeOf(v.inputs.nodeId, v.inputs.secret);
    const m = await c.openManifest(node, v.inputs.version, hex(v.record));
    expect({ size: m.size, chunks: m.chunks.map((e) => ({ ...e, chunkKey: toHexString(e.chunkKey) })) }).toEqual(v.expected.manifest);
    for (const n of v.negative) {
      expect(await codeOf(() => c.openManifest(node, n.version ?? v.inputs.version, hex(n.record))), n.case).toBe(n.error);
    }
  });

  it('links (§8)', async () => {
    const v = load('link');
    const a = v.withoutPassword;
    const keys = await c.linkKeys(a.linkId, a.fragment);
    expect(toHexString(keys.linkKey)).toBe(a.expected.linkKey);
    const opened = await c.openLinkPayload(a.linkId, keys.linkKey, hex(a.payload));
    expect([opened.nodeId, toHexString(opened.secret)]).toEqual([v.node.nodeId, v.node.secret]);
    for (const n of a.negative) expect(await codeOf(() => c.openLinkPayload(a.linkId, keys.linkKey, hex(n.record))), n.case).toBe(n.error);

    const b = v.withPassword;
    const kdf = c.decodeKdfParams(b.kdfParams);
    const pw = await c.linkKeys(b.linkId, b.fragment, b.password, kdf);
    expect([toHexString(pw.linkKey), toHexString(pw.authKey!)]).toEqual([b.expected.linkKey, b.expected.authKey]);
    expect(toHexString(await c.linkChallengeResponse(pw.authKey!, b.linkId, hex(b.expected.challenge)))).toBe(b.expected.response);
    expect((await c.openLinkPayload(b.linkId, pw.linkKey, hex(b.payload))).nodeId).toBe(v.node.nodeId);
    for (const n of b.negative) {
      const run = async () => {
        const k = await c.linkKeys(b.linkId, n.fragment ?? b.fragment, n.password ?? undefined, kdf);
        return c.openLinkPayload(b.linkId, k.linkKey, hex(b.payload));
      };
      expect(await codeOf(run), n.case).toBe(n.error);
    }
  });

  it('regenerating changes nothing', async () => {
    const files = await generateFormatVectors();
    expect(readdirSync(vectorsDir).sort()).toEqual(Object.keys(files).map((n) => `${n}.json`).sort());
    for (const [name, value] of Object.entries(files)) {
      expect(serialize(value), `${name}.json differs: run node --import tsx scripts/gen-format-vectors.ts and review`).toBe(
        readFileSync(`${vectorsDir}${name}.json`, 'utf8'),
      );
    }
  });
});
