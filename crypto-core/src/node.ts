// Nodes (files and folders): node secrets, their wraps, metadata and name hashes (format §5).
import { CofferCryptoError, fail } from './errors';
import { assertBytes, concat, idBytes, toHex, tryDecodeUtf8, utf8 } from './bytes';
import { hkdf, hmacSha256Sync, x25519PublicKey } from './primitives';
import { asNodeSecret, KEY_BYTES, type NodeSecret } from './keys';
import { ID_BYTES, randomId, vaultInternals, type Vault } from './account';
import { openAead, openHpke, RecordType, sealAead, sealHpke } from './record';
import { pad, unpad } from './padding';
import { randomBytes } from './random';

const EMPTY = new Uint8Array(0);
const ROOT_PARENT = new Uint8Array(ID_BYTES); // format §5.1: root binding is nodeId || 16 zero bytes

export interface NodeKeys {
  readonly nodeId: string;
  readonly secret: NodeSecret;
  /** The folder's X25519 public key (computed on first use). */
  readonly folderPublicKey: Uint8Array;
}

/** Keys derived from a node secret (format §5.2), each computed on first use and cached. */
interface NodeInternals {
  idBytes: Uint8Array;
  metaKey(): Uint8Array;
  manifestKey(): Uint8Array;
  folderPrivateKey(): Uint8Array;
  nameKey(): Uint8Array;
}

const internals = new WeakMap<NodeKeys, NodeInternals>();

export function nodeInternals(node: NodeKeys, name = 'node'): NodeInternals {
  const n = typeof node === 'object' && node !== null ? internals.get(node) : undefined;
  if (!n) throw new TypeError(`${name} must be NodeKeys returned by nodeKeys`);
  return n;
}

function lazy(f: () => Uint8Array): () => Uint8Array {
  let v: Uint8Array | undefined;
  return () => (v ??= f());
}

export function newNode(): { nodeId: string; secret: NodeSecret } {
  return { nodeId: randomId(), secret: asNodeSecret(randomBytes(KEY_BYTES)) };
}

// format §5.2 labels
const L_META = utf8('coffer/v1/node/meta');
const L_MANIFEST = utf8('coffer/v1/node/manifest');
const L_X25519 = utf8('coffer/v1/node/x25519');
const L_NAME = utf8('coffer/v1/node/name');

export async function nodeKeys(nodeId: string, secret: NodeSecret): Promise<NodeKeys> {
  const id = idBytes('nodeId', nodeId, ID_BYTES);
  assertBytes('secret', secret, KEY_BYTES);
  const derive = (label: Uint8Array) => lazy(() => hkdf(secret, EMPTY, label, 32)); // format §5.2
  const folderPrivateKey = derive(L_X25519);
  const folderPublicKey = lazy(() => x25519PublicKey(folderPrivateKey()));
  const keys: NodeKeys = Object.freeze({
    nodeId,
    secret,
    get folderPublicKey() {
      return folderPublicKey();
    },
  });
  internals.set(keys, {
    idBytes: id,
    metaKey: derive(L_META),
    manifestKey: derive(L_MANIFEST),
    folderPrivateKey,
    nameKey: derive(L_NAME),
  });
  return keys;
}

const WRAP_LABEL = utf8('coffer/v1/wrap/node'); // format §5.1

function wrapContext(nodeId: string, parent: NodeKeys | null): Uint8Array {
  const id = idBytes('nodeId', nodeId, ID_BYTES);
  const parentId = parent === null ? ROOT_PARENT : nodeInternals(parent, 'parent').idBytes;
  return concat(WRAP_LABEL, id, parentId);
}

/** Wraps a node secret to its parent folder, or for the root (parent = null) to the account key (format §5.1). */
export async function wrapNodeSecret(secret: NodeSecret, nodeId: string, parent: NodeKeys | null, vault: Vault): Promise<Uint8Array> {
  assertBytes('secret', secret, KEY_BYTES);
  const context = wrapContext(nodeId, parent);
  if (parent === null) vaultInternals(vault); // the root goes to the account key: vault must be real
  const recipient = parent === null ? vault.accountPublicKey : parent.folderPublicKey;
  return sealHpke(recipient, context, secret, true); // folder/account public keys: stable arrays
}

/** `vault` is needed only for the root (parent = null); share recipients pass null. */
export async function unwrapNodeSecret(record: Uint8Array, nodeId: string, parent: NodeKeys | null, vault: Vault | null): Promise<NodeSecret> {
  assertBytes('record', record);
  const context = wrapContext(nodeId, parent);
  let privateKey: Uint8Array;
  if (parent !== null) privateKey = nodeInternals(parent, 'parent').folderPrivateKey();
  else if (vault !== null) privateKey = vaultInternals(vault).accountPrivateKey;
  else throw new TypeError('vault is required to unwrap the root (parent = null)');
  // Folder and account private keys are derived here and never handed out: safe to cache.
  const secret = await openHpke(privateKey, context, record, true);
  if (secret.length !== KEY_BYTES) fail('INVALID_KEY', 'wrapped node secret has the wrong length');
  return asNodeSecret(secret);
}

// ---- metadata (format §5.3) ----

export interface Metadata { name: string; mime: string; size: number; mtime: number }

const MAX_NAME_BYTES = 255;

