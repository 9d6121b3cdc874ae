// Streaming upload and download of one file with bounded memory.
//
// Upload: fs stream -> crypto-core encryptStream (keyed FastCDC, ids, sealed chunks, several in
// flight) -> POST /api/chunks/check in small batches -> send only the chunks the server lacks (in
// one POST /api/chunks/batch per batch; new data goes without the check, see DedupProbe) ->
// commit the sealed manifest as a new version. The upload id is kept under COFFER_HOME/uploads so
// a re-run after an interruption continues the same upload: it reads the file again only after the
// chunks the server already holds in order (put-journal.ts), and sends only chunks it lacks.
//
// Download: manifest -> chunks fetched a few at a time, each verified before its bytes are written
// (in order) to `<dest>.coffer-partial`; a sidecar records how many chunks are verified and on disk,
// so a re-run continues (after checking those chunks on disk again: against their ids, or for a
// share link's download against the tags it recorded); the file is renamed into place only when
// complete.
import * as cc from '@coffer/crypto-core';
import type { EncryptedChunk, Manifest, ManifestEntry, NodeKeys } from '@coffer/crypto-core';
import { createHash, createHmac } from 'node:crypto';
import type { Stats } from 'node:fs';
import { open, readFile, rename, rm, stat, utimes, type FileHandle } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { deviceLabel, type Context } from './account.ts';
import { ApiError, CliError, EXIT, IntegrityError } from './errors.ts';
import { fetchedFile, uploadsDir, writePrivate } from './home.ts';
import type { Api } from './http.ts';
import type { Progress } from './progress.ts';
import { JournalWriter, NO_PREFIX, readJournal, type JournalPrefix } from './put-journal.ts';
import { b64, guard, type RemoteNode, type Tree, unb64 } from './tree.ts';

const CHECK_BATCH = 8;        // chunks per /api/chunks/check call
const FRESH_BATCHES = 2;      // checks in a row that find every chunk missing before batches go unchecked
const BATCH_IN_FLIGHT = 2;    // batches being checked/uploaded at once (each sends the chunks the server lacks in one request)
const MAX_BATCH_BYTES = 16 * 1024 * 1024; // the server's limit for one POST /api/chunks/batch
const ENCRYPT_CONCURRENCY = 1; // sealing runs on this thread: a second chunk in flight would only hold more memory
const DOWNLOAD_CONCURRENCY = 8; // chunks fetched at once by a get (4: 145 against 172 MB/s, docs/benchmarks.md)
const READ_BYTES = 1 << 20;   // file bytes read at a time for an upload
// Chunk records and plaintexts of downloads are read and decrypted into these, and given back once
// decrypted or written: a new ~1 MiB buffer for each was a gigabyte of garbage per gigabyte got, and
// the collector ran a full collection every ~40 ms of a get (docs/benchmarks.md).
const buffers = new cc.BufferPool(32 * 1024 * 1024);

/**
 * The file's bytes from `start`, each piece read into the same buffer: encryptStream copies a piece
 * before it asks for the next (crypto-core API.md), so no buffer is allocated per read. After the
 * last byte, `end` gets what the open file is then (the put compares it with what it was before).
 */
