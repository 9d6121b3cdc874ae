// Writes tests/vectors/format-v1/*.json: known-answer vectors of the Coffer byte format (docs/format.md),
// each with inputs, expected outputs and negative cases with their error code.
// Run: node --import tsx scripts/gen-format-vectors.ts
// Deterministic: every random value comes from a seeded generator injected into crypto-core, so
// running it again must not change the files (crypto-core/test/format-vectors.test.ts checks this).
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { sha256 } from '@noble/hashes/sha2.js';
import * as c from '../crypto-core/src/index.ts';
import {
  encodeManifest, nodeInternals, pad, primitives, RecordType, sealAead, setRandomSource, vaultInternals,
} from '../crypto-core/src/internal.ts';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
const hex = (b: Uint8Array): string => c.toHex(b);
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const EMPTY = new Uint8Array(0);

/** SHA-256 in counter mode over a seed label: block i = SHA256(label || u32 i). Not a CSPRNG; vectors only. */
export function seededStream(label: string): (n: number) => Uint8Array {
  let counter = 0;
  let pool = new Uint8Array(0);
  return (n) => {
    while (pool.length < n) {
      const block = sha256(new Uint8Array([...utf8(label), counter >>> 24, (counter >>> 16) & 255, (counter >>> 8) & 255, counter & 255]));
      counter++;
      const next = new Uint8Array(pool.length + 32);
      next.set(pool);
      next.set(block, pool.length);
      pool = next;
    }
    const out = pool.slice(0, n);
    pool = pool.slice(n);
    return out;
  };
}

/** `n` bytes of the seeded stream, built in large blocks (for multi-MiB chunking input). */
export function seededInput(label: string, n: number): Uint8Array {
  const out = new Uint8Array(n);
  const block = new Uint8Array(utf8(label).length + 4);
  block.set(utf8(label));
  const view = new DataView(block.buffer);
  for (let i = 0, at = 0; at < n; i++, at += 32) {
    view.setUint32(block.length - 4, i);
    out.set(sha256(block).subarray(0, Math.min(32, n - at)), at);
  }
  return out;
}

const flip = (b: Uint8Array, i: number): Uint8Array => {
  const r = b.slice();
  r[i]! ^= 0x01;
  return r;
};
const withByte = (b: Uint8Array, i: number, v: number): Uint8Array => {
  const r = b.slice();
  r[i] = v;
  return r;
};

/** The standard negative cases every AES-GCM / HPKE record must produce (format §2 parse order). */
function recordNegatives(record: Uint8Array, minimum: number): Json[] {
  return [
    { case: 'last tag byte flipped', record: hex(flip(record, record.length - 1)), error: 'AUTH_FAILED' },
    { case: 'nonce/enc byte flipped', record: hex(flip(record, 2)), error: 'AUTH_FAILED' },
    { case: 'version byte 0x02', record: hex(withByte(record, 0, 0x02)), error: 'UNSUPPORTED_VERSION' },
    { case: 'type byte changed', record: hex(withByte(record, 1, record[1] === 0x06 ? 0x05 : 0x06)), error: 'HEADER_INVALID' },
    { case: `shorter than ${minimum} bytes`, record: hex(record.subarray(0, minimum - 1)), error: 'TRUNCATED' },
    { case: 'last byte removed', record: hex(record.subarray(0, record.length - 1)), error: 'AUTH_FAILED' },
  ];
}

export async function generateFormatVectors(): Promise<Record<string, Json>> {
  setRandomSource(seededStream('coffer/v1/format-vectors'));
  try {
    return await generate();
  } finally {
    setRandomSource(null);
  }
}

