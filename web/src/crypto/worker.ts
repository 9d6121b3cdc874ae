/// <reference lib="webworker" />
// The crypto worker. It alone holds key material (vault, node secrets) and does every
// encryption, decryption and the byte-heavy HTTP (chunks). The page talks to it only through
// src/crypto/facade.ts. Locking terminates this worker, which drops every key at once.
import {
  BufferPool,
  CHUNK_PARAMS,
  chunkIdOf,
  CofferCryptoError,
  createLink,
  decodeKdfParams,
  decryptStream,
  derivePassphraseKeys,
  encodeKdfParams,
  encryptStream,
  fromBase64Url,
  fromHex,
  linkChallengeResponse,
  linkKeys,
  localCacheKey,
  nameHash,
  newAccount,
  newKdfParams,
  newNode,
  newRecoveryCode,
  nodeKeys,
  openLinkPayload,
  openDeviceName,
  openManifest,
  openMetadata,
  openSlot,
  openVault,
  recoveryKeys,
  sealDeviceName,
  sealManifest,
  sealMetadata,
  sealSlot,
  setCryptoBackend,
  storedLengthOf,
  toBase64Url,
  toHex,
  unwrapNodeSecret,
  validateName,
  wrapNodeSecret,
  type Manifest,
  type ManifestEntry,
  type Metadata,
  type NodeKeys,
  type NodeSecret,
  type Vault,
} from '@coffer/crypto-core';
import { api, apiBytes, ApiError, session } from '../http';
import { prepareArgon2id, prepareArgon2idMemory } from './argon2';
import type { DhReply, DhRequest } from './dh-worker';
import { childPath, childPaths, zipArchive, type ZipItem } from './zip';
import type {
  DownloadProgress, DownloadStream, Entry, InterruptedUpload, KeptLinkAccess, LinkInfo, LinkOptions, ListingStats, Method, SessionInfo, SignupResult, UploadProgress, WorkerApi,
} from './types';

declare const self: DedicatedWorkerGlobalScope;

// Fetch and compile the Argon2id wasm now, while the user is still typing the passphrase.
void prepareArgon2id();

// ---- state (never leaves this worker) ---------------------------------------------------------

interface ServerNode {
  id: string; parentId: string | null; kind: 'file' | 'folder'; nameHash: string; wrappedKey: string;
  metadata: string; version: number; size: number; createdAt: string | number; updatedAt: string | number;
  trashedAt: string | number | null;
}
interface Known { keys: NodeKeys; meta: Metadata; node: ServerNode }

let vault: Vault | null = null;
let rootId: string | null = null;
const known = new Map<string, Known>();
/** Link mode (public receive page): the link id prefixes every path; no vault. */
let link: { linkId: string; rootNodeId: string; keys: NodeKeys } | null = null;
/**
 * Plaintext sizes of file versions by `${nodeId}/${version}`, for the versions panel. A version never
 * changes once made, so a panel refreshed by every change fetches only the manifests it lacks.
 */
const versionSizes = new Map<string, number>();
/** Manifests the versions panel fetches at a time (a file keeps up to 50 versions by default). */
const VERSION_FETCHES = 4;

const b64 = toBase64Url;
const unb64 = fromBase64Url;
const ms = (v: string | number | null | undefined): number => (v == null ? 0 : typeof v === 'number' ? v : Date.parse(v));

function needVault(): Vault {
  if (!vault) throw new ApiError('LOCKED', 'The vault is locked.', 0);
  return vault;
}

function toEntry(k: Known): Entry {
  const n = k.node;
  return {
    id: n.id, parentId: n.parentId, kind: n.kind, name: k.meta.name, mime: k.meta.mime, size: k.meta.size,
    mtime: k.meta.mtime, version: n.version ?? 0, storedSize: n.size ?? 0, updatedAt: ms(n.updatedAt),
    trashedAt: n.trashedAt ? ms(n.trashedAt) : null,
  };
}

function nodePath(id: string): string {
  return link ? `/api/public/links/${link.linkId}/nodes/${id}` : `/api/nodes/${id}`;
}
function chunkPath(chunkId: string): string {
  return link ? `/api/public/links/${link.linkId}/chunks/${chunkId}` : `/api/chunks/${chunkId}`;
}

/**
 * Decrypts one server node whose parent keys are known (or the root). `cached`: what this device
 * opened the node to before (the listing cache), used only if the node's bytes are those it was
 * opened from.
 */
async function open(node: ServerNode, cached?: CachedChild): Promise<Known> {
  let parent: NodeKeys | null = null;
  if (node.parentId && !(link && node.id === link.rootNodeId)) {
    const p = known.get(node.parentId) ?? (await ensure(node.parentId));
    parent = p.keys;
  }
  if (link && node.id === link.rootNodeId) {
    // The shared node's secret came from the link payload (format §8), not from a parent wrap.
    const k = { keys: link.keys, meta: await openMetadata(link.keys, unb64(node.metadata)), node };
    known.set(node.id, k);
    return k;
  }
  // Same wrap and metadata as already opened: nothing to decrypt again (re-opening a big folder).
  const have = known.get(node.id);
  if (have && have.node.wrappedKey === node.wrappedKey && have.node.metadata === node.metadata && have.node.parentId === node.parentId) {
    have.node = node;
    return have;
  }
  if (cached && isCachedAs(cached, node)) {
    const k = { keys: await nodeKeys(node.id, unb64(cached[4]) as NodeSecret), meta: cached[5], node };
    known.set(node.id, k);
    childrenFromCache++;
    return k;
  }
  const secret = await unwrapNodeSecret(unb64(node.wrappedKey), node.id, parent, parent ? null : needVault());
  const keys = await nodeKeys(node.id, secret);
  const meta = await openMetadata(keys, unb64(node.metadata));
  const k = { keys, meta, node };
  known.set(node.id, k);
  return k;
}

async function ensure(id: string): Promise<Known> {
  const have = known.get(id);
  if (have) return have;
  const node = await api<ServerNode>(nodePath(id));
  return open(node);
}

/** Decrypts one node for a listing; a failure becomes a placeholder entry, not a broken list. */
async function openEntry(n: ServerNode, cache?: FolderCache | null): Promise<Entry> {
  try {
    return toEntry(await open(n, cache?.get(n.id)));
  } catch (err) {
    return {
      id: n.id, parentId: n.parentId, kind: n.kind, name: '(cannot decrypt)', mime: '', size: 0, mtime: 0,
      version: n.version ?? 0, storedSize: n.size ?? 0, updatedAt: ms(n.updatedAt), trashedAt: n.trashedAt ? ms(n.trashedAt) : null,
      error: (err as { code?: string }).code ?? 'AUTH_FAILED',
    };
  }
}

/**
 * Decrypts many nodes, all in flight at once: each node is a chain of WebCrypto jobs (X25519, two
 * AES-GCM opens) that Chromium runs off this thread, so the more are queued, the less either side
 * waits. With `onBatch`, the first `first` nodes are decrypted (and sent) before the rest are
 * queued, so the first screen does not wait behind the whole page; the rest go in one message,
 * instead of many small ones the page would each merge and draw.
 */
async function openMany(nodes: ServerNode[], onBatch?: (batch: Entry[]) => void, first = 0, cache?: FolderCache | null): Promise<Entry[]> {
  const one = (n: ServerNode) => openEntry(n, cache);
  if (!onBatch) return Promise.all(nodes.map(one));
  const head = first > 0 ? await Promise.all(nodes.slice(0, first).map(one)) : [];
  if (head.length) onBatch(head);
  const tail = await Promise.all(nodes.slice(head.length).map(one));
  if (tail.length) onBatch(tail);
  return head.length ? head.concat(tail) : tail;
}

interface Account {
  accountId: string; email: string; rootNodeId: string; cursor: number; quotaBytes?: number; usedBytes?: number;
  kdf: string; slots: { passphrase: string };
}

function sessionOf(acct: Account): SessionInfo {
  session.accountId = acct.accountId; // whose keys this worker holds (http.ts: renewCsrfToken)
  return { accountId: acct.accountId, email: acct.email, rootNodeId: acct.rootNodeId, csrfToken: session.csrfToken, cursor: acct.cursor ?? 0, quotaBytes: acct.quotaBytes, usedBytes: acct.usedBytes };
}

async function session_(): Promise<SessionInfo> {
  return sessionOf(await api<Account>('/api/account'));
}

/**
 * Starts fetching the root node and the first page of its children while Argon2id runs, so the
 * vault's first screen does not wait for two more round trips after the passphrase is checked.
 * The account's sync cursor was read before these, so any change after them is replayed by sync.
 */
function prefetchRoot(rootNodeId: string): void {
  const node = api<ServerNode>(nodePath(rootNodeId));
  node.catch(() => {});
  prefetched.set(rootNodeId, { node, page: fetchChildren(rootNodeId, null), at: Date.now() });
}

/** Opens the vault with the passphrase KEK and the account fetched for this login or unlock. */
async function openAccount(passKek: Awaited<ReturnType<typeof derivePassphraseKeys>>['passKek'], acct: Account): Promise<SessionInfo> {
  let accountKey;
  try {
    accountKey = await openSlot(acct.accountId, 'passphrase', passKek, unb64(acct.slots.passphrase));
  } catch (err) {
    if (err instanceof CofferCryptoError && err.code === 'AUTH_FAILED') throw new ApiError('WRONG_PASSPHRASE', 'Wrong passphrase.', 0);
    throw err;
  }
  useVault(await openVault(acct.accountId, accountKey));
  const info = sessionOf(acct);
  rootId = info.rootNodeId;
  const pre = prefetched.get(info.rootNodeId)?.node;
  const root = pre ? await pre.catch(() => null) : null;
  if (root) await open(root);
  else await ensure(info.rootNodeId);
  return info;
}