async function* readPieces(path: string, start: number, end: { stats?: Stats }): AsyncGenerator<Uint8Array> {
  const file = await open(path, 'r');
  try {
    const buffer = new Uint8Array(READ_BYTES);
    for (let at = start; ;) {
      const { bytesRead } = await file.read(buffer, 0, buffer.length, at);
      if (bytesRead === 0) {
        end.stats = await file.stat();
        return;
      }
      at += bytesRead;
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    await file.close();
  }
}

/**
 * What changes when a file is written (size, mtime, and ctime, which cannot be set back), touched or
 * replaced (inode): equal before and after the put read it, the bytes read are one state of the file.
 */
function identity(st: Stats): string {
  return `${st.ino} ${st.size} ${st.mtimeMs} ${st.ctimeMs}`;
}

export interface PutResult {
  path: string;
  nodeId: string;
  version: number;
  size: number;
  chunks: number;
  chunksSent: number;
  bytesSent: number;
  resumed: boolean;
  /** Bytes at the start of the file that a resumed put did not read again (their chunks were sent). */
  resumedFrom: number;
  /** The file already held these bytes: no new version was made. */
  unchanged?: boolean;
  conflictCopy?: string;
}

interface UploadState {
  nodeId: string;
  uploadId: string;
  baseVersion: number;
  size: number;
  mtimeMs: number;
  /** Changes with every write to the file, and cannot be set back: the journal is used only while it is the same. */
  ctimeMs?: number;
  name: string;
  parentId: string;
}

export function guessMime(name: string): string {
  const ext = extname(name).toLowerCase();
  const map: Record<string, string> = {
    '.txt': 'text/plain', '.md': 'text/markdown', '.html': 'text/html', '.json': 'application/json',
    '.pdf': 'application/pdf', '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg',
    '.gif': 'image/gif', '.zip': 'application/zip', '.csv': 'text/csv', '.mp4': 'video/mp4',
  };
  return map[ext] ?? '';
}

function stateKey(ctx: Context, parentId: string, name: string, localPath: string): string {
  return createHash('sha256')
    .update([ctx.session.server, ctx.session.accountId, parentId, name, resolve(localPath)].join('\0'))
    .digest('hex')
    .slice(0, 32);
}

export function conflictName(name: string, when = new Date()): string {
  const ext = extname(name);
  const stem = ext && ext !== name ? name.slice(0, -ext.length) : name;
  const date = when.toISOString().slice(0, 10);
  return `${stem} (conflict from ${deviceLabel()} ${date})${ext === name ? '' : ext}`;
}

/** Creates the node `name` under `parent` (a file or folder) and returns it with its keys. */
export async function createNode(ctx: Context, parent: RemoteNode, name: string, kind: 'file' | 'folder', meta?: { size: number; mtime: number }): Promise<{ node: RemoteNode; keys: NodeKeys }> {
  const clean = cc.validateName(name);
  const parentKeys = await ctx.tree.keysOf(parent);
  const fresh = cc.newNode();
  const keys = await cc.nodeKeys(fresh.nodeId, fresh.secret);
  const body = {
    id: fresh.nodeId,
    parentId: parent.id,
    kind,
    nameHash: await cc.nameHash(parentKeys, clean),
    wrappedKey: b64(await cc.wrapNodeSecret(fresh.secret, fresh.nodeId, parentKeys, ctx.vault)),
    metadata: b64(await cc.sealMetadata(keys, { name: clean, mime: kind === 'file' ? guessMime(clean) : '', size: meta?.size ?? 0, mtime: meta?.mtime ?? Date.now() })),
  };
  const node = await ctx.api.json<RemoteNode>('POST', '/api/nodes', { body });
  ctx.tree.remember(node);
  return { node, keys };
}

/** Splits chunks to send into requests of at most MAX_BATCH_BYTES each, in order. */
function requestsOf(chunks: EncryptedChunk[]): EncryptedChunk[][] {
  const requests: EncryptedChunk[][] = [];
  let size = Infinity;
  for (const c of chunks) {
    if (size + c.record.byteLength > MAX_BATCH_BYTES) {
      requests.push([]);
      size = 0;
    }
    requests.at(-1)!.push(c);
    size += c.record.byteLength;
  }
  return requests;
}

/** Servers from before POST /api/chunks/batch (they answer it 405): their chunks go one PUT each. */
const noBatches = new WeakSet<Api>();

/**
 * Stores `chunks` (at most MAX_BATCH_BYTES of records) for the upload: in one batch request, or a
 * PUT each where the server has no batches. Returns how many of them the account did not hold yet.
 */
export async function sendRecords(api: Api, uploadId: string, chunks: readonly Pick<EncryptedChunk, 'entry' | 'record'>[]): Promise<number> {
  if (!noBatches.has(api)) {
    const records = chunks.map((c) => c.record);
    try {
      const answer = await api.bytes('POST', `/api/chunks/batch?upload=${uploadId}`, {
        raw: records,
        headers: {
          'coffer-chunks': chunks.map((c) => `${c.entry.chunkId}:${c.record.byteLength}`).join(', '),
          'content-digest': contentDigest(records),
        },
      });
      const { created } = JSON.parse(Buffer.from(answer).toString('utf8')) as { created?: unknown };
      return typeof created === 'number' ? created : 0;
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 405)) throw err;
      noBatches.add(api);
    }
  }
  const answers = await Promise.all(chunks.map((c) => api.fetch('PUT', `/api/chunks/${c.entry.chunkId}?upload=${uploadId}`, {
    raw: c.record,
    headers: { 'content-digest': contentDigest([c.record]) },
  })));
  return answers.filter((res) => res.status === 201).length;
}