async function generate(): Promise<Record<string, Json>> {
  const files: Record<string, Json> = {};
  const common = { format: 'docs/format.md, version 1', encoding: 'byte strings are lowercase hex; ids are hex as in format §1' };

  // ---- §4.1 passphrase → keys ----
  const kdf = c.newKdfParams();
  const passphrase = 'Cafe\u0301 correct horse'; // NFD on purpose: the KDF input is its NFC form
  const { loginKey, passKek } = await c.derivePassphraseKeys(passphrase, kdf);
  const kdfB64 = c.encodeKdfParams(kdf);
  const belowFloor = c.fromBase64Url(kdfB64);
  new DataView(belowFloor.buffer).setUint32(1, 65535); // m, format §4.1 layout
  const zeroT = c.fromBase64Url(kdfB64);
  zeroT[8] = 0x02;
  files['passphrase'] = {
    ...common, section: '§4.1',
    inputs: { passphrase, kdfParams: kdfB64, kdf: { m: kdf.m, t: kdf.t, p: kdf.p, salt: hex(kdf.salt) } },
    expected: {
      master: hex(await argon2Master(passphrase, kdf)), loginKey: hex(loginKey), passKek: hex(passKek), loginVerifier: hex(await c.loginVerifier(loginKey)),
    },
    negative: [
      { case: 'm = 65535 (below the floor)', kdfParams: c.toBase64Url(belowFloor), error: 'KDF_PARAMS_INVALID' },
      { case: 't = 2 (below the floor)', kdfParams: c.toBase64Url(zeroT), error: 'KDF_PARAMS_INVALID' },
      { case: 'base64 padding', kdfParams: `${kdfB64}==`, error: 'INVALID_ENCODING' },
      { case: '25 bytes', kdfParams: c.toBase64Url(c.fromBase64Url(kdfB64).subarray(0, 25)), error: 'KDF_PARAMS_INVALID' },
    ],
  };

  // ---- §4.2 account ----
  const account = c.newAccount();
  const vault = await c.openVault(account.accountId, account.accountKey);
  const ak = account.accountKey;
  const derive = (label: string) => hex(primitives.hkdf(ak, EMPTY, utf8(label), 32));
  const sample = utf8('coffer chunk id sample');
  files['account'] = {
    ...common, section: '§4.2',
    inputs: { accountId: account.accountId, accountKey: hex(ak) },
    expected: {
      accountPrivateKey: derive('coffer/v1/account-x25519'),
      accountPublicKey: hex(vault.accountPublicKey),
      chunkIdKey: derive('coffer/v1/chunk-id'),
      chunkKeyKey: derive('coffer/v1/chunk-key'),
      chunkingKey: derive('coffer/v1/chunking'),
      gear: Array.from(vaultInternals(vault).gear, (g) => g.toString(16).padStart(8, '0')),
      chunkIdSample: { chunk: hex(sample), chunkId: await c.chunkIdOf(vault, sample) },
    },
  };

  // ---- §4.3 slots ----
  const recoveryCode = c.newRecoveryCode();
  const recovery = await c.recoveryKeys(recoveryCode);
  const prf = (await import('../crypto-core/src/random.ts')).randomBytes(32);
  const credentialId = utf8('credential-1');
  const credHash = await c.credentialIdHash(credentialId);
  const prfKek = c.prfKek(prf);
  const device = c.newDeviceKeyPair();
  const passSlot = await c.sealSlot(vault, 'passphrase', passKek);
  const recoverySlot = await c.sealSlot(vault, 'recovery', recovery.kek);
  const prfSlot = await c.sealSlot(vault, 'prf', prfKek, credHash);
  const deviceSlot = await c.sealDeviceSlot(vault, device.deviceId, device.publicKey);
  files['slots'] = {
    ...common, section: '§4.3',
    inputs: {
      accountId: account.accountId,
      passKek: hex(passKek),
      recoveryCode, recoveryCodeAsTyped: recoveryCode.toLowerCase().replace(/-/g, ' ').replace(/0/g, 'o'),
      prf: hex(prf), credentialId: hex(credentialId),
      device: { deviceId: device.deviceId, privateKey: hex(device.privateKey), publicKey: hex(device.publicKey) },
    },
    expected: {
      accountKey: hex(ak),
      recoveryKek: hex(recovery.kek), recoveryLoginKey: hex(recovery.loginKey),
      prfKek: hex(prfKek), credentialIdHash: hex(credHash),
    },
    records: { passphrase: hex(passSlot), recovery: hex(recoverySlot), prf: hex(prfSlot), device: hex(deviceSlot) },
    negative: [
      ...recordNegatives(passSlot, 30).map((n) => ({ ...(n as object), slot: 'passphrase' })),
      ...recordNegatives(deviceSlot, 50).map((n) => ({ ...(n as object), slot: 'device' })),
      { case: 'passphrase slot opened as a recovery slot', slot: 'recovery', record: hex(passSlot), error: 'AUTH_FAILED' },
      { case: 'recovery code with a character outside the alphabet', slot: 'recovery-code', recoveryCode: `U${recoveryCode.slice(1)}`, error: 'INVALID_ENCODING' },
    ],
  };

  // ---- §5.1 node wraps ----
  const root = c.newNode();
  const rootKeys = await c.nodeKeys(root.nodeId, root.secret);
  const folder = c.newNode();
  const folderKeys = await c.nodeKeys(folder.nodeId, folder.secret);
  const file = c.newNode();
  const fileKeys = await c.nodeKeys(file.nodeId, file.secret);
  const rootWrap = await c.wrapNodeSecret(root.secret, root.nodeId, null, vault);
  const folderWrap = await c.wrapNodeSecret(folder.secret, folder.nodeId, rootKeys, vault);
  const fileWrap = await c.wrapNodeSecret(file.secret, file.nodeId, folderKeys, vault);
  const nodeDerived = (k: c.NodeKeys) => {
    const n = nodeInternals(k);
    return { metaKey: hex(n.metaKey()), manifestKey: hex(n.manifestKey()), folderPrivateKey: hex(n.folderPrivateKey()), folderPublicKey: hex(k.folderPublicKey), nameKey: hex(n.nameKey()) };
  };
  files['node-wrap'] = {
    ...common, section: '§5.1, §5.2',
    inputs: { accountId: account.accountId, accountKey: hex(ak) },
    nodes: [
      { role: 'root', nodeId: root.nodeId, parentId: null, secret: hex(root.secret), wrap: hex(rootWrap), derived: nodeDerived(rootKeys) },
      { role: 'folder', nodeId: folder.nodeId, parentId: root.nodeId, secret: hex(folder.secret), wrap: hex(folderWrap), derived: nodeDerived(folderKeys) },
      { role: 'file', nodeId: file.nodeId, parentId: folder.nodeId, secret: hex(file.secret), wrap: hex(fileWrap), derived: nodeDerived(fileKeys) },
    ],
    negative: [
      ...recordNegatives(fileWrap, 50).map((n) => ({ ...(n as object), nodeId: file.nodeId, parentId: folder.nodeId })),
      { case: 'file wrap unwrapped under the root (wrong parent)', nodeId: file.nodeId, parentId: root.nodeId, record: hex(fileWrap), error: 'AUTH_FAILED' },
      { case: 'folder wrap presented as the file (wrong node id)', nodeId: file.nodeId, parentId: root.nodeId, record: hex(folderWrap), error: 'AUTH_FAILED' },
      { case: 'enc replaced by the low-order point u = 0 (all-zero DH output)', nodeId: file.nodeId, parentId: folder.nodeId, record: hex(new Uint8Array([...fileWrap.subarray(0, 2), ...new Uint8Array(32), ...fileWrap.subarray(34)])), error: 'INVALID_KEY' },
    ],
  };

  // ---- §5.3 metadata and name hashes ----
  const meta = { name: 'Re\u0301sume\u0301 2024.pdf', mime: 'application/pdf', size: 123456, mtime: 1_700_000_000_000 };
  const metaRecord = await c.sealMetadata(fileKeys, meta);
  const fileMeta = nodeInternals(fileKeys);
  const metaCtx = new Uint8Array([...utf8('coffer/v1/meta'), ...fileMeta.idBytes]);
  const sealMetaBody = (body: Uint8Array) => sealAead(RecordType.metadata, fileMeta.metaKey(), metaCtx, body);
  files['metadata'] = {
    ...common, section: '§5.3, §3',
    inputs: { nodeId: file.nodeId, secret: hex(file.secret), metadata: meta },
    expected: {
      metaKey: hex(fileMeta.metaKey()),
      plaintext: JSON.stringify({ ...meta, name: meta.name.normalize('NFC') }),
      metadata: { ...meta, name: meta.name.normalize('NFC') },
    },
    record: hex(metaRecord),
    nameHashes: {
      parentId: folder.nodeId, parentSecret: hex(folder.secret), parentNameKey: hex(nodeInternals(folderKeys).nameKey()),
      names: await Promise.all(['a.txt', meta.name, meta.name.normalize('NFC'), 'Ünïcödé/ok'.replace('/', '-')].map(async (name) => ({ name, nameHash: await c.nameHash(folderKeys, name) }))),
      invalidNames: ['', '.', '..', 'a/b', 'a\u0000b', 'x'.repeat(256)].map((name) => ({ name, error: 'METADATA_INVALID' })),
    },
    negative: [
      ...recordNegatives(metaRecord, 30),
      { case: 'no 0x80 marker after the zeros', record: hex(await sealMetaBody(new Uint8Array(256))), error: 'PADDING_INVALID' },
      { case: 'padded length differs from padLen', record: hex(await sealMetaBody(new Uint8Array([...utf8('{}'), 0x80]))), error: 'PADDING_INVALID' },
      { case: 'extra JSON member', record: hex(await sealMetaBody(pad(utf8('{"name":"a","mime":"","size":0,"mtime":0,"x":1}')))), error: 'METADATA_INVALID' },
      { case: 'size is a string', record: hex(await sealMetaBody(pad(utf8('{"name":"a","mime":"","size":"0","mtime":0}')))), error: 'METADATA_INVALID' },
      { case: 'name not NFC', record: hex(await sealMetaBody(pad(utf8('{"name":"e\u0301","mime":"","size":0,"mtime":0}')))), error: 'METADATA_INVALID' },
      { case: 'not UTF-8', record: hex(await sealMetaBody(pad(new Uint8Array([0xc3, 0x28])))), error: 'METADATA_INVALID' },
    ],
  };

  // ---- §3 padding ----
  const sizes = [0, 1, 2, 3, 9, 100, 255, 256, 257, 1000, 4097, 65_536, 1_048_577, 4_194_305, 2 ** 40 + 12345];
  files['padding'] = {
    ...common, section: '§3',
    padLen: sizes.map((n) => ({ n, padme: c.padme(n), padLen: c.padLen(n) })),
    bodies: [utf8(''), utf8('a'), new Uint8Array(255).fill(7), new Uint8Array(256).fill(7)].map((pt) => ({ plaintext: hex(pt), body: hex(pad(pt)) })),
    negative: [
      { case: 'all zero', body: hex(new Uint8Array(256)), error: 'PADDING_INVALID' },
      { case: 'marker then a nonzero byte', body: hex(withByte(pad(utf8('ab')), 255, 1)), error: 'PADDING_INVALID' },
      { case: 'one zero byte too many', body: hex(new Uint8Array([...pad(utf8('ab')), 0])), error: 'PADDING_INVALID' },
      { case: 'body shorter than padLen', body: hex(new Uint8Array([0x61, 0x80])), error: 'PADDING_INVALID' },
    ],
  };

  // ---- §6.1 chunking ----
  const inputLabel = 'coffer/v1/chunking-input';
  const inputLength = 12 * 2 ** 20 + 4321;
  const input = seededInput(inputLabel, inputLength);
  const smallParams = { min: 64, avg: 256, max: 1024 };
  const smallInput = input.subarray(0, 8192);
  files['chunking'] = {
    ...common, section: '§6.1',
    inputs: {
      accountKey: hex(ak),
      chunkingKey: derive('coffer/v1/chunking'),
      input: { generator: 'block i (i = 0, 1, …) = SHA256(label || u32 i); input = the first `length` bytes of block 0 || block 1 || …', label: inputLabel, length: inputLength, sha256: hex(sha256(input)) },
    },
    expected: {
      params: { ...c.CHUNK_PARAMS },
      cutPoints: c.cutPoints(c.createChunker(vaultInternals(vault).gear), input),
    },
    smallParams: {
      note: 'Not used by clients: the same algorithm with min 64, avg 256 (bits 8), max 1024 on the first 8192 input bytes, for implementers to debug with.',
      params: smallParams,
      cutPoints: c.cutPoints(c.createChunker(vaultInternals(vault).gear, smallParams), smallInput),
    },
  };

  // ---- §6.2, §6.3 chunk record ----
  const chunkPlain = utf8('The quick brown fox jumps over the lazy dog. '.repeat(20));
  const [chunk] = await collectAll(c.encryptStream(vault, (async function* () { yield chunkPlain; })(), { concurrency: 1 }));
  const entry = chunk!.entry;
  files['chunk'] = {
    ...common, section: '§6.2, §6.3, §7',
    inputs: { accountKey: hex(ak), plaintext: hex(chunkPlain) },
    expected: { chunkId: entry.chunkId, chunkKey: hex(entry.chunkKey), plainLength: entry.plainLength, storedLength: entry.storedLength },
    record: hex(chunk!.record),
    negative: [
      ...recordNegatives(chunk!.record, 30).map((n) => {
        const record = c.fromHex((n as { record: string }).record);
        // A changed length is caught by the storedLength check before anything else (format §7).
        return record.length === entry.storedLength ? n : { ...(n as object), error: 'TRUNCATED' };
      }),
      { case: 'one byte appended', record: hex(new Uint8Array([...chunk!.record, 0])), error: 'TRUNCATED' },
    ],
  };

  // ---- §7 manifest ----
  const manifestInput = seededInput('coffer/v1/manifest-input', 3 * 2 ** 20 + 777);
  const chunks = await collectAll(c.encryptStream(vault, (async function* () { yield manifestInput; })(), { concurrency: 1 }));
  const manifest: c.Manifest = { size: manifestInput.length, chunks: chunks.map((x) => x.entry) };
  const manifestRecord = await c.sealManifest(fileKeys, 3, manifest);
  const manCtx = (version: number) => new Uint8Array([...utf8('coffer/v1/manifest'), ...fileMeta.idBytes, version >>> 24, (version >>> 16) & 255, (version >>> 8) & 255, version & 255]);
  const sealManBody = (body: Uint8Array) => sealAead(RecordType.manifest, fileMeta.manifestKey(), manCtx(3), pad(body));
  const plain = encodeManifest(manifest);
  const patched = (at: number, value: number) => {
    const b = plain.slice();
    new DataView(b.buffer).setUint32(at, value);
    return b;
  };
  files['manifest'] = {
    ...common, section: '§7',
    inputs: {
      nodeId: file.nodeId, secret: hex(file.secret), version: 3,
      file: { generator: 'as in chunking.json', label: 'coffer/v1/manifest-input', length: manifestInput.length },
    },
    expected: {
      manifestKey: hex(fileMeta.manifestKey()),
      plaintext: hex(plain),
      manifest: { size: manifest.size, chunks: manifest.chunks.map((e) => ({ chunkId: e.chunkId, chunkKey: hex(e.chunkKey), plainLength: e.plainLength, storedLength: e.storedLength })) },
    },
    record: hex(manifestRecord),
    negative: [
      ...recordNegatives(manifestRecord, 30),
      { case: 'replayed as version 2', version: 2, record: hex(manifestRecord), error: 'AUTH_FAILED' },
      { case: 'manifest version 0x02', record: hex(await sealManBody(withByte(plain, 0, 2))), error: 'UNSUPPORTED_VERSION' },
      { case: 'count one too many', record: hex(await sealManBody(patched(9, manifest.chunks.length + 1))), error: 'MANIFEST_INVALID' },
      { case: 'storedLength off by one', record: hex(await sealManBody(patched(13 + 68, manifest.chunks[0]!.storedLength + 1))), error: 'MANIFEST_INVALID' },
      { case: 'plainLength 0', record: hex(await sealManBody(patched(13 + 64, 0))), error: 'MANIFEST_INVALID' },
      { case: 'size differs from the sum', record: hex(await sealManBody(patched(5, manifest.size + 1))), error: 'MANIFEST_INVALID' },
    ],
  };

  // ---- §8 links ----
  const linkPlain = await c.createLink(file);
  const plainKeys = await c.linkKeys(linkPlain.linkId, linkPlain.secret);
  const password = 'open sesame';
  const linkPw = await c.createLink(file, password);
  const pwKeys = await c.linkKeys(linkPw.linkId, linkPw.secret, password, linkPw.kdf);
  const challenge = (await import('../crypto-core/src/random.ts')).randomBytes(32);
  files['link'] = {
    ...common, section: '§8',
    node: { nodeId: file.nodeId, secret: hex(file.secret) },
    withoutPassword: {
      linkId: linkPlain.linkId, fragment: linkPlain.secret,
      expected: { linkKey: hex(plainKeys.linkKey) },
      payload: hex(linkPlain.payload),
      negative: recordNegatives(linkPlain.payload, 30),
    },
    withPassword: {
      linkId: linkPw.linkId, fragment: linkPw.secret, password, kdfParams: c.encodeKdfParams(linkPw.kdf!),
      expected: {
        linkKey: hex(pwKeys.linkKey), authKey: hex(pwKeys.authKey!),
        challenge: hex(challenge), response: hex(await c.linkChallengeResponse(pwKeys.authKey!, linkPw.linkId, challenge)),
      },
      payload: hex(linkPw.payload),
      negative: [
        { case: 'wrong password', password: 'open sesame!', error: 'AUTH_FAILED' },
        { case: 'password omitted', password: null, error: 'AUTH_FAILED' },
        { case: 'fragment with base64 padding', fragment: `${linkPw.secret}=`, error: 'INVALID_ENCODING' },
      ],
    },
  };
  // ---- §4.4 device names (generated last so earlier vectors keep their random draws) ----
  const deviceName = 'Jürgen’s laptop'; // NFD on purpose
  const nameRecord = await c.sealDeviceName(vault, device.deviceId, deviceName);
  files['device-name'] = {
    ...common, section: '§4.4',
    inputs: { accountId: account.accountId, accountKey: hex(ak), deviceId: device.deviceId, name: deviceName },
    expected: { deviceNameKey: derive('coffer/v1/device-name'), name: deviceName.normalize('NFC') },
    record: hex(nameRecord),
    negative: [
      ...recordNegatives(nameRecord, 30),
      { case: 'record of another device', deviceId: c.randomId(), record: hex(nameRecord), error: 'AUTH_FAILED' },
    ],
  };
  return files;
}

async function argon2Master(passphrase: string, kdf: c.KdfParams): Promise<Uint8Array> {
  const { argon2idFromText } = await import('../crypto-core/src/kdf.ts');
  return argon2idFromText(passphrase, kdf);
}

async function collectAll<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

export const vectorsDir = fileURLToPath(new URL('../tests/vectors/format-v1/', import.meta.url));

export function serialize(value: Json): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const files = await generateFormatVectors();
  mkdirSync(vectorsDir, { recursive: true });
  for (const [name, value] of Object.entries(files)) writeFileSync(`${vectorsDir}${name}.json`, serialize(value));
  console.log(`wrote ${Object.keys(files).length} files to ${vectorsDir}`);
}