async function listAll(path: string): Promise<ServerNode[]> {
  const all: ServerNode[] = [];
  let after: string | null = null;
  for (;;) {
    const q: string = `?limit=1000${after ? `&after=${after}` : ''}`;
    const page: { items: ServerNode[]; next: string | null } = await api(`${path}${q}`);
    all.push(...page.items);
    if (!page.next || page.items.length === 0) return all;
    after = page.next;
  }
}

type Page = { items: ServerNode[]; next: string | null };

/** Children in a folder's first listing page: its first screens, fetched and decrypted quickly. */
const FIRST_PAGE = 200;
/** The server's most children per page (docs/api.md); public link listings allow 1,000. */
const MAX_PAGE = 5000;

/**
 * Children to ask for after `got` of them: a small first page, then each page three times all
 * before it, up to MAX_PAGE (200, 600, 2,400, 5,000, ...: a 10,000-entry folder in 5 requests,
 * not 10). A page is fetched while the one before it is decrypted, and a small first page means
 * decryption, and the first rows, start sooner.
 */
function pageSize(got: number): number {
  return Math.min(link ? 1000 : MAX_PAGE, Math.max(FIRST_PAGE, got * 3));
}

function fetchChildren(folderId: string, after: string | null, got = 0): Promise<Page> {
  const p = api<Page>(`${nodePath(folderId)}/children?limit=${pageSize(got)}${after ? `&after=${after}` : ''}`);
  p.catch(() => {}); // observed when awaited
  return p;
}

/** Root node and first children page fetched during unlock (prefetchRoot), used once if fresh. */
const prefetched = new Map<string, { node: Promise<ServerNode>; page: Promise<Page>; at: number }>();

/**
 * Lists a folder page by page, decrypting each page while the next one is fetched; `onDone` hears
 * how many children came from the listing cache.
 */
async function listStreaming(folderId: string, onBatch: (batch: Entry[]) => void, onDone?: (stats: ListingStats) => void): Promise<Entry[]> {
  const pre = prefetched.get(folderId);
  prefetched.delete(folderId);
  // The cache is read once the first screenful is shown: the first page does not use it (a big
  // record takes longer to read than the first 200 children take to open), the later ones wait for
  // it. Read at once, its parsing on this thread held up the first rows (60 → 240 ms,
  // docs/benchmarks.md).
  let reading: Promise<FolderCache | null> | undefined;
  const read = () => (reading ??= readFolderCache(folderId));
  const firstScreen = (batch: Entry[]) => {
    onBatch(batch);
    void read();
  };
  await ensure(folderId);
  const hitsBefore = childrenFromCache;
  const out: Entry[] = [];
  let fetched = 0;
  let pending: Promise<Page> | null = pre && Date.now() - pre.at < 10_000
    ? pre.page.catch(() => fetchChildren(folderId, null))
    : fetchChildren(folderId, null);
  while (pending) {
    const page: Page = await pending;
    fetched += page.items.length;
    pending = page.next && page.items.length > 0 ? fetchChildren(folderId, page.next, fetched) : null;
    // The first page shows its first screenful early; later pages go in one message each.
    const first = out.length === 0;
    out.push(...(await (first ? openMany(page.items, firstScreen, 50) : openMany(page.items, onBatch, 0, await read()))));
  }
  const fromCache = childrenFromCache - hitsBefore;
  onDone?.({ fromCache });
  // Kept (again) where it saves enough, unless it holds exactly these children already.
  const opened = out.flatMap((e) => {
    const k = e.error ? undefined : known.get(e.id);
    return k ? [k] : [];
  });
  const held = await read();
  if (opened.length >= CACHE_MIN_CHILDREN && !(held?.size === opened.length && opened.every((k) => isCachedAs(held.get(k.node.id), k.node)))) {
    // After the answer has gone: building and sealing the record of a big folder takes ~0.1 s.
    setTimeout(() => void writeFolderCache(folderId, opened), 0);
  }
  return out;
}

// ---- the listing cache (format §4.5) ----------------------------------------------------------
// Opening a child costs an X25519 and two AES-GCM opens (~0.2 ms here): two seconds for a folder
// of 10,000. What the children of a big folder opened to (node secret and metadata) is kept in
// IndexedDB, sealed under a key derived from the account key, so it is readable only with the vault
// unlocked. A child is taken from it only while its wrapped key, metadata and parent are byte for
// byte those it was opened from; anything else is opened as without a cache. An unreadable record is
// ignored. Logging out deletes the cache.

const CACHE_DB = 'coffer-cache';
/** Folders with fewer children open fast enough without. */
const CACHE_MIN_CHILDREN = 200;
/** id, parentId, wrappedKey, metadata (as the server sent them), node secret (base64url), metadata opened. */
type CachedChild = [string, string | null, string, string, string, Metadata];
type FolderCache = Map<string, CachedChild>;

/** Whether the server lists the node exactly as it was when `c` was kept. */
function isCachedAs(c: CachedChild | undefined, node: ServerNode): c is CachedChild {
  return c !== undefined && c[1] === node.parentId && c[2] === node.wrappedKey && c[3] === node.metadata;
}

/** Nodes taken from the cache since this worker started. */
let childrenFromCache = 0;

async function readFolderCache(folderId: string): Promise<FolderCache | null> {
  const v = vault;
  if (!v || link || !cacheKey) return null;
  try {
    const rec = await idbRequest<SealedRecord | undefined>(CACHE_DB, 'folders', 'readonly', (s) => s.get(`${v.accountId}:${folderId}`));
    if (!rec) return null;
    const parsed = await openLocal<{ v: number; children: CachedChild[] }>(rec, localAd('coffer/v1/local-cache/folder', v.accountId, folderId));
    return parsed.v === 1 ? new Map(parsed.children.map((c) => [c[0], c])) : null;
  } catch {
    return null; // no IndexedDB, or a record altered or from elsewhere: open every child
  }
}

async function writeFolderCache(folderId: string, children: Known[]): Promise<void> {
  const v = vault;
  if (!v || link || !cacheKey) return;
  try {
    const rows: CachedChild[] = children.map((k) => [k.node.id, k.node.parentId, k.node.wrappedKey, k.node.metadata, b64(k.keys.secret), k.meta]);
    const rec = await sealLocal({ v: 1, children: rows }, localAd('coffer/v1/local-cache/folder', v.accountId, folderId));
    await idbRequest(CACHE_DB, 'folders', 'readwrite', (s) => s.put(rec, `${v.accountId}:${folderId}`));
  } catch {
    /* a cache only: the next listing opens every child */
  }
}

// ---- what this browser keeps: IndexedDB, sealed under the local cache key (format §4.5) -------

let cacheKey: Promise<CryptoKey> | null = null;

function useVault(v: Vault): void {
  vault = v;
  registerDevice(v);
  const raw = localCacheKey(v);
  cacheKey = crypto.subtle.importKey('raw', raw as Uint8Array<ArrayBuffer>, 'AES-GCM', false, ['encrypt', 'decrypt']);
  cacheKey.catch(() => {});
  raw.fill(0);
}

interface SealedRecord { iv: Uint8Array; data: ArrayBuffer }

/** The associated data of a sealed record: `label || id[16] || ...` (ids in hex). */
function localAd(label: string, ...ids: string[]): Uint8Array<ArrayBuffer> {
  const head = new TextEncoder().encode(label);
  const ad = new Uint8Array(head.length + 16 * ids.length);
  ad.set(head);
  ids.forEach((id, i) => ad.set(fromHex(id), head.length + 16 * i));
  return ad;
}

/** `value` as JSON, sealed with AES-256-GCM under the local cache key. */
async function sealLocal(value: unknown, ad: Uint8Array<ArrayBuffer>): Promise<SealedRecord> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const plain = new TextEncoder().encode(JSON.stringify(value));
  const data = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: ad }, await cacheKey!, plain);
  plain.fill(0);
  return { iv, data };
}

/** Opens a record of sealLocal; throws if it was altered or sealed for something else. */
async function openLocal<T>(rec: SealedRecord, ad: Uint8Array<ArrayBuffer>): Promise<T> {
  const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: rec.iv as Uint8Array<ArrayBuffer>, additionalData: ad }, await cacheKey!, rec.data);
  return JSON.parse(new TextDecoder().decode(plain)) as T;
}

/** Opens IndexedDB database `name`, made with its one object store `store`. */
function openDb(name: string, store: string): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const r = indexedDB.open(name, 1);
    r.onupgradeneeded = () => r.result.createObjectStore(store);
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

/** Runs one request on `store` of database `name`, then closes it. */
async function idbRequest<T>(name: string, store: string, mode: IDBTransactionMode, f: (s: IDBObjectStore) => IDBRequest): Promise<T> {
  const db = await openDb(name, store);
  try {
    return await new Promise<T>((resolve, reject) => {
      const req = f(db.transaction(store, mode).objectStore(store));
      req.onsuccess = () => resolve(req.result as T);
      req.onerror = () => reject(req.error);
    });
  } finally {
    db.close();
  }
}

/** Every record of `store` in database `name`, as [key, value]. */
async function idbEntries(name: string, store: string): Promise<[string, unknown][]> {
  const db = await openDb(name, store);
  try {
    return await new Promise((resolve, reject) => {
      const out: [string, unknown][] = [];
      const req = db.transaction(store).objectStore(store).openCursor();
      req.onsuccess = () => {
        const c = req.result;
        if (!c) return resolve(out);
        out.push([String(c.key), c.value]);
        c.continue();
      };
      req.onerror = () => reject(req.error);
    });
  } finally {
    db.close();
  }
}

// ---- this browser as a device of the account (format §4.3, §4.4) ------------------------------

