// Manifests: the chunk list of one file version (format §7).
import { fail } from './errors';
import { assertBytes, concat, toHex, u32, utf8 } from './bytes';
import { nodeInternals, type NodeKeys } from './node';
import { openAead, RecordType, sealAead } from './record';
import { pad, unpad } from './padding';
import { checkEntry, storedLengthOf, type ManifestEntry } from './chunks';
import { MAX_CHUNK } from './fastcdc';

export interface Manifest { size: number; chunks: ManifestEntry[] }

const MANIFEST_VERSION = 0x01; // format §7
const HEAD_BYTES = 13;
const ENTRY_BYTES = 72;

function checkVersion(version: number): void {
  if (!Number.isSafeInteger(version) || version < 1 || version > 0xffffffff) throw new RangeError('version must be an integer from 1 to 2^32−1');
}

const manifestContext = (id: Uint8Array, version: number) => concat(utf8('coffer/v1/manifest'), id, u32(version)); // format §2

export function encodeManifest(manifest: Manifest): Uint8Array {
  if (typeof manifest !== 'object' || manifest === null || !Array.isArray(manifest.chunks)) throw new TypeError('manifest must be a Manifest');
  let sum = 0;
  const ids = manifest.chunks.map((e, i) => {
    const id = checkEntry(e, `manifest.chunks[${i}]`);
    sum += e.plainLength;
    return id;
  });
  if (!Number.isSafeInteger(manifest.size) || manifest.size !== sum) fail('MANIFEST_INVALID', 'size differs from the sum of chunk lengths');
  const out = new Uint8Array(HEAD_BYTES + ENTRY_BYTES * ids.length);
  const v = new DataView(out.buffer);
  out[0] = MANIFEST_VERSION;
  v.setBigUint64(1, BigInt(manifest.size));
  v.setUint32(9, ids.length);
  manifest.chunks.forEach((e, i) => {
    const at = HEAD_BYTES + ENTRY_BYTES * i;
    out.set(ids[i]!, at);
    out.set(e.chunkKey, at + 32);
    v.setUint32(at + 64, e.plainLength);
    v.setUint32(at + 68, e.storedLength);
  });
  return out;
}

/** Parses manifest plaintext with every MUST-reject rule of format §7. */
export function decodeManifest(b: Uint8Array): Manifest {
  if (b.length < HEAD_BYTES) fail('MANIFEST_INVALID', 'manifest too short');
  if (b[0] !== MANIFEST_VERSION) fail('UNSUPPORTED_VERSION', `manifest version ${b[0]} is not supported`);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const size = v.getBigUint64(1);
  const count = v.getUint32(9);
  if (b.length !== HEAD_BYTES + ENTRY_BYTES * count) fail('MANIFEST_INVALID', 'manifest length differs from 13 + 72·count');
  const chunks: ManifestEntry[] = [];
  let sum = 0n;
  for (let i = 0; i < count; i++) {
    const at = HEAD_BYTES + ENTRY_BYTES * i;
    const plainLength = v.getUint32(at + 64);
    const storedLength = v.getUint32(at + 68);
    if (plainLength === 0 || plainLength > MAX_CHUNK) fail('MANIFEST_INVALID', 'plainLength out of range');
    if (storedLength !== storedLengthOf(plainLength)) fail('MANIFEST_INVALID', 'storedLength does not match plainLength');
    sum += BigInt(plainLength);
    chunks.push({ chunkId: toHex(b.subarray(at, at + 32)), chunkKey: b.slice(at + 32, at + 64), plainLength, storedLength });
  }
  if (sum !== size) fail('MANIFEST_INVALID', 'size differs from the sum of chunk lengths');
  return { size: Number(size), chunks };
}

export async function sealManifest(node: NodeKeys, version: number, manifest: Manifest): Promise<Uint8Array> {
  const n = nodeInternals(node);
  checkVersion(version);
  return sealAead(RecordType.manifest, n.manifestKey(), manifestContext(n.idBytes, version), pad(encodeManifest(manifest)));
}

export async function openManifest(node: NodeKeys, version: number, record: Uint8Array): Promise<Manifest> {
  const n = nodeInternals(node);
  checkVersion(version);
  assertBytes('record', record);
  const body = await openAead(RecordType.manifest, n.manifestKey(), manifestContext(n.idBytes, version), record);
  return decodeManifest(unpad(body));
}