/**
 * Whether a batch's chunk ids are checked with the server before its chunks are sent. A check finds
 * what the account holds already (dedup), at the cost of a round trip before every batch. New data
 * gains nothing from it, so after FRESH_BATCHES checks in a row that found every chunk missing,
 * batches are sent unchecked (the server stores only what it lacks) until an answer shows it held
 * some of what was sent: checks resume then. The cost of guessing wrong is bounded by the batches
 * under way when the data turns familiar again.
 */
class DedupProbe {
  #fresh = 0; // checks in a row that found every chunk missing

  // COFFER_DEBUG_CHECK_EVERY_BATCH=1 checks every batch, as before the probe (the benchmark's
  // comparison).
  readonly #always = process.env.COFFER_DEBUG_CHECK_EVERY_BATCH === '1';

  get checking(): boolean {
    return this.#always || this.#fresh < FRESH_BATCHES;
  }

  checked(asked: number, missing: number): void {
    this.#fresh = missing === asked ? this.#fresh + 1 : 0;
  }

  sent(sent: number, created: number): void {
    if (created < sent) this.#fresh = 0;
  }
}

/** RFC 9530 Content-Digest of a body sent as `parts`, one after another. */
function contentDigest(parts: readonly Uint8Array[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return `sha-256=:${hash.digest('base64')}:`;
}

/** Uploads `localPath` as `name` inside `parent` (a new file or a new version of an existing one). */
export async function putFile(
  ctx: Context, localPath: string, parent: RemoteNode, name: string,
  opts: { progress?: Progress; remotePath: string; forceNew?: boolean },
): Promise<PutResult> {
  name = cc.validateName(name);
  const st = await stat(localPath);
  const dir = await uploadsDir();
  const key = stateKey(ctx, parent.id, name, localPath);
  const statePath = join(dir, key + '.json');
  const journalPath = join(dir, key + '.chunks');
  const forget = async () => {
    await rm(statePath, { force: true });
    await rm(journalPath, { force: true });
  };
  let state: UploadState | null = null;
  if (!opts.forceNew) {
    try {
      state = JSON.parse(await readFile(statePath, 'utf8')) as UploadState;
    } catch {
      state = null;
    }
  }
  const existing = opts.forceNew ? null : await ctx.tree.child(parent, name);
  if (existing && existing.kind === 'folder') throw new CliError(`${opts.remotePath} is a folder`);
  if (state && !(state.size === st.size && state.mtimeMs === st.mtimeMs && existing && existing.id === state.nodeId)) state = null;

  let node: RemoteNode;
  let keys: NodeKeys;
  const resumed = state !== null;
  if (state) {
    node = existing!;
    keys = await ctx.tree.keysOf(node);
  } else {
    if (existing) {
      node = existing;
      keys = await ctx.tree.keysOf(node);
    } else {
      try {
        ({ node, keys } = await createNode(ctx, parent, name, 'file', { size: 0, mtime: Math.round(st.mtimeMs) }));
      } catch (err) {
        // Another client created the name meanwhile: upload a new version of that file instead.
        if (!(err instanceof ApiError && err.code === 'NAME_TAKEN') || opts.forceNew) throw err;
        ctx.tree.forgetChildren(parent.id);
        return putFile(ctx, localPath, parent, name, opts);
      }
    }
    const up = await ctx.api.json<{ uploadId: string }>('POST', '/api/uploads', { body: { nodeId: node.id } });
    state = { nodeId: node.id, uploadId: up.uploadId, baseVersion: node.version, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, name, parentId: parent.id };
    await writePrivate(statePath, JSON.stringify(state));
  }

  // The chunks sent before, unless the file may have changed since (size and mtime can be kept
  // through a write; ctime cannot).
  const prefix: JournalPrefix = resumed && state.ctimeMs === st.ctimeMs
    ? await readJournal(journalPath, state.uploadId, st.size)
    : NO_PREFIX;
  let sent: { manifest: Manifest; chunksSent: number; bytesSent: number };
  const end: { stats?: Stats } = {};
  try {
    sent = await sendChunks(ctx, localPath, state.uploadId, { journalPath, prefix, progress: opts.progress, end });
  } catch (err) {
    if (resumed && err instanceof ApiError && (err.status === 404 || err.status === 410)) {
      // The kept upload expired on the server: start a fresh one.
      await forget();
      return putFile(ctx, localPath, parent, name, opts);
    }
    throw err;
  }
  // Written to while it was read, the bytes sent may mix old and new (restic: "file changed during
  // backup"): nothing is committed. The chunks sent stay on the server, so a re-run sends only the
  // ones that changed; its journal describes bytes that no longer are, so it goes.
  const after = await stat(localPath).catch(() => null);
  if (!end.stats || identity(end.stats) !== identity(st) || !after || identity(after) !== identity(st)) {
    await forget();
    throw new CliError(`${localPath} changed while it was being uploaded; nothing was committed. Run the same command again once it is no longer being written.`, EXIT.ERROR, 'FILE_CHANGED');
  }
  const resumedFrom = prefix.offset;
  const { manifest } = sent;
  const chunkIds = [...new Set(manifest.chunks.map((c) => c.chunkId))];
  if (state.baseVersion > 0 && await sameContent(ctx, node, state.baseVersion, manifest)) {
    // The file holds what its current version holds (chunk ids are keyed hashes of the plaintext,
    // in order): no new version, which would push real history out of the retention window and
    // tell every other device of a change. The upload expires on the server by itself.
    await forget();
    return {
      path: opts.remotePath, nodeId: node.id, version: state.baseVersion, size: manifest.size,
      chunks: manifest.chunks.length, chunksSent: sent.chunksSent, bytesSent: sent.bytesSent, resumed, resumedFrom, unchanged: true,
    };
  }
  const version = state.baseVersion + 1;
  const meta = { name, mime: guessMime(name), size: manifest.size, mtime: Math.round(st.mtimeMs) };
  const metadata = b64(await cc.sealMetadata(keys, meta));
  try {
    const res = await ctx.api.json<{ version: number }>('POST', `/api/nodes/${node.id}/versions`, {
      body: {
        uploadId: state.uploadId,
        baseVersion: state.baseVersion,
        manifest: b64(await cc.sealManifest(keys, version, manifest)),
        chunkIds,
        metadata,
        deviceId: ctx.session.deviceId, // shown in the version history
      },
    });
    await forget();
    ctx.tree.remember({ ...node, version: res.version ?? version, metadata });
    return {
      path: opts.remotePath, nodeId: node.id, version: res.version ?? version, size: manifest.size,
      chunks: manifest.chunks.length, chunksSent: sent.chunksSent, bytesSent: sent.bytesSent, resumed, resumedFrom,
    };
  } catch (err) {
    if (resumedFrom > 0 && err instanceof ApiError && err.code === 'CHUNK_MISSING') {
      // The journal named a chunk the upload does not hold (edited under COFFER_HOME?): send the
      // whole file again, as a fresh upload.
      await forget();
      return putFile(ctx, localPath, parent, name, opts);
    }
    if (err instanceof ApiError && err.code === 'VERSION_CONFLICT') {
      // Someone else committed a newer version since this put started: keep both (format §7 never
      // lets us overwrite blindly), as a sibling "name (conflict from HOST DATE).ext".
      await forget();
      ctx.tree.forgetChildren(parent.id);
      let copyName = conflictName(name);
      for (let n = 2; await ctx.tree.child(parent, copyName); n++) copyName = conflictName(name).replace(/\)(\.[^.]*)?$/, ` ${n})$1`);
      const dirPath = opts.remotePath.replace(/\/[^/]*$/, '');
      const copy = await putFile(ctx, localPath, parent, copyName, { ...opts, remotePath: `${dirPath}/${copyName}`, forceNew: true });
      return { ...copy, bytesSent: copy.bytesSent + sent.bytesSent, chunksSent: copy.chunksSent + sent.chunksSent, conflictCopy: copy.path };
    }
    throw err;
  }
}