// The web vault registers each browser profile as a device of the account, the first time it opens
// the vault there: a random id, an X25519 key pair made by WebCrypto with a private key that cannot
// be exported (kept as a CryptoKey in IndexedDB `coffer-device`, store `devices`, key accountId),
// and a name sealed under the account key. Versions saved here carry that id, so every device's
// history panel can say which browser made them. Nothing kept here opens the vault: it stays after
// a log-out, so that a browser is one device, not one per log-in.
const DEVICE_DB = 'coffer-device';
interface DeviceRecord { deviceId: string; privateKey: CryptoKey; publicKey: Uint8Array }
let thisDevice: Promise<string | null> = Promise.resolve(null);

/** "Chrome on Linux" and the like, from the user agent; the user never typed it. */
function browserLabel(ua = navigator.userAgent): string {
  const browser = /Edg\//.test(ua) ? 'Edge' : /Firefox\//.test(ua) ? 'Firefox' : /Chromium\//.test(ua) ? 'Chromium'
    : /Chrome\//.test(ua) ? 'Chrome' : /Safari\//.test(ua) ? 'Safari' : 'a browser';
  const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iOS' : /CrOS/.test(ua) ? 'ChromeOS'
    : /Windows/.test(ua) ? 'Windows' : /Mac OS X/.test(ua) ? 'macOS' : /Linux/.test(ua) ? 'Linux' : '';
  return os ? `${browser} on ${os}` : browser;
}

/**
 * Starts making sure this browser is a registered device of the open account, in the background:
 * unlocking never waits for it. A commit waits for it, and goes without a device id if it failed.
 * Every tab of the profile shares the kept record, so finding or making it holds a Web Lock for the
 * account: of two tabs opening the vault at once, the second waits, then finds the first's record,
 * instead of both finding none and registering two devices.
 */
function registerDevice(v: Vault): void {
  const locks = (navigator as { locks?: LockManager }).locks; // missing before Safari 15.4
  const find = () => keptOrNewDevice(v);
  // request() resolves with what its callback's promise resolves with (TypeScript's lib says the
  // promise). A tab whose request hangs holds the lock: after DEVICE_LOCK_WAIT_MS the others go
  // ahead without it, at worst registering a second device, as every tab did before the lock.
  const found = locks
    ? (locks.request(`coffer-device:${v.accountId}`, { signal: AbortSignal.timeout(DEVICE_LOCK_WAIT_MS) }, find) as unknown as Promise<string>)
      .catch((err: unknown) => {
        if (err instanceof DOMException && err.name === 'TimeoutError') return find();
        throw err;
      })
    : find();
  thisDevice = found.catch(() => null);
}

/** How long a tab waits for another tab's device registration before it goes ahead alone. */
const DEVICE_LOCK_WAIT_MS = 15_000;

/** The device this browser keeps for the account, if the server still has it; else a new one. */
async function keptOrNewDevice(v: Vault): Promise<string> {
  const kept = await idbRequest<DeviceRecord | undefined>(DEVICE_DB, 'devices', 'readonly', (s) => s.get(v.accountId));
  if (kept && await stillRegistered(kept.deviceId)) {
    // The session learns which device it belongs to, so that removing the device ends it; a server
    // that does not take it costs only that (POST /api/devices below tells it as well).
    await api('/api/auth/sessions/current/device', { method: 'PUT', json: { deviceId: kept.deviceId } }).catch(() => {});
    return kept.deviceId;
  }
  const pair = await crypto.subtle.generateKey({ name: 'X25519' }, false, ['deriveBits']) as CryptoKeyPair;
  const publicKey = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
  const deviceId = toHex(crypto.getRandomValues(new Uint8Array(16)));
  const name = await sealDeviceName(v, deviceId, `Web vault · ${browserLabel()}`);
  await api('/api/devices', { json: { deviceId, publicKey: b64(publicKey), name: b64(name) } });
  const record: DeviceRecord = { deviceId, privateKey: pair.privateKey, publicKey };
  await idbRequest(DEVICE_DB, 'devices', 'readwrite', (s) => s.put(record, v.accountId));
  return deviceId;
}

/** False only when the server says the device is gone (removed from the account): it registers anew. */
async function stillRegistered(deviceId: string): Promise<boolean> {
  try {
    await api(`/api/devices/${deviceId}`);
    return true;
  } catch (err) {
    return !(err instanceof ApiError && err.status === 404); // offline, say: the id stands
  }
}

/** This browser's device id for a commit, or nothing when it could not be registered. */
async function deviceField(): Promise<{ deviceId?: string }> {
  const deviceId = await thisDevice;
  return deviceId ? { deviceId } : {};
}

async function sha256b64(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  let s = '';
  for (const b of d) s += String.fromCharCode(b);
  return btoa(s);
}

// ---- uploads: control (pause / resume / cancel) ----------------------------------------------

interface Control {
  paused: boolean;
  cancelled: boolean;
  /** Aborts the upload's requests under way once it is cancelled: a held-up request must not hold the cancel. */
  abort: AbortController;
  /** Requests sent and not yet answered: a pause is complete only once none are. */
  sending: number;
  /** Gates waiting for resume or cancel (every one is woken, not only the last). */
  waiting: (() => void)[];
  /** Told of each pause, resume and cancel, and of a request failing while paused. */
  changed: () => void;
}
const controls = new Map<number, Control>();

const cancelled = () => new ApiError('CANCELLED', 'Cancelled.', 0);

async function gate(c: Control): Promise<void> {
  while (c.paused && !c.cancelled) await new Promise<void>((r) => c.waiting.push(r));
  if (c.cancelled) throw cancelled();
}

/** Waits `ms`, or less if `signal` aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}

/**
 * Sends one request of an upload or download, again after a transient failure (the network gone, 429, 502,
 * 503, 504: a blip heals without the user), waiting 0.5, 1, 2 and 4 s (or Retry-After). For an
 * upload (`c`), no attempt starts while it is paused, and a cancel aborts the attempt under way
 * (`send` gets the signal) or the wait. Then the error stands: an upload fails, keeping its resume
 * record, and Retry continues it; a download fails, its partial file discarded.
 */
const RETRY_DELAYS_MS = [500, 1000, 2000, 4000];
async function retrying<T>(c: Control | null, send: (signal?: AbortSignal) => Promise<T>, failed: () => boolean = () => false): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    if (c) await gate(c);
    let failure: unknown;
    if (c) c.sending++;
    try {
      return await send(c?.abort.signal);
    } catch (err) {
      failure = err;
    } finally {
      if (c) c.sending--;
    }
    if (c?.cancelled) throw cancelled(); // aborted, or failed as it was
    const err = failure;
    const transient = err instanceof ApiError && (err.code === 'UNREACHABLE' || [429, 502, 503, 504].includes(err.status));
    if (!transient || attempt >= RETRY_DELAYS_MS.length) throw err;
    if (c?.paused && c.sending === 0) c.changed(); // the last request of a pause ended: it is complete
    const wait = err.retryAfter ? Math.min(err.retryAfter * 1000, 30_000) : RETRY_DELAYS_MS[attempt]!;
    await sleep(wait * (0.8 + Math.random() * 0.4), c?.abort.signal);
    if (failed()) throw err; // the upload failed meanwhile (another request gave up): no more sending
  }
}

// Resume after reload: uploads in progress (IndexedDB), each record sealed under the local cache
// key (format §4.5) so the browser keeps no file name, size or date in the clear. Records are
// found by opening those of the account: a browser holds a few at most.
const UPLOADS_DB = 'coffer-uploads';
/** One request on the resume store; persistence is best-effort. */
function idbDo<T>(mode: IDBTransactionMode, f: (s: IDBObjectStore) => IDBRequest): Promise<T | undefined> {
  return idbRequest<T>(UPLOADS_DB, 'uploads', mode, f).catch(() => undefined);
}

type Pending = Omit<InterruptedUpload, 'key'>;
interface UploadRecord extends SealedRecord { accountId: string }

/** The account's interrupted uploads this browser keeps; records from before sealing are deleted. */
async function pendingUploads(): Promise<InterruptedUpload[]> {
  const v = vault;
  if (!v || !cacheKey) return [];
  const out: InterruptedUpload[] = [];
  const records = await idbEntries(UPLOADS_DB, 'uploads').catch(() => []);
  for (const [id, value] of records) {
    const rec = value as Partial<UploadRecord>;
    if (!(rec.data instanceof ArrayBuffer) || !(rec.iv instanceof Uint8Array)) {
      await idbDo('readwrite', (s) => s.delete(id)); // written before records were sealed: names in the clear
      continue;
    }
    if (rec.accountId !== v.accountId) continue;
    try {
      out.push({ ...(await openLocal<Pending>(rec as UploadRecord, localAd('coffer/v1/local-upload', v.accountId))), key: id });
    } catch {
      /* not readable with this vault's key: left alone */
    }
  }
  return out;
}

/** Keeps `p` under `id` (a new random id when none). */
async function savePending(p: Pending, id: string | null): Promise<string> {
  const v = needVault();
  const recordId = id ?? `${v.accountId}:${b64(crypto.getRandomValues(new Uint8Array(16)))}`;
  const sealed = await sealLocal(p, localAd('coffer/v1/local-upload', v.accountId));
  await idbDo('readwrite', (s) => s.put({ accountId: v.accountId, ...sealed } satisfies UploadRecord, recordId));
  return recordId;
}