/** Returns the NFC form of a valid name, or throws METADATA_INVALID (format §5.3). */
export function validateName(name: string): string {
  if (typeof name !== 'string') fail('METADATA_INVALID', 'name must be a string');
  const nfc = name.normalize('NFC');
  const bytes = utf8(nfc).length;
  if (bytes < 1 || bytes > MAX_NAME_BYTES) fail('METADATA_INVALID', 'name must be 1–255 UTF-8 bytes');
  if (nfc.includes('/') || nfc.includes('\0')) fail('METADATA_INVALID', "name must not contain '/' or NUL");
  if (nfc === '.' || nfc === '..') fail('METADATA_INVALID', "name must not be '.' or '..'");
  return nfc;
}

const META_MEMBERS = ['name', 'mime', 'size', 'mtime'];

/** Strict check of the decoded JSON: exactly four members of the right types, name already NFC. */
function checkMetadata(value: unknown): Metadata {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('METADATA_INVALID', 'metadata must be an object');
  const keys = Object.keys(value);
  if (keys.length !== META_MEMBERS.length || !META_MEMBERS.every((k) => keys.includes(k))) {
    fail('METADATA_INVALID', 'metadata must have exactly name, mime, size, mtime');
  }
  const m = value as Record<string, unknown>;
  if (typeof m.name !== 'string' || validateName(m.name) !== m.name) fail('METADATA_INVALID', 'name is not a valid NFC name');
  if (typeof m.mime !== 'string') fail('METADATA_INVALID', 'mime must be a string');
  if (!Number.isSafeInteger(m.size) || (m.size as number) < 0) fail('METADATA_INVALID', 'size must be an integer ≥ 0');
  if (!Number.isSafeInteger(m.mtime)) fail('METADATA_INVALID', 'mtime must be an integer');
  return { name: m.name, mime: m.mime, size: m.size as number, mtime: m.mtime as number };
}

const META_LABEL = utf8('coffer/v1/meta');
const metaContext = (id: Uint8Array) => concat(META_LABEL, id); // format §2

export async function sealMetadata(node: NodeKeys, meta: Metadata): Promise<Uint8Array> {
  const n = nodeInternals(node);
  if (typeof meta !== 'object' || meta === null) throw new TypeError('meta must be Metadata');
  const clean = checkMetadata({ name: validateName(meta.name), mime: meta.mime, size: meta.size, mtime: meta.mtime });
  const body = pad(utf8(JSON.stringify(clean)));
  return sealAead(RecordType.metadata, n.metaKey(), metaContext(n.idBytes), body);
}

export async function openMetadata(node: NodeKeys, record: Uint8Array): Promise<Metadata> {
  const n = nodeInternals(node);
  assertBytes('record', record);
  const body = await openAead(RecordType.metadata, n.metaKey(), metaContext(n.idBytes), record);
  const text = tryDecodeUtf8(unpad(body));
  if (text === null) fail('METADATA_INVALID', 'metadata is not UTF-8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    fail('METADATA_INVALID', 'metadata is not JSON');
  }
  return checkMetadata(value);
}

/** hex(HMAC(parentNameKey, NFC(name))) (format §5.3). */
export async function nameHash(parent: NodeKeys, name: string): Promise<string> {
  const n = nodeInternals(parent, 'parent');
  return toHex(hmacSha256Sync(n.nameKey(), utf8(validateName(name))));
}

// ---- listing a folder: every child's wrap and metadata at once ----

export interface ChildRecord { nodeId: string; wrap: Uint8Array; metadata: Uint8Array }
export type OpenedChild =
  | { nodeId: string; keys: NodeKeys; metadata: Metadata; error?: undefined }
  | { nodeId: string; keys?: undefined; metadata?: undefined; error: CofferCryptoError };

const DEFAULT_LIST_CONCURRENCY = 32;

/**
 * Opens the children of one folder: for each, unwrapNodeSecret (format §5.1) + nodeKeys +
 * openMetadata (§5.3), `concurrency` children in flight so the WebCrypto calls of different
 * children overlap. Results are in input order. A child whose records fail (tampered, wrong
 * parent) gets `error` (a CofferCryptoError) and does not fail the others; misuse (not NodeKeys,
 * a malformed id or argument) rejects the whole call with TypeError / RangeError.
 */
export async function openChildren(
  parent: NodeKeys, children: readonly ChildRecord[], opts?: { concurrency?: number },
): Promise<OpenedChild[]> {
  nodeInternals(parent, 'parent');
  if (!Array.isArray(children)) throw new TypeError('children must be an array of { nodeId, wrap, metadata }');
  const concurrency = opts?.concurrency ?? DEFAULT_LIST_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 1024) throw new RangeError('opts.concurrency must be an integer from 1 to 1024');
  children.forEach((c, i) => {
    if (typeof c !== 'object' || c === null) throw new TypeError(`children[${i}] must be { nodeId, wrap, metadata }`);
    idBytes(`children[${i}].nodeId`, c.nodeId, ID_BYTES);
    assertBytes(`children[${i}].wrap`, c.wrap);
    assertBytes(`children[${i}].metadata`, c.metadata);
  });
  const out = new Array<OpenedChild>(children.length);
  let next = 0;
  const worker = async () => {
    while (next < children.length) {
      const i = next++;
      const c = children[i]!;
      try {
        const keys = await nodeKeys(c.nodeId, await unwrapNodeSecret(c.wrap, c.nodeId, parent, null));
        out[i] = { nodeId: c.nodeId, keys, metadata: await openMetadata(keys, c.metadata) };
      } catch (e) {
        if (!(e instanceof CofferCryptoError)) throw e;
        out[i] = { nodeId: c.nodeId, error: e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, children.length) }, worker));
  return out;
}