/** Whether version `v` of `node` lists exactly the chunks of `manifest`, in the same order. */
async function sameContent(ctx: Context, node: RemoteNode, v: number, manifest: Manifest): Promise<boolean> {
  const current = await ctx.tree.version(node, v);
  return current.chunkIds.length === manifest.chunks.length
    && manifest.chunks.every((c, i) => c.chunkId === current.chunkIds[i]);
}

/**
 * Streams, chunks, encrypts and sends the chunks the server lacks, after the `prefix` of chunks
 * an earlier run sent; records the chunks held by the server in order in the journal. Returns the
 * manifest of the whole file.
 */
async function sendChunks(
  ctx: Context, localPath: string, uploadId: string,
  opts: { journalPath: string; prefix: JournalPrefix; progress?: Progress; end: { stats?: Stats } },
): Promise<{ manifest: Manifest; chunksSent: number; bytesSent: number }> {
  const { prefix, progress } = opts;
  const entries: ManifestEntry[] = [...prefix.entries];
  const puts = new Map<string, Promise<unknown>>(); // this run's PUT of each chunk id, sent or under way
  const probe = new DedupProbe();
  const inflight = new Set<Promise<void>>();
  let failure: unknown = null;
  let chunksSent = 0;
  let bytesSent = 0;
  let size = prefix.offset;
  progress?.add(prefix.offset);
  // Chunks the server holds, by index: `recorded` of them, in order, are in the journal; the
  // others wait in `held` for the ones before them.
  const journal = new JournalWriter(opts.journalPath, uploadId, prefix);
  const held = new Set<number>();
  let recorded = prefix.entries.length;
  const abortAfter = Number(process.env.COFFER_DEBUG_ABORT_AFTER_CHUNKS ?? NaN);
  const isHeld = (index: number) => {
    held.add(index);
    const from = recorded;
    while (held.delete(recorded)) recorded++;
    if (recorded === from) return;
    journal.append(entries.slice(from, recorded));
    if (recorded - prefix.entries.length >= abortAfter) throw new CliError('aborted for a test (COFFER_DEBUG_ABORT_AFTER_CHUNKS)');
  };
  // Room for the records alive at once (~26 of ~1 MiB on average: two batches under way, one being
  // gathered, one being sealed).
  const records = new cc.BufferPool(32 * 1024 * 1024);

  const runBatch = async (batch: { chunk: EncryptedChunk; index: number }[]): Promise<void> => {
    const ids = [...new Set(batch.map(({ chunk }) => chunk.entry.chunkId))];
    const checked = probe.checking; // decided in launch order, before the first await
    let missing = ids;
    if (checked) {
      ({ missing } = await ctx.api.json<{ missing: string[] }>('POST', '/api/chunks/check', { body: { uploadId, ids } }));
      probe.checked(ids.length, missing.length);
    }
    // The chunks the server lacks go in one request (docs/api.md, POST /api/chunks/batch), each
    // once: a chunk that this run already sends or sent is waited for instead.
    const want = new Set(missing.filter((id) => !puts.has(id)));
    const sending = batch.filter(({ chunk }) => want.delete(chunk.entry.chunkId)).map(({ chunk }) => chunk);
    await Promise.all(requestsOf(sending).map(async (group) => {
      const put = sendRecords(ctx.api, uploadId, group);
      for (const c of group) puts.set(c.entry.chunkId, put);
      const created = await put;
      if (!checked) probe.sent(group.length, created);
      chunksSent += group.length;
      bytesSent += group.reduce((n, c) => n + c.record.byteLength, 0);
    }));
    for (const { chunk: c, index } of batch) {
      await puts.get(c.entry.chunkId); // the same bytes earlier in the file, perhaps still on their way
      records.give(c.record);
      progress?.add(c.entry.plainLength);
      isHeld(index);
    }
  };

  const launch = (batch: { chunk: EncryptedChunk; index: number }[]) => {
    const p: Promise<void> = runBatch(batch).then(
      () => void inflight.delete(p),
      (err) => {
        inflight.delete(p);
        failure ??= err;
      },
    );
    inflight.add(p);
  };

  const source = readPieces(localPath, prefix.offset, opts.end);
  try {
    let batch: { chunk: EncryptedChunk; index: number }[] = [];
    for await (const chunk of cc.encryptStream(ctx.vault, source, { concurrency: ENCRYPT_CONCURRENCY, recordBuffer: records.take })) {
      if (failure) throw failure;
      batch.push({ chunk, index: entries.length });
      entries.push(chunk.entry);
      size += chunk.entry.plainLength;
      if (batch.length >= CHECK_BATCH) {
        launch(batch);
        batch = [];
        while (inflight.size >= BATCH_IN_FLIGHT && !failure) await Promise.race(inflight);
      }
    }
    if (batch.length) launch(batch);
    await Promise.all(inflight);
    if (failure) throw failure;
  } finally {
    await source.return(undefined);
    await journal.close();
  }
  return { manifest: { size, chunks: entries }, chunksSent, bytesSent };
}