// The chunks of an upload that the server holds, in file order from the start of the file, kept
// beside the upload's resume record: an upload resumed after a reload chunks, seals and checks the
// file only from where they end, as the CLI's put journal does (desktop-agent/src/put-journal.ts);
// the kept chunks are only hashed again (stillHeld). Keyed FastCDC cuts depend only on the bytes
// since the previous cut (format §6.1), so chunking the rest from there finds the cuts a whole run
// would. Each group of chunks is written once, as the in-order prefix grows, under
// `<record id>#<seq>` and sealed with the upload's id in its associated data: {from: the index of
// its first chunk, chunks: [chunkId, chunkKey, plainLength][]}. The chunk keys are as secret as the
// node secrets of the folder cache beside them. Files under HELD_MIN_BYTES keep no journal: sending
// them again whole costs less than keeping it.
const HELD_DB = 'coffer-upload-chunks';
const HELD_MIN_BYTES = 16 * 1024 * 1024;
type HeldChunk = [chunkId: string, chunkKey: string, plainLength: number];
interface HeldGroup { from: number; chunks: HeldChunk[] }

const heldRange = (recordId: string) => IDBKeyRange.bound(`${recordId}#`, `${recordId}#\uffff`);
const heldAd = (accountId: string, uploadId: string) => localAd('coffer/v1/local-upload-chunks', accountId, uploadId);

/** Bytes that resumed uploads took from their journal, neither chunked nor sealed again, since this worker started (tests read it). */
let resumedBytes = 0;
Object.defineProperty(self, 'resumedBytes', { get: () => resumedBytes });

/** The chunks recorded for upload `uploadId` under `recordId`, in order up to the first gap; none if any is unusable. */
async function readHeld(recordId: string, uploadId: string, fileSize: number): Promise<ManifestEntry[]> {
  const v = needVault();
  const records = await idbRequest<SealedRecord[]>(HELD_DB, 'chunks', 'readonly', (s) => s.getAll(heldRange(recordId))).catch(() => []);
  const out: ManifestEntry[] = [];
  let offset = 0;
  for (const rec of records) {
    let group: HeldGroup;
    try {
      group = await openLocal<HeldGroup>(rec, heldAd(v.accountId, uploadId));
    } catch {
      break; // from another upload under this record (one that expired), or altered
    }
    if (group.from !== out.length) break; // a group lost in a crash: the rest are read again
    for (const [chunkId, key, plainLength] of group.chunks) {
      if (!/^[0-9a-f]{64}$/.test(chunkId) || !Number.isSafeInteger(plainLength) || plainLength < 1
        || plainLength > CHUNK_PARAMS.max || offset + plainLength > fileSize) return [];
      out.push({ chunkId, chunkKey: fromBase64Url(key), plainLength, storedLength: storedLengthOf(plainLength) });
      offset += plainLength;
    }
  }
  return out;
}

/** Forgets the chunks recorded under `recordId`. */
async function forgetHeld(recordId: string): Promise<void> {
  await idbRequest(HELD_DB, 'chunks', 'readwrite', (s) => s.delete(heldRange(recordId))).catch(() => {});
}

/**
 * How many of the recorded chunks the file picked again still holds where they were, from the
 * first on. Its name, size and modification time matched, but a browser offers nothing that a
 * rewrite must change, so each chunk is read and its keyed id computed again: cheaper than
 * chunking and sealing it again, and a file rewritten in place never mixes old bytes into the
 * version. Ends at the first chunk that differs: the ones before it still end at cut points.
 */
async function stillHeld(v: Vault, file: File, held: readonly ManifestEntry[], ctl: Control, progress: (bytes: number) => void): Promise<number> {
  const end = held.reduce((n, e) => n + e.plainLength, 0);
  // One stream over the kept part (reading slice by slice is slower in Chromium), each chunk
  // gathered in one of two buffers: one is hashed while the other fills.
  const reader = file.slice(0, end).stream().getReader();
  const buffers = [new Uint8Array(CHUNK_PARAMS.max), new Uint8Array(CHUNK_PARAMS.max)];
  let previous: Promise<boolean> = Promise.resolve(true);
  let which = 0;
  let filled = 0;
  let done = 0;
  let i = 0;
  try {
    while (i < held.length) {
      const { value, done: ended } = await reader.read();
      if (ended) return Math.max(0, i - 1 + Number(await previous)); // the file is shorter than its size said
      for (let at = 0; at < value.length && i < held.length; ) {
        const e = held[i]!;
        const take = Math.min(e.plainLength - filled, value.length - at);
        buffers[which]!.set(value.subarray(at, at + take), filled);
        filled += take;
        at += take;
        if (filled < e.plainLength) continue;
        if (!(await previous)) return i - 1;
        await gate(ctl);
        if (i > 0) progress((done += held[i - 1]!.plainLength));
        previous = chunkIdOf(v, buffers[which]!.subarray(0, filled)).then((id) => id === e.chunkId);
        which ^= 1;
        filled = 0;
        i++;
      }
    }
    return (await previous) ? held.length : held.length - 1;
  } finally {
    void reader.cancel().catch(() => {});
  }
}

/** Whether version `version` of the file lists exactly these chunks, in order (a lost answer counts as no). */
async function holdsSameChunks(nodeId: string, version: number, chunks: readonly ManifestEntry[]): Promise<boolean> {
  const current = await api<{ chunkIds: string[] }>(`${nodePath(nodeId)}/versions/${version}`).catch(() => null);
  return current !== null && current.chunkIds.length === chunks.length && chunks.every((c, i) => c.chunkId === current.chunkIds[i]);
}

/** Whether upload `uploadId` holds every chunk of `held` (asking also keeps them from collection). */
async function uploadHolds(uploadId: string, held: readonly ManifestEntry[]): Promise<boolean> {
  const ids = [...new Set(held.map((e) => e.chunkId))];
  for (let i = 0; i < ids.length; i += 1000) {
    const { missing } = await api<{ missing: string[] }>('/api/chunks/check', { json: { uploadId, ids: ids.slice(i, i + 1000) } });
    if (missing.length > 0) return false;
  }
  return true;
}

/**
 * Records an upload's chunks as the in-order prefix that the server holds grows; best-effort. At
 * most one write every HELD_WRITE_GAP_MS, on one connection to the database: each write is work
 * for the browser's own process, and a write a second carries most of a second's chunks.
 */
const HELD_WRITE_GAP_MS = 1000;
class HeldJournal {
  readonly #key: (seq: number) => string;
  readonly #ad: Uint8Array<ArrayBuffer>;
  #db: Promise<IDBDatabase> | null = null;
  #seq = 0;
  #recorded = 0;
  #waiting: HeldChunk[] = [];
  #writing: Promise<void> | null = null;
  #lastWrite = -Infinity;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #stopped = false;

  constructor(recordId: string, accountId: string, uploadId: string) {
    this.#key = (seq) => `${recordId}#${String(seq).padStart(10, '0')}`;
    this.#ad = heldAd(accountId, uploadId);
  }

  add(entries: readonly ManifestEntry[]): void {
    for (const e of entries) this.#waiting.push([e.chunkId, toBase64Url(e.chunkKey), e.plainLength]);
    this.#write(false);
  }

  // One write at a time; what arrives meanwhile goes in the next group.
  #write(now: boolean): void {
    if (this.#writing || this.#stopped || this.#waiting.length === 0) return;
    const wait = this.#lastWrite + HELD_WRITE_GAP_MS - performance.now();
    if (!now && wait > 0) {
      this.#timer ??= setTimeout(() => {
        this.#timer = null;
        this.#write(false);
      }, wait);
      return;
    }
    const group: HeldGroup = { from: this.#recorded, chunks: this.#waiting };
    const key = this.#key(this.#seq++);
    this.#waiting = [];
    this.#recorded += group.chunks.length;
    this.#db ??= openDb(HELD_DB, 'chunks');
    this.#writing = (async () => {
      const sealed = await sealLocal(group, this.#ad);
      const db = await this.#db!;
      await new Promise<void>((resolve, reject) => {
        const tx = db.transaction('chunks', 'readwrite');
        tx.objectStore('chunks').put(sealed, key);
        tx.oncomplete = () => resolve();
        tx.onerror = tx.onabort = () => reject(tx.error);
      });
    })().then(
      () => {
        this.#lastWrite = performance.now();
        this.#writing = null;
        this.#write(false);
      },
      () => {
        this.#writing = null;
        this.#stopped = true; // a group missing: later ones could not be used
      },
    );
  }

  /**
   * Ends the journal: with `flush`, after writing what waits (an upload that failed, to resume
   * later); otherwise dropping it (the upload is done or cancelled, and its groups go).
   */
  async close(flush: boolean): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    while (this.#writing) await this.#writing;
    if (flush) this.#write(true);
    this.#stopped = true;
    while (this.#writing) await this.#writing;
    if (this.#db) (await this.#db.catch(() => null))?.close();
    this.#db = null;
  }
}

// ---- the API ---------------------------------------------------------------------------------

type Emit = (v: unknown) => void;
type Impl = { [K in Method]: (this: { emit: Emit; callId: number }, ...args: Parameters<WorkerApi[K]>) => Promise<ReturnType<WorkerApi[K]>> | ReturnType<WorkerApi[K]> };

const impl: Impl = {
  setSession(csrfToken) {
    session.csrfToken = csrfToken;
  },

  async prepareKdf() {
    await prepareArgon2id();
    prepareArgon2idMemory();
  },

  async signup(email, passphrase): Promise<SignupResult> {
    const kdf = newKdfParams();
    const { loginKey, passKek } = await derivePassphraseKeys(passphrase, kdf);
    const { accountId, accountKey } = newAccount();
    const v = await openVault(accountId, accountKey);
    const passSlot = await sealSlot(v, 'passphrase', passKek);
    const recoveryCode = newRecoveryCode();
    const rk = await recoveryKeys(recoveryCode);
    const recSlot = await sealSlot(v, 'recovery', rk.kek);
    const root = newNode();
    const rootKeys = await nodeKeys(root.nodeId, root.secret);
    const wrappedKey = await wrapNodeSecret(root.secret, root.nodeId, null, v);
    const metadata = await sealMetadata(rootKeys, { name: 'My files', mime: '', size: 0, mtime: Date.now() });
    const res = await api<{ accountId: string; rootNodeId: string; csrfToken?: string }>('/api/auth/signup', {
      json: {
        email, accountId, kdf: encodeKdfParams(kdf), loginKey: b64(loginKey), recoveryLoginKey: b64(rk.loginKey),
        accountPublicKey: b64(v.accountPublicKey), slots: { passphrase: b64(passSlot), recovery: b64(recSlot) },
        root: { nodeId: root.nodeId, wrappedKey: b64(wrappedKey), metadata: b64(metadata) }, client: 'web',
      },
    });
    session.csrfToken = res.csrfToken ?? null;
    useVault(v);
    rootId = res.rootNodeId;
    const info = await session_();
    await ensure(info.rootNodeId);
    return { ...info, csrfToken: session.csrfToken, recoveryCode };
  },

  async login(email, passphrase) {
    const pre = await api<{ kdf: string }>('/api/auth/prelogin', { json: { email } });
    const { loginKey, passKek } = await derivePassphraseKeys(passphrase, decodeKdfParams(pre.kdf));
    const res = await api<{ csrfToken?: string }>('/api/auth/login', { json: { email, loginKey: b64(loginKey), client: 'web' } });
    session.csrfToken = res.csrfToken ?? null;
    const acct = await api<Account>('/api/account');
    prefetchRoot(acct.rootNodeId);
    return { ...(await openAccount(passKek, acct)), csrfToken: session.csrfToken };
  },

  async unlock(passphrase) {
    const acct = await api<Account>('/api/account');
    prefetchRoot(acct.rootNodeId);
    const { passKek } = await derivePassphraseKeys(passphrase, decodeKdfParams(acct.kdf));
    return openAccount(passKek, acct);
  },

  async list(folderId) {
    return listStreaming(folderId, (batch) => this.emit(batch), (stats) => this.emit(stats));
  },

  async browse(folderId) {
    return (await listStreaming(folderId, (batch) => this.emit(batch), (stats) => this.emit(stats))).length;
  },

  async linkList(folderId) {
    return listStreaming(folderId, (batch) => this.emit(batch));
  },

  async entries(ids) {
    return Promise.all(
      ids.map(async (id) => {
        try {
          const node = await api<ServerNode>(nodePath(id));
          known.delete(id);
          return toEntry(await open(node));
        } catch (err) {
          if (err instanceof ApiError && err.status === 404) {
            known.delete(id);
            return null;
          }
          throw err;
        }
      }),
    );
  },

  async interrupted() {
    return pendingUploads();
  },

  async discardInterrupted(key) {
    await Promise.all([idbDo('readwrite', (s) => s.delete(key)), forgetHeld(key)]);
  },

  async trash() {
    const nodes = await listAll('/api/trash');
    return openMany(nodes);
  },

  async path(nodeId) {
    const out: Entry[] = [];
    let id: string | null = nodeId;
    while (id) {
      const k = await ensure(id);
      out.unshift(toEntry(k));
      if (link && id === link.rootNodeId) break;
      id = k.node.parentId;
    }
    return out;
  },

  async createFolder(parentId, name) {
    const v = needVault();
    const parent = await ensure(parentId);
    const clean = validateName(name);
    const n = newNode();
    const keys = await nodeKeys(n.nodeId, n.secret);
    const meta: Metadata = { name: clean, mime: '', size: 0, mtime: Date.now() };
    const node = await api<ServerNode>('/api/nodes', {
      json: {
        id: n.nodeId, parentId, kind: 'folder', nameHash: await nameHash(parent.keys, clean),
        wrappedKey: b64(await wrapNodeSecret(n.secret, n.nodeId, parent.keys, v)), metadata: b64(await sealMetadata(keys, meta)),
      },
    });
    const k = { keys, meta, node };
    known.set(n.nodeId, k);
    return toEntry(k);
  },

  async rename(nodeId, name) {
    const k = await ensure(nodeId);
    if (!k.node.parentId) throw new ApiError('METADATA_INVALID', 'The root cannot be renamed', 0);
    const parent = await ensure(k.node.parentId);
    const clean = validateName(name);
    const meta = { ...k.meta, name: clean };
    const node = await api<ServerNode>(`/api/nodes/${nodeId}`, {
      method: 'PATCH',
      json: { nameHash: await nameHash(parent.keys, clean), metadata: b64(await sealMetadata(k.keys, meta)) },
    });
    const nk = { keys: k.keys, meta, node };
    known.set(nodeId, nk);
    return toEntry(nk);
  },

  async move(nodeId, newParentId) {
    const v = needVault();
    const k = await ensure(nodeId);
    const parent = await ensure(newParentId);
    // format §5.1: moving re-wraps the node secret to the new parent and recomputes its name hash.
    const node = await api<ServerNode>(`/api/nodes/${nodeId}`, {
      method: 'PATCH',
      json: {
        parentId: newParentId, nameHash: await nameHash(parent.keys, k.meta.name),
        wrappedKey: b64(await wrapNodeSecret(k.keys.secret, nodeId, parent.keys, v)),
      },
    });
    const nk = { keys: k.keys, meta: k.meta, node };
    known.set(nodeId, nk);
    return toEntry(nk);
  },

  async restore(nodeId, name) {
    if (name === undefined) {
      const node = await api<ServerNode>(`/api/nodes/${nodeId}/restore`, { json: {} });
      known.delete(nodeId);
      return toEntry(await open(node));
    }
    // The server takes the new name's hash with the restore (docs/api.md) but changes no trashed
    // node's metadata, so the sealed name follows at once, as a rename, under the same hash.
    known.delete(nodeId);
    const k = await ensure(nodeId);
    if (!k.node.parentId) throw new ApiError('METADATA_INVALID', 'The root cannot be renamed', 0);
    const parent = await ensure(k.node.parentId);
    const hash = await nameHash(parent.keys, validateName(name));
    await api<ServerNode>(`/api/nodes/${nodeId}/restore`, { json: { nameHash: hash } });
    known.delete(nodeId);
    return impl.rename.call(this, nodeId, name);
  },

  async upload(file, parentId, existingId) {
    const v = needVault();
    let shown = 0;
    const emit = (p: UploadProgress) => {
      shown = p.bytesDone;
      this.emit(p);
    };
    // Until chunks are sent, a pause holds at the next gate and nothing is counted meanwhile.
    const ctl: Control = {
      paused: false, cancelled: false, abort: new AbortController(), sending: 0, waiting: [],
      changed: () => { if (ctl.paused) emit({ phase: 'paused', bytesDone: shown, bytesTotal: file.size }); },
    };
    controls.set(this.callId, ctl);
    let created: string | null = null;
    /** The empty node made for a new file (by this attempt or the one it continues): a cancel purges it. */
    let emptyNode: string | null = null;
    let recordId: string | null = null;
    let journal: HeldJournal | null = null;
    const journaled = file.size >= HELD_MIN_BYTES;
    try {
      emit({ phase: 'preparing', bytesDone: 0, bytesTotal: file.size });
      const parent = await ensure(parentId);
      const clean = validateName(file.name);
      const found = (await pendingUploads()).find((p) =>
        p.parentId === parentId && p.name === clean && p.size === file.size && p.lastModified === file.lastModified);
      let pending: Pending | undefined = found;
      recordId = found?.key ?? null;
      let k: Known;
      let nodeId = existingId ?? pending?.nodeId ?? null;
      if (nodeId) {
        known.delete(nodeId);
        k = await ensure(nodeId);
      } else {
        const n = newNode();
        const keys = await nodeKeys(n.nodeId, n.secret);
        const meta: Metadata = { name: clean, mime: file.type, size: 0, mtime: file.lastModified || Date.now() };
        const node = await api<ServerNode>('/api/nodes', {
          json: {
            id: n.nodeId, parentId, kind: 'file', nameHash: await nameHash(parent.keys, clean),
            wrappedKey: b64(await wrapNodeSecret(n.secret, n.nodeId, parent.keys, v)), metadata: b64(await sealMetadata(keys, meta)),
          },
        });
        k = { keys, meta, node };
        known.set(n.nodeId, k);
        nodeId = n.nodeId;
        created = nodeId;
      }
      if (created || (found?.nodeId === nodeId && (k.node.version ?? 0) === 0)) emptyNode = nodeId;
      let uploadId = pending?.nodeId === nodeId ? pending.uploadId : null;
      if (uploadId) {
        // A resumed upload: make sure the server still keeps it (uploads expire after 24 h idle).
        const id = uploadId;
        await api('/api/chunks/check', { json: { uploadId: id, ids: [] } }).catch(() => { uploadId = null; });
      }
      // The chunks an earlier attempt got to the server, in order from the start: checked, not sent again.
      let kept: ManifestEntry[] = [];
      if (uploadId && recordId && journaled) {
        kept = await readHeld(recordId, uploadId, file.size);
        if (kept.length > 0) {
          kept = kept.slice(0, await stillHeld(v, file, kept, ctl, (bytes) => emit({ phase: 'preparing', bytesDone: bytes, bytesTotal: file.size })));
          if (!(await uploadHolds(uploadId, kept))) kept = [];
        }
      }
      if (!uploadId) {
        uploadId = (await api<{ uploadId: string }>('/api/uploads', { json: { nodeId } })).uploadId;
        pending = { uploadId, nodeId, parentId, name: clean, size: file.size, lastModified: file.lastModified };
        recordId = await savePending(pending, recordId).catch(() => recordId); // best-effort
      }
      // The journal starts again with the chunks kept: one group, and nothing left of an earlier one
      // (only a record found again can have groups).
      if (recordId && journaled) {
        journal = new HeldJournal(recordId, v.accountId, uploadId);
        if (found) await forgetHeld(recordId);
        journal.add(kept);
      }
      const baseVersion = k.node.version ?? 0;
      const chunks: Manifest['chunks'] = [...kept];
      const readFrom = kept.reduce((n, e) => n + e.plainLength, 0);
      resumedBytes += readFrom;
      let done = readFrom;
      if (readFrom > 0) emit({ phase: 'preparing', bytesDone: done, bytesTotal: file.size });
      // Chunks held by the server, by index: the first `recorded` of them are in the journal; the
      // others wait for the ones before them.
      let recorded = kept.length;
      const stored = new Set<number>();
      // A continuous pipeline (nothing waits for a whole batch): encryption runs ahead while ids are
      // checked (/chunks/check, deduplication) and the missing chunks are sent, up to BATCH_OF in one
      // request (POST /api/chunks/batch: one digest and one statement on the server for all of them),
      // PUTS requests at a time. Checks overlap the sending: one starts when the previous one
      // answered and either the requests are running out of work or CHECK_MIN ids wait (or the file
      // ended), so a check carries several ids rather than one per chunk (each is a request and a
      // statement on the server). Memory: at most HELD encrypted chunks wait for the server
      // (≤ HELD × 4 MiB, ~HELD MiB on average) as records or copied into batch bodies, plus
      // encryptStream's own (concurrency + 1) chunks.
      type Item = { id: string; record: Uint8Array; plain: number; index: number };
      const PUTS = 5; // of Chromium's 6 HTTP/1.1 connections per origin: the rest for checks and the UI
      const BATCH_OF = 4;
      const BATCH_BYTES = 16 * 1024 * 1024; // the server's limit for a batch
      const HELD = 16;
      const CHECK_MIN = 4;
      const CHECK_MAX = 64;
      let ended = false;
      let failure: unknown = null;
      let held = 0;
      let waiters: (() => void)[] = [];
      const wake = () => { const w = waiters; waiters = []; for (const f of w) f(); };
      const fail = (e: unknown) => { failure ??= e; wake(); };
      // Records are built in buffers reused once their chunk is copied into a batch or not needed:
      // fewer fresh pages for the browser to fault in (docs/benchmarks.md, "web vault").
      const records = new BufferPool((HELD + 4) * 2 * 1024 * 1024);
      // A batch's body: its records copied together, so that one digest covers them (the records go
      // back to their pool at once; the body when the request is done).
      const bodies = new BufferPool(PUTS * BATCH_BYTES);
      const finish = (c: Item, recordBack = true) => {
        if (recordBack) records.give(c.record);
        held--;
        done += c.plain;
        stored.add(c.index);
        const from = recorded;
        while (stored.delete(recorded)) recorded++;
        if (recorded > from) journal?.add(chunks.slice(from, recorded));
        wake();
      };
      // Paused only once no request is under way: chunks whose requests end after the pause are
      // counted before the tray says "Paused", and nothing after it.
      const report = () => emit({ phase: ctl.paused && ctl.sending === 0 ? 'paused' : 'uploading', bytesDone: done, bytesTotal: file.size });
      const toPut: Item[] = [];
      let putting = 0;
      const pump = () => {
        while (!ctl.paused && putting < PUTS && toPut.length > 0 && !failure) {
          const batch: Item[] = [];
          let size = 0;
          while (toPut.length > 0 && batch.length < BATCH_OF && size + toPut[0]!.record.length <= BATCH_BYTES) {
            const c = toPut.shift()!;
            batch.push(c);
            size += c.record.length;
          }
          const list = batch.map((c) => `${c.id}:${c.record.length}`).join(', ');
          const body = bodies.take(size);
          let at = 0;
          for (const c of batch) {
            body.set(c.record, at);
            at += c.record.length;
            records.give(c.record);
          }
          putting++;
          void (async () => {
            const digest = `sha-256=:${await sha256b64(body)}:`;
            await retrying(ctl, (signal) => api(`/api/chunks/batch?upload=${uploadId}`, {
              method: 'POST', body, signal,
              headers: {
                'Content-Type': 'application/octet-stream', 'Content-Digest': digest,
                'Coffer-Chunks': list,
              },
            }), () => failure !== null);
            bodies.give(body);
          })().then(() => {
            putting--;
            for (const c of batch) finish(c, false);
            report();
            pump();
            check();
          }, fail);
        }
      };
      let toCheck: Item[] = [];
      let checking = false;
      const check = () => {
        if (ctl.paused || checking || toCheck.length === 0 || failure) return;
        if (toCheck.length < CHECK_MIN && toPut.length + putting >= PUTS && !ended) return; // PUTs busy: gather ids
        const b = toCheck.splice(0, CHECK_MAX);
        checking = true;
        retrying(ctl, (signal) => api<{ missing: string[] }>('/api/chunks/check', { json: { uploadId, ids: b.map((c) => c.id) }, signal }), () => failure !== null).then(({ missing }) => {
          const need = new Set(missing);
          for (const c of b) {
            if (need.has(c.id)) toPut.push(c);
            else finish(c);
          }
          report();
          pump();
          checking = false;
          check();
        }, fail);
      };
      // A cancel ends the upload at once: waits wake, requests under way are aborted (retrying).
      // A resume sends again what waited.
      ctl.changed = () => {
        if (ctl.cancelled) return fail(cancelled());
        if (!ctl.paused) {
          pump();
          check();
        }
        report();
      };
      const seen = new Set<string>(kept.map((e) => e.chunkId));
      const rest = readFrom > 0 ? file.slice(readFrom).stream() : file.stream();
      for await (const ec of encryptStream(v, rest, { concurrency: 2, recordBuffer: records.take })) {
        await gate(ctl);
        while (held >= HELD && !failure) await new Promise<void>((r) => waiters.push(r));
        if (failure) throw failure;
        const c = { id: ec.entry.chunkId, record: ec.record, plain: ec.entry.plainLength, index: chunks.length };
        chunks.push(ec.entry);
        held++;
        if (seen.has(c.id)) {
          finish(c); // the same chunk earlier in this file: already checked or sent
          report();
          continue;
        }
        seen.add(c.id);
        toCheck.push(c);
        check();
      }
      ended = true;
      check();
      while (held > 0 && !failure) await new Promise<void>((r) => waiters.push(r));
      if (failure) throw failure;
      await gate(ctl);
      // From here the version is being saved: pause and cancel no longer apply.
      controls.delete(this.callId);
      emit({ phase: 'committing', bytesDone: done, bytesTotal: file.size });
      const forgetRecord = async () => {
        const finished = recordId;
        await Promise.all([
          journal?.close(false),
          finished && idbDo('readwrite', (s) => s.delete(finished)), // best-effort, as idbDo is
          finished && journaled && forgetHeld(finished),
        ]).catch(() => {});
      };
      if (baseVersion > 0 && await holdsSameChunks(nodeId, baseVersion, chunks)) {
        // The file holds what its current version holds (chunk ids are keyed hashes of the
        // plaintext, in order): no new version, which would push real history out of the retention
        // window and tell every other device of a change, as the command line does. The upload
        // expires on the server by itself.
        await forgetRecord();
        const entry = toEntry(k);
        emit({ phase: 'done', bytesDone: file.size, bytesTotal: file.size, entry, unchanged: true });
        return entry;
      }
      const version = baseVersion + 1;
      const manifest: Manifest = { size: file.size, chunks };
      const meta: Metadata = { name: k.meta.name, mime: file.type || k.meta.mime, size: file.size, mtime: file.lastModified || Date.now() };
      const commit = {
        uploadId, baseVersion, manifest: b64(await sealManifest(k.keys, version, manifest)),
        chunkIds: chunks.map((c) => c.chunkId), metadata: b64(await sealMetadata(k.keys, meta)),
        ...(await deviceField()),
      };
      // A repeated commit (its answer lost) is answered with the version it made (docs/api.md).
      await retrying(null, () => api(`/api/nodes/${nodeId}/versions`, { json: commit }));
      // Saved: the upload is done. What follows only tidies up, and its failure (the server gone a
      // moment later) must not report it failed, or Retry would send it again. The node is read
      // back for the server's stored size and time; until it can be, it is the one known here.
      const mine: Known = {
        keys: k.keys, meta,
        node: { ...k.node, version, metadata: commit.metadata, size: chunks.reduce((n, c) => n + c.storedLength, 0), updatedAt: Date.now() },
      };
      known.set(nodeId, mine);
      await forgetRecord();
      const entry = toEntry(await api<ServerNode>(nodePath(nodeId)).then(open).catch(() => mine));
      emit({ phase: 'done', bytesDone: file.size, bytesTotal: file.size, entry });
      return entry;
    } catch (err) {
      if ((err as { code?: string }).code === 'CANCELLED') {
        // Cancelled: forget the resume record. A new file leaves nothing behind: its empty node is
        // trashed and purged (docs/api.md: only a trashed node can be). An existing file is left
        // as it was (its upload made no version).
        await journal?.close(false);
        const id = recordId;
        if (id) await Promise.all([idbDo('readwrite', (s) => s.delete(id)), journaled && forgetHeld(id)]);
        const gone = emptyNode;
        if (gone) {
          known.delete(gone);
          await api(`/api/nodes/${gone}/trash`, { method: 'POST' })
            .then(() => api(`/api/nodes/${gone}`, { method: 'DELETE' }))
            .catch(() => {}); // unreachable: an empty node stays, in the trash at most
        }
      }
      throw err;
    } finally {
      controls.delete(this.callId);
      await journal?.close(true); // a failed upload keeps what it recorded, for Retry or a later resume
    }
  },

  async download(nodeId, version) {
    return streamOf(nodeId, version);
  },

  async sendDownload(nodeId, version, port) {
    return sendStream(port, this.emit, (watch) => streamOf(nodeId, version, watch));
  },

  async zipFolder(folderId, linkMode = false) {
    return zipOf(folderId, linkMode);
  },

  async sendZip(folderId, port, linkMode = false) {
    return sendStream(port, this.emit, (watch) => zipOf(folderId, linkMode, watch));
  },

  async linkDownload(nodeId) {
    return streamOf(nodeId, null);
  },

  async deviceNames() {
    const v = needVault();
    const { devices } = await api<{ devices: Array<{ deviceId: string; name: string }> }>('/api/devices');
    const names: Record<string, string> = {};
    for (const d of devices) {
      // A name that does not open (damaged, or sealed under another key) is left out: shown by id.
      const name = await openDeviceName(v, d.deviceId, unb64(d.name)).catch(() => null);
      if (name !== null) names[d.deviceId] = name;
    }
    return names;
  },

  async devices() {
    const v = needVault();
    // Registering (or confirming) this browser first: it may be the newest device of the list.
    const mine = await thisDevice;
    const { devices } = await api<{ devices: Array<{
      deviceId: string; name: string; createdAt: string; lastSeenAt: string | null; current?: boolean; sessions?: number;
    }> }>('/api/devices');
    return Promise.all(devices.map(async (d) => ({
      deviceId: d.deviceId,
      name: await openDeviceName(v, d.deviceId, unb64(d.name)).catch(() => null),
      createdAt: ms(d.createdAt),
      lastSeenAt: d.lastSeenAt ? ms(d.lastSeenAt) : null,
      // What this browser keeps says which device it is; the server's word stands in when it kept none.
      current: mine !== null ? d.deviceId === mine : d.current === true,
      ...(d.sessions !== undefined ? { sessions: d.sessions } : {}),
    })));
  },

  async versions(nodeId) {
    const [node, { versions: rows }] = await Promise.all([
      api<ServerNode>(nodePath(nodeId)),
      api<{ versions: Array<{ version: number; createdAt: string | number; deviceId: string | null; storedSize: number }> }>(`${nodePath(nodeId)}/versions`),
    ]);
    if (node.trashedAt) return { current: node.version, trashed: true, versions: [] };
    const k = await open(node);
    // The metadata and the version are written together (one commit), so the metadata's size is
    // the current version's: the same number the file list shows, with no manifest to fetch.
    if (node.version > 0) versionSizes.set(`${nodeId}/${node.version}`, k.meta.size);
    const unknown = rows.filter((r) => !versionSizes.has(`${nodeId}/${r.version}`));
    const next = async (): Promise<void> => {
      const r = unknown.shift();
      if (!r) return;
      try {
        const { manifest } = await api<{ manifest: string }>(`${nodePath(nodeId)}/versions/${r.version}`);
        versionSizes.set(`${nodeId}/${r.version}`, (await openManifest(k.keys, r.version, unb64(manifest))).size);
      } catch {
        // Pruned meanwhile, or a manifest that does not open: the panel shows the stored size and says so.
      }
      return next();
    };
    await Promise.all(Array.from({ length: VERSION_FETCHES }, next));
    return {
      current: node.version,
      trashed: false,
      versions: rows.map((r) => ({
        version: r.version, createdAt: ms(r.createdAt), deviceId: r.deviceId, storedSize: r.storedSize,
        size: versionSizes.get(`${nodeId}/${r.version}`) ?? null,
      })),
    };
  },

  async restoreVersion(nodeId, version) {
    known.delete(nodeId);
    const k = await ensure(nodeId);
    const old = await api<{ manifest: string; chunkIds: string[] }>(`/api/nodes/${nodeId}/versions/${version}`);
    const manifest = await openManifest(k.keys, version, unb64(old.manifest));
    const current = k.node.version;
    const next = current + 1;
    // format §7: restoring re-seals manifest k under the new context; chunks are shared.
    const { uploadId } = await api<{ uploadId: string }>('/api/uploads', { json: { nodeId } });
    const ids = manifest.chunks.map((c) => c.chunkId);
    for (let i = 0; i < ids.length; i += 1000) await api('/api/chunks/check', { json: { uploadId, ids: ids.slice(i, i + 1000) } });
    await api(`/api/nodes/${nodeId}/versions`, {
      json: {
        uploadId, baseVersion: current, manifest: b64(await sealManifest(k.keys, next, manifest)), chunkIds: ids,
        metadata: b64(await sealMetadata(k.keys, { ...k.meta, size: manifest.size, mtime: Date.now() })),
        ...(await deviceField()),
      },
    });
    known.delete(nodeId);
    return toEntry(await ensure(nodeId));
  },

  async createLink(nodeId, opts: LinkOptions) {
    const k = await ensure(nodeId);
    const created = await createLink({ nodeId, secret: k.keys.secret }, opts.password || undefined);
    await api('/api/links', {
      json: {
        linkId: created.linkId, nodeId, payload: b64(created.payload),
        ...(created.kdf ? { kdf: encodeKdfParams(created.kdf) } : {}),
        ...(created.authKey ? { authKey: b64(created.authKey) } : {}),
        ...(opts.expiresAt ? { expiresAt: new Date(opts.expiresAt).toISOString() } : {}),
        ...(opts.maxDownloads ? { maxDownloads: opts.maxDownloads } : {}),
      },
    });
    return { linkId: created.linkId, secret: created.secret };
  },

  async openLink(linkId, secret, password, kept): Promise<LinkInfo> {
    if (kept && Date.parse(kept.expiresAt) > Date.now() + 60_000) {
      const again = await reopenLink(linkId, secret, kept);
      if (again) return again;
    }
    const info = await api<{ hasPassword: boolean; kdf?: string; challenge?: string }>(`/api/public/links/${linkId}`);
    if (info.hasPassword && !password) return { needPassword: true };
    const kdf = info.hasPassword && info.kdf ? decodeKdfParams(info.kdf) : undefined;
    const keys = await linkKeys(linkId, secret, info.hasPassword ? password ?? undefined : undefined, kdf);
    const body: Record<string, string> = {};
    if (info.hasPassword && keys.authKey && info.challenge) {
      body.challenge = info.challenge;
      body.response = b64(await linkChallengeResponse(keys.authKey, linkId, unb64(info.challenge)));
    }
    const opened = await api<{ accessToken: string; payload: string; node: ServerNode; expiresAt: string }>(`/api/public/links/${linkId}/open`, { json: body });
    session.linkAccess = opened.accessToken;
    const { nodeId, secret: ns } = await openLinkPayload(linkId, keys.linkKey, unb64(opened.payload));
    const nk = await nodeKeys(nodeId, ns);
    link = { linkId, rootNodeId: nodeId, keys: nk };
    const meta = await openMetadata(nk, unb64(opened.node.metadata));
    const k = { keys: nk, meta, node: opened.node };
    known.set(nodeId, k);
    // A password link is not kept: its payload would let whoever reads the tab's storage try
    // passwords offline, where the server otherwise counts and limits every guess.
    const access = info.hasPassword ? undefined : { accessToken: opened.accessToken, expiresAt: opened.expiresAt, payload: opened.payload };
    return { needPassword: false, entry: toEntry(k), ...(access ? { access } : {}) };
  },
};

/**
 * Opens a link again with the access an earlier open in this tab was given, so that reloading the
 * receive page does not count as one more open (a link limited to one open was used up by a
 * reload). Null when that access no longer opens it: the caller opens the link anew.
 */
async function reopenLink(linkId: string, secret: string, kept: KeptLinkAccess): Promise<LinkInfo | null> {
  const keys = await linkKeys(linkId, secret);
  const { nodeId, secret: ns } = await openLinkPayload(linkId, keys.linkKey, unb64(kept.payload));
  const nk = await nodeKeys(nodeId, ns);
  session.linkAccess = kept.accessToken;
  link = { linkId, rootNodeId: nodeId, keys: nk };
  let node: ServerNode;
  try {
    node = await api<ServerNode>(nodePath(nodeId)); // its current name and version
  } catch (err) {
    // An access the server no longer knows, or a shared item gone (in the trash): a new open says
    // which, in the words the page shows for links.
    if (!(err instanceof ApiError && (err.code === 'LINK_ACCESS_REQUIRED' || err.status === 404))) throw err;
    session.linkAccess = null;
    link = null;
    return null;
  }
  const k = { keys: nk, meta: await openMetadata(nk, unb64(node.metadata)), node };
  known.set(nodeId, k);
  return { needPassword: false, entry: toEntry(k), access: kept };
}

/** What streamOf reports as its stream is read: the bytes so far (of the file's), the end, an error. */
interface StreamWatch { progress(done: number, total: number): void; end(): void; error(err: unknown): void }

/**
 * Posts the stream `make` opens over `port` as `{ name, mime, size, stream }` (to the download
 * service worker), emits DownloadProgress as it is read, and resolves once it was read to its end.
 */
async function sendStream(port: MessagePort, emit: Emit, make: (watch: StreamWatch) => Promise<DownloadStream>): Promise<{ name: string; size: number }> {
  let settle!: { resolve: () => void; reject: (e: unknown) => void };
  const read = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  const ds = await make({
    progress: (done, total) => emit({ done, total } satisfies DownloadProgress),
    end: () => settle.resolve(),
    error: (err) => settle.reject(err),
  });
  port.postMessage({ name: ds.name, mime: ds.mime, size: ds.size, stream: ds.stream }, [ds.stream as unknown as Transferable]);
  port.close();
  await read;
  return { name: ds.name, size: ds.size };
}

/** A zip item with the node and the version of the file it is made from. */
interface WalkedItem extends ZipItem { id: string; version: number }

const byName = new Intl.Collator(undefined, { numeric: true });

/**
 * Folder `folderId` and everything live below it, as the folder's zip holds them: each folder
 * before its children, children in name order (numbers by value, as in the file list), paths from
 * the folder's own name. A file whose first upload never finished (version 0) has nothing to hold and is
 * left out; a node that does not decrypt fails the whole walk. `linkMode`: the folder is in the open
 * share link (the receive page), walked with the link's keys and its public paths only.
 */
async function walkFolder(folderId: string, linkMode: boolean): Promise<WalkedItem[]> {
  if (linkMode !== (link !== null)) throw new ApiError('WRONG_MODE', linkMode ? 'No share link is open.' : 'A share link is open, not the vault.', 0);
  known.delete(folderId);
  const top = await ensure(folderId);
  if (top.node.kind !== 'folder') throw new ApiError('NOT_A_FOLDER', 'Only a folder can be downloaded as a zip.', 0);
  if (link) {
    // Only the shared folder or one below it: its parents lead up to the link's node (whose keys
    // are the link's own, open()), never past it. Everything walked is below `top`.
    let at = top;
    while (at.node.id !== link.rootNodeId) {
      if (!at.node.parentId) throw new ApiError('NOT_FOUND', 'Not part of this share.', 404);
      at = await ensure(at.node.parentId);
    }
  }
  const out: WalkedItem[] = [];
  const visit = async (k: Known, path: string): Promise<void> => {
    out.push({ path, kind: 'folder', size: 0, mtime: k.meta.mtime, id: k.node.id, version: 0 });
    const nodes = (await listAll(`${nodePath(k.node.id)}/children`)).filter((n) => !n.trashedAt);
    const children = await Promise.all(nodes.map((n) => open(n)));
    children.sort((a, b) => byName.compare(a.meta.name, b.meta.name) || (a.meta.name < b.meta.name ? -1 : a.meta.name > b.meta.name ? 1 : 0));
    // A file without a version takes no name: a sibling of the same name keeps it unnumbered.
    const kept = children.filter((c) => c.node.kind === 'folder' || c.node.version > 0);
    const paths = childPaths(path, kept.map((c) => ({ name: c.meta.name, kind: c.node.kind })));
    for (const [i, c] of kept.entries()) {
      if (c.node.kind === 'folder') await visit(c, paths[i]!);
      else out.push({ path: paths[i]!, kind: 'file', size: c.meta.size, mtime: c.meta.mtime, id: c.node.id, version: c.node.version });
    }
  };
  await visit(top, childPath(null, top.meta.name));
  return out;
}

/**
 * The folder as `<name>.zip` (zip.ts): walked first, so the archive's length is known before its
 * first byte, then each file's version as walked decrypted one at a time, as `streamOf` does for a
 * single download. A chunk that fails its check errors the archive's stream with its code.
 */
async function zipOf(folderId: string, linkMode: boolean, watch?: StreamWatch): Promise<DownloadStream> {
  const items = await walkFolder(folderId, linkMode);
  const zip = zipArchive(items, async (f) => (await streamOf(f.id, f.version)).stream, watch);
  return { stream: zip.stream, name: `${items[0]!.path}.zip`, mime: 'application/zip', size: zip.size };
}

async function streamOf(nodeId: string, version: number | null, watch?: StreamWatch): Promise<DownloadStream> {
  known.delete(nodeId);
  const k = await ensure(nodeId);
  const v = version ?? k.node.version;
  let manifest: Manifest = { size: 0, chunks: [] };
  if (v > 0) {
    const ver = await api<{ manifest: string }>(`${nodePath(nodeId)}/versions/${v}`);
    manifest = await openManifest(k.keys, v, unb64(ver.manifest));
  }
  let failed = false;
  let done = 0;
  const fetchChunk = (chunkId: string) => retrying(null, () => apiBytes(chunkPath(chunkId)), () => failed);
  const it = decryptStream(manifest, fetchChunk, { concurrency: 6 })[Symbol.asyncIterator]();
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const r = await it.next();
          if (r.done) {
            controller.close();
            watch?.end();
          } else {
            controller.enqueue(r.value);
            done += r.value.byteLength;
            watch?.progress(done, manifest.size);
          }
        } catch (err) {
          failed = true; // chunk fetches still waiting to retry give up
          // No partial file is presented as good: the stream errors, the sink aborts.
          const code = (err as { code?: string }).code ?? 'AUTH_FAILED';
          // Stream errors cross postMessage as plain Errors: the code leads the message.
          const e = new ApiError(code, `${code}: ${(err as Error).message}`, 0);
          controller.error(e);
          watch?.error(e);
        }
      },
      async cancel() {
        failed = true;
        watch?.error(new ApiError('CANCELLED', 'The download was cancelled.', 0));
        await it.return?.(undefined);
      },
    },
    // Up to 4 verified chunks queued (≤ 16 MiB): the stream crosses to another thread (the service
    // worker, or the page), and with a queue of 1 each hop can wait a round trip per chunk. (On the shared
    // 2-core bench machine the gain was within run-to-run noise; the server is the limit there.)
    { highWaterMark: 4 },
  );
  return { stream, name: k.meta.name, mime: k.meta.mime, size: manifest.size };
}