export interface GetResult {
  path: string;
  size: number;
  chunks: number;
  resumed: boolean;
  /** The file was already at `dest`, byte for byte (nothing was downloaded). */
  unchanged: boolean;
}

interface Sidecar {
  nodeId: string;
  version: number;
  done: number;   // chunks verified and written
  bytes: number;  // bytes of those chunks
  /** A share link's download: the localTag of each of those chunks, in order. */
  tags?: string[];
}

/**
 * Whether bytes read back from disk are chunk `i` of the manifest being downloaded: a resumed or
 * repeated download trusts nothing on disk that it cannot check.
 */
type ChunkCheck = (i: number, plain: Uint8Array) => Promise<boolean>;

/**
 * With the vault's key the bytes must hash to the chunk's id (format §6.2). A share link's download
 * cannot compute ids (their key is the sharer's), so the bytes must give the tag it recorded of the
 * chunk when it wrote it, verified (`tags`, from its sidecar or its record of a finished file).
 */
function checkOf(tree: Tree, manifest: Manifest, tags: unknown): ChunkCheck {
  if (tree.vault) {
    const vault = tree.vault;
    return async (i, plain) => (await cc.chunkIdOf(vault, plain)) === manifest.chunks[i]!.chunkId;
  }
  const known: readonly unknown[] = Array.isArray(tags) ? tags : [];
  return async (i, plain) => typeof known[i] === 'string' && (await localTag(manifest.chunks[i]!, plain)) === known[i];
}