// ---- X25519 on the helper thread (dh-worker.ts) -------------------------------------------------
// Opening a child of a folder costs one X25519 and, after it, a key schedule and two AES-GCM opens
// (format §5.1). With the helper ready, crypto-core hands every X25519 to it (a backend with only
// `x25519`), so the two halves run on two cores. Requests made in one turn go in batches of up to
// DH_BATCH per private key, and the helper answers batch by batch, so this thread goes on with the
// first children while the helper computes the next.

const DH_BATCH = 128;
interface DhWait { pk: Uint8Array; resolve: (v: Uint8Array) => void; reject: (e: unknown) => void }
let dhPort: MessagePort | null = null;
let dhNextId = 1;
/** Batches sent, by request id, in the order of their public keys. */
const dhSent = new Map<number, DhWait[]>();
/** Requests not sent yet, by private key (one folder's, mostly). */
let dhQueue = new Map<Uint8Array, DhWait[]>();
let dhQueued = 0;
/** Flushes the queue once the current turn's microtasks are done (a task, never clamped as timers are). */
const dhTick = new MessageChannel();
let dhTicking = false;
dhTick.port1.onmessage = () => {
  dhTicking = false;
  flushDh();
};

function useDhHelper(port: MessagePort): void {
  port.onmessage = (ev: MessageEvent<DhReply | { ready: boolean }>) => {
    const m = ev.data;
    if ('ready' in m) {
      if (!m.ready) return port.close(); // no WebCrypto X25519 there: computed here, as before
      dhPort = port;
      setCryptoBackend({ x25519: helperX25519 });
      return;
    }
    const waits = dhSent.get(m.id);
    if (!waits) return;
    dhSent.delete(m.id);
    const bad = new Set(m.bad);
    const whole = m.out.length >= 32 * waits.length;
    waits.forEach((w, i) => {
      if (!whole || bad.has(i)) w.reject(new Error('X25519 refused the public key'));
      else w.resolve(m.out.slice(32 * i, 32 * i + 32));
    });
    m.out.fill(0);
  };
}