const LOCAL_TAG_LABEL = new TextEncoder().encode('coffer/v1/local-chunk-tag');

/**
 * The tag a share link's download records of a chunk it wrote: HMAC-SHA-256 of its bytes under a
 * key derived from the chunk's key, which only the manifest gives, so that a sidecar or record read
 * without the link confirms no guess of the content (as a plain hash would). node:crypto computes
 * it on this thread, without the copy of the chunk and the key import WebCrypto's sign made: 0.16
 * against 0.23–0.29 CPU-s per 256 MiB, a fetch's CPU ~8 % lower (desktop-agent/README.md).
 */
async function localTag(entry: ManifestEntry, plain: Uint8Array): Promise<string> {
  const tagKey = createHmac('sha256', entry.chunkKey).update(LOCAL_TAG_LABEL).digest();
  return b64(createHmac('sha256', tagKey).update(plain).digest());
}

/**
 * Where a share link's download keeps the tags of a file it finished, by the file's local path:
 * the next fetch to that path reads the file against them instead of downloading it again (see
 * sameFileThere). Not in the file's folder, which the user owns; COFFER_HOME is the CLI's.
 */
function recordKey(dest: string): string {
  return createHash('sha256').update(resolve(dest)).digest('hex').slice(0, 32);
}

/** The record of `dest`: null when there is none; `tags` undefined when it cannot be read. */
async function recordOf(dest: string): Promise<{ tags: unknown } | null> {
  let text: string;
  try {
    text = await readFile(await fetchedFile(recordKey(dest)), 'utf8');
  } catch {
    return null; // none: the file is downloaded
  }
  try {
    return { tags: (JSON.parse(text) as { tags?: unknown }).tags };
  } catch {
    return { tags: undefined };
  }
}

/** The chunks at the start of a partial file, of its first `done`, that `check` still finds there. */
async function intactPrefix(fh: FileHandle, manifest: Manifest, done: number, check: ChunkCheck): Promise<Pick<Sidecar, 'done' | 'bytes'>> {
  let bytes = 0;
  for (let i = 0; i < done; i++) {
    const entry = manifest.chunks[i]!;
    const plain = buffers.take(entry.plainLength);
    try {
      const { bytesRead } = await fh.read(plain, 0, entry.plainLength, bytes);
      if (bytesRead !== entry.plainLength || !(await check(i, plain))) return { done: i, bytes };
    } finally {
      buffers.give(plain);
    }
    bytes += entry.plainLength;
  }
  return { done, bytes };
}

/** Downloads the current version of file `node` to `dest` (atomically: partial file, then rename). */
export async function getFile(tree: Tree, node: RemoteNode, dest: string, opts: { progress?: Pick<Progress, 'add' | 'set'> } = {}): Promise<GetResult> {
  const keys = await tree.keysOf(node);
  const meta = await tree.meta(node);
  const partial = `${dest}.coffer-partial`;
  const sidecarPath = `${partial}.json`;
  let manifest: Manifest = { size: 0, chunks: [] };
  if (node.version > 0) {
    const info = await tree.version(node, node.version);
    manifest = await guard(cc.openManifest(keys, node.version, unb64(info.manifest)), `the manifest of ${basename(dest)}`);
  }

  const recorded = tree.vault ? null : await recordOf(dest);
  const unchanged = await sameFileThere(dest, manifest, checkOf(tree, manifest, recorded?.tags));
  if (recorded) {
    // A record is kept while it describes the file at its path: used, it counts as recently used
    // (pruneFetched keeps those); otherwise it goes (the file is gone or changed, or the link now
    // gives other bytes), and a new one is written once the file is downloaded again.
    const path = await fetchedFile(recordKey(dest));
    const now = new Date();
    await (unchanged ? utimes(path, now, now) : rm(path, { force: true })).catch(() => {});
  }
  if (unchanged) {
    opts.progress?.set(manifest.size);
    await utimes(dest, new Date(meta.mtime), new Date(meta.mtime)).catch(() => {});
    return { path: dest, size: manifest.size, chunks: manifest.chunks.length, resumed: false, unchanged };
  }

  let side: Sidecar = { nodeId: node.id, version: node.version, done: 0, bytes: 0 };
  try {
    const prev = JSON.parse(await readFile(sidecarPath, 'utf8')) as Sidecar;
    const pst = await stat(partial);
    // A share link's sidecar without tags (an older CLI's) names chunks nothing can check.
    const checkable = tree.vault || Array.isArray(prev.tags);
    if (checkable && prev.nodeId === node.id && prev.version === node.version && pst.size >= prev.bytes && prev.done <= manifest.chunks.length) side = prev;
  } catch {
    /* nothing to resume */
  }
  const fh = await open(partial, side.done > 0 ? 'r+' : 'w', 0o600);
  // A share link's download records the tag of each chunk it writes, for a later run to check.
  let tags: string[] | null = tree.vault ? null : [];
  if (side.done > 0) {
    const good = await intactPrefix(fh, manifest, side.done, checkOf(tree, manifest, side.tags));
    if (good.done < side.done) {
      process.stderr.write(`coffer: warning: ${partial} changed since the last run; downloading again from byte ${good.bytes}\n`);
    }
    if (tags) tags = side.tags!.slice(0, good.done);
    side = { nodeId: node.id, version: node.version, ...good };
  }
  const resumed = side.done > 0;
  let ok = false;
  // A sync of the partial file under way, and how the last one failed (below).
  const sync: { running: Promise<void> | null; failed: { error: unknown } | null } = { running: null, failed: null };
  try {
    await fh.truncate(side.bytes);
    opts.progress?.set(side.bytes);
    const n = manifest.chunks.length;
    const pending = new Map<number, Promise<{ plain: Uint8Array; tag: string | null }>>();
    let next = side.done;
    const fetchOne = async (i: number): Promise<{ plain: Uint8Array; tag: string | null }> => {
      const entry = manifest.chunks[i]!;
      const record = await tree.api.bytes('GET', tree.source.chunk(entry.chunkId), { into: buffers.take });
      let plain: Uint8Array;
      try {
        plain = await guard(cc.decryptChunk(entry, record, buffers.take), `chunk ${i + 1} of ${basename(dest)}`);
      } finally {
        buffers.give(record);
      }
      return { plain, tag: tags ? await localTag(entry, plain) : null };
    };
    // The sidecar names only bytes already on disk. About once a second the bytes written so far are
    // synced while writing goes on, and the sidecar then records what that sync covered; the last
    // chunk (and a test's abort) syncs and records in line.
    let lastSync = Date.now();
    const record = async (covered: Sidecar) => {
      await fh.datasync();
      await writePrivate(sidecarPath, JSON.stringify({ ...covered, tags: tags?.slice(0, covered.done) }));
    };
    const abortAfter = Number(process.env.COFFER_DEBUG_ABORT_AFTER_CHUNKS ?? NaN);
    for (let i = side.done; i < n; i++) {
      while (next < n && next - i < DOWNLOAD_CONCURRENCY) {
        const p = fetchOne(next);
        p.catch(() => {});
        pending.set(next++, p);
      }
      const { plain, tag } = await pending.get(i)!;
      pending.delete(i);
      if (sync.failed) throw sync.failed.error;
      await fh.write(plain, 0, plain.byteLength, side.bytes);
      buffers.give(plain);
      tags?.push(tag!);
      side = { ...side, done: i + 1, bytes: side.bytes + plain.byteLength };
      opts.progress?.add(plain.byteLength);
      const abort = side.done >= abortAfter && i < n - 1;
      if (i === n - 1 || abort) {
        await sync.running;
        await record(side);
      } else if (Date.now() - lastSync > 1000 && sync.running === null) {
        const started = record(side);
        sync.running = started;
        started.then(() => void (sync.running = null), (error: unknown) => void (sync.failed = { error }));
        lastSync = Date.now();
      }
      if (abort) throw new CliError('aborted for a test (COFFER_DEBUG_ABORT_AFTER_CHUNKS)');
    }
    if (side.bytes !== manifest.size) throw new IntegrityError(`${basename(dest)}: got ${side.bytes} bytes, the manifest says ${manifest.size}`);
    await fh.sync();
    ok = true;
  } catch (err) {
    await sync.running?.catch(() => {}); // before the file closes, and before a sidecar could be removed
    if (err instanceof IntegrityError) {
      await fh.close().catch(() => {});
      await rm(partial, { force: true });
      await rm(sidecarPath, { force: true });
    }
    throw err;
  } finally {
    if (ok) await fh.close();
    else await fh.close().catch(() => {});
  }
  await rename(partial, dest);
  await rm(sidecarPath, { force: true });
  if (tags) {
    // Without it a later fetch to `dest` only downloads the file again: a warning, not a failure.
    await writePrivate(await fetchedFile(recordKey(dest), true), JSON.stringify({ tags })).catch((err: unknown) => {
      process.stderr.write(`coffer: warning: ${dest} is complete, but its tags could not be kept in COFFER_HOME (${(err as Error).message}): a fetch to it again downloads it again\n`);
    });
  }
  const mtime = new Date(meta.mtime);
  await utimes(dest, mtime, mtime).catch(() => {});
  return { path: dest, size: manifest.size, chunks: manifest.chunks.length, resumed, unchanged: false };
}

/**
 * Whether `dest` is already a file with exactly the manifest's bytes (a get or fetch run again, say
 * after an interrupted folder get): of the right size, and `check` finding every chunk there.
 * Reading costs far less than downloading. A share link's download can check only a file it wrote
 * itself (checkOf): another copy of the same bytes is downloaded again.
 */
async function sameFileThere(dest: string, manifest: Manifest, check: ChunkCheck): Promise<boolean> {
  const st = await stat(dest).catch(() => null);
  if (!st?.isFile() || st.size !== manifest.size) return false;
  const fh = await open(dest, 'r').catch(() => null);
  if (!fh) return false;
  try {
    const n = manifest.chunks.length;
    return (await intactPrefix(fh, manifest, n, check)).done === n;
  } finally {
    await fh.close();
  }
}