function helperX25519(sk: Uint8Array, pk: Uint8Array): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    if (sk.length !== 32 || pk.length !== 32) return reject(new RangeError('X25519 keys are 32 bytes'));
    let waits = dhQueue.get(sk);
    if (!waits) dhQueue.set(sk, (waits = []));
    waits.push({ pk, resolve, reject });
    if (++dhQueued >= DH_BATCH) flushDh();
    else if (!dhTicking) {
      dhTicking = true;
      dhTick.port2.postMessage(0);
    }
  });
}

function flushDh(): void {
  for (const [sk, waits] of dhQueue) {
    const id = dhNextId++;
    const req: DhRequest = { id, sk: sk.slice(), pks: new Uint8Array(32 * waits.length) };
    waits.forEach((w, i) => req.pks.set(w.pk, 32 * i));
    dhSent.set(id, waits);
    dhPort!.postMessage(req, [req.sk.buffer, req.pks.buffer]);
  }
  dhQueue = new Map();
  dhQueued = 0;
}

// ---- message loop ------------------------------------------------------------------------------

type Msg =
  | { t: 'call'; id: number; m: Method; a: unknown[] }
  | { t: 'ctl'; id: number; action: 'pause' | 'resume' | 'cancel' }
  | { t: 'dh'; port: MessagePort };

self.onmessage = async (ev: MessageEvent<Msg>) => {
  const msg = ev.data;
  if (msg.t === 'dh') return useDhHelper(msg.port);
  if (msg.t === 'ctl') {
    const c = controls.get(msg.id);
    if (!c) return;
    if (msg.action === 'pause') c.paused = true;
    else if (msg.action === 'resume') c.paused = false;
    else {
      c.cancelled = true;
      c.abort.abort();
    }
    for (const wake of c.waiting.splice(0)) wake();
    c.changed();
    return;
  }
  const { id, m, a } = msg;
  const ctx = { callId: id, emit: (v: unknown) => self.postMessage({ t: 'ev', id, v }) };
  try {
    const fn = impl[m] as (this: typeof ctx, ...args: unknown[]) => unknown;
    const v = await fn.apply(ctx, a);
    const transfer: Transferable[] = [];
    if (v && typeof v === 'object' && 'stream' in v && v.stream instanceof ReadableStream) transfer.push(v.stream);
    self.postMessage({ t: 'ok', id, v }, transfer);
  } catch (err) {
    const e = err as { code?: string; message?: string; status?: number; body?: unknown; retryAfter?: number };
    self.postMessage({ t: 'err', id, code: e.code ?? 'UNKNOWN', message: e.message ?? String(err), status: e.status ?? 0, retryAfter: e.retryAfter });
  }
};
