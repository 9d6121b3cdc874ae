// Uploads and chunks (docs/api.md §Chunks and uploads). Chunk bodies are opaque ciphertext;
// the server checks their digest and size, stores them under a per-account blob key and counts
// them against the quota before any byte is written.
import { createHash, randomBytes } from 'node:crypto';
import { BufferPool } from '@coffer/crypto-core/buffer-pool';
import { eq, sql } from 'drizzle-orm';
import { Hono, type Context } from 'hono';
import { requireSession, type AppContext, type AppEnv } from '../context.js';
import { queryRows, type Executor } from '../db/client.js';
import { accounts, chunks, uploads } from '../db/schema/core.js';
import { blobResponse } from '../blob/send.js';
import { blobKey } from '../blob/store.js';
import { readBody } from '../body.js';
import { ApiError, notFound } from '../errors.js';
import { MAX_BATCH_BYTES, MAX_BATCH_CHUNKS, MAX_CHUNK_BYTES } from '../limits.js';
import { checkChunks, chunkReferenced, uploadNotFound } from '../services/chunks.js';
import { findNode } from '../services/nodes.js';
import { array, id16, id32, readJson } from '../validate.js';
import { refuseOtherMethods } from './method.js';

const CHUNK_ID = /^[0-9a-f]{64}$/;

export function uploadRoutes(ctx: AppContext): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.use('*', requireSession(ctx));
  r.post('/', async (c) => {
    const { accountId } = c.get('session');
    const body = await readJson(c);
    const node = await findNode(ctx.db, accountId, id16(body.nodeId, 'nodeId'));
    if (node.kind !== 'file') throw new ApiError(400, 'NOT_A_FILE', 'Only files take uploads');
    const id = randomBytes(16).toString('hex');
    const expiresAt = new Date(Date.now() + ctx.config.uploadTtlSeconds * 1000);
    await ctx.db.insert(uploads).values({ id, accountId, nodeId: node.id, expiresAt });
    return c.json({ uploadId: id, expiresAt: expiresAt.toISOString() }, 201);
  });
  refuseOtherMethods(r, ['/']);
  return r;
}

/** Parses `Content-Digest: sha-256=:<base64>:` (RFC 9530); other algorithms are ignored. */
function sha256FromDigestHeader(header: string | undefined): Buffer {
  const m = header ? /(?:^|,)\s*sha-256=:([A-Za-z0-9+/]{43}=):/i.exec(header) : null;
  if (!m) throw new ApiError(400, 'DIGEST_REQUIRED', 'Send Content-Digest: sha-256=:<base64>: (RFC 9530)');
  return Buffer.from(m[1]!, 'base64');
}

/** A chunk body as a request brought it. */
interface Incoming {
  id: string;
  data: Uint8Array;
}

/**
 * Parses `Coffer-Chunks: <chunkId>:<length>, ...` (docs/api.md): 1 to MAX_BATCH_CHUNKS distinct
 * ids, each with the length of its record in the body.
 */
function parseChunkList(header: string | undefined): { id: string; length: number }[] {
  const usage = 'Send Coffer-Chunks: <chunkId>:<length>, ... listing the records of the body in order';
  if (!header) throw new ApiError(400, 'INVALID_INPUT', usage);
  const parts = header.split(',');
  if (parts.length > MAX_BATCH_CHUNKS) throw batchTooLarge();
  const seen = new Set<string>();
  return parts.map((part) => {
    const m = /^\s*([0-9a-f]{64}):([1-9][0-9]{0,7})\s*$/.exec(part);
    if (!m) throw new ApiError(400, 'INVALID_INPUT', usage);
    const id = m[1]!;
    const length = Number(m[2]);
    if (seen.has(id)) throw new ApiError(400, 'INVALID_INPUT', 'Coffer-Chunks lists a chunk id twice');
    seen.add(id);
    if (length > MAX_CHUNK_BYTES) throw chunkTooLarge();
    return { id, length };
  });
}

export function chunkRoutes(ctx: AppContext): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.use('*', requireSession(ctx));
  // Chunk bodies are read into these and given back when their PUT is answered: by then the blob
  // store is done with them (BlobStore.put).
  const bodies = new BufferPool(32 * 1024 * 1024);

  r.post('/check', async (c) => {
    const { accountId } = c.get('session');
    const body = await readJson(c);
    const uploadId = id16(body.uploadId, 'uploadId');
    const ids = array(body.ids, 'ids', 1000).map((v, i) => id32(v, `ids[${i}]`));
    const distinct = [...new Set(ids)];
    const present = await checkChunks(ctx.db, accountId, uploadId, distinct, ctx.config.uploadTtlSeconds);
    return c.json({ missing: distinct.filter((id) => !present.has(id)) });
  });

  /**
   * Stores the chunk bodies of one PUT or batch for an upload (their digest already checked);
   * returns how many made a new chunk row. Ids are distinct.
   */
  const storeChunks = async (accountId: string, uploadId: string, items: readonly Incoming[]): Promise<number> => {
    const ids = items.map((item) => item.id);
    // A read without locks first: the upload must be live, and the chunks not yet stored must fit
    // the quota before any byte is written. The statement below re-checks both under locks; this
    // read only spares blob writes that would be refused, without a second transaction per request
    // (on PGlite every transaction queues behind the one connection).
    const [pre] = await ctx.db.select({
      used: accounts.usedBytes,
      live: sql<boolean>`exists (select 1 from ${uploads} where ${uploads.id} = ${uploadId} and ${uploads.accountId} = ${accountId} and ${uploads.expiresAt} > now())`,
      stored: sql<string[] | null>`array(select ${chunks.id} from ${chunks} where ${chunks.accountId} = ${accountId} and ${chunks.id} in ${ids})`,
    }).from(accounts).where(eq(accounts.id, accountId));
    if (!pre?.live) throw uploadNotFound();
    const stored = new Set(pre.stored ?? []);
    const fresh = items.filter((item) => !stored.has(item.id));
    const freshBytes = fresh.reduce((sum, item) => sum + item.data.byteLength, 0);
    if (fresh.length > 0 && pre.used + freshBytes > ctx.config.quotaBytes) throw quotaExceeded();
    await Promise.all(fresh.map((item) => ctx.blobs.put(blobKey(accountId, item.id), item.data)));
    // (If the statement below fails, the blobs just written stay without a row: harmless, and
    // removed by the orphan sweep after the grace period. Deleting them here could race with a
    // concurrent PUT of the same chunk.)
    const expiresAt = new Date(Date.now() + ctx.config.uploadTtlSeconds * 1000);
    // In id order: concurrent batches lock the rows they share in one order, so never deadlock.
    const sorted = [...items].sort((x, y) => (x.id < y.id ? -1 : 1));
    const values = sql.join(sorted.map((item) => sql`(${item.id}, ${item.data.byteLength}::integer)`), sql`, `);
    // One statement renews the upload (and locks it), inserts or touches the chunk rows (locking
    // them against the collector), charges the quota for the new rows and attaches the chunks to
    // the upload.
    const attach = async (db: Executor): Promise<number> => {
      const [result] = await queryRows<{ live: boolean; inserted: number; charged: boolean }>(db, sql`
        with up as (
          update uploads set expires_at = ${expiresAt.toISOString()}
          where id = ${uploadId} and account_id = ${accountId} and expires_at > now()
          returning id
        ), given (id, size) as (
          values ${values}
        ), ins as (
          insert into chunks (account_id, id, size) select ${accountId}, given.id, given.size from up, given
          on conflict (account_id, id) do update set touched_at = now()
          returning size, (xmax = 0) as inserted
        ), added as (
          select count(*)::integer as rows, coalesce(sum(size), 0) as bytes from ins where inserted
        ), charge as (
          update accounts set used_bytes = used_bytes + added.bytes from added
          where id = ${accountId} and added.rows > 0 and used_bytes + added.bytes <= ${ctx.config.quotaBytes}
          returning 1
        ), att as (
          insert into upload_chunks (upload_id, account_id, chunk_id) select up.id, ${accountId}, given.id from up, given
          on conflict do nothing
        )
        select exists (select 1 from up) as live, (select rows from added) as inserted, exists (select 1 from charge) as charged`);
      if (!result?.live) throw uploadNotFound();
      if (result.inserted > 0 && !result.charged) throw quotaExceeded();
      return result.inserted;
    };
    // The orphan sweep may have set a blob aside between its write and the statement above, and
    // dropped it before the row appeared (services/gc.ts, sweepBlobs); and a collection (or a
    // failed one) may have removed the blob of a chunk stored earlier: write it again then.
    const blobsThere = () => Promise.all(items.map(async ({ id, data }) => {
      const key = blobKey(accountId, id);
      if (!(await ctx.blobs.has(key))) await ctx.blobs.put(key, data);
    }));
    // The statement runs in a transaction: when concurrent requests have used the quota since the
    // pre-check, it has inserted and attached chunks it did not charge, and the 507 must undo them.
    if (stored.size === 0) {
      // The collector cannot touch these blobs meanwhile: the pre-check found no rows, and a row
      // that appears since is freshly touched, so inside the grace period. So the blobs are checked
      // after the commit, not while the transaction holds PGlite's one connection.
      const inserted = await ctx.db.transaction(attach);
      await blobsThere();
      return inserted;
    }
    // Some chunks were stored already: their blobs are checked while the statement's row locks
    // keep the collector away.
    return ctx.db.transaction(async (tx) => {
      const inserted = await attach(tx);
      await blobsThere();
      return inserted;
    });
  };

  /** Reads the body of a chunk PUT or batch into a pooled buffer and checks its Content-Digest. */
  const readChunkBody = async (c: Context<AppEnv>, max: number, tooLarge: () => ApiError): Promise<Uint8Array> => {
    const expected = sha256FromDigestHeader(c.req.header('content-digest'));
    const data = await readBody(c, max, tooLarge, bodies.take);
    if (!createHash('sha256').update(data).digest().equals(expected)) {
      bodies.give(data);
      throw new ApiError(400, 'DIGEST_MISMATCH', 'The body does not match Content-Digest');
    }
    return data;
  };

  // Several chunks in one request (docs/api.md): one digest, one pre-check and one statement for
  // all of them, where single PUTs cost each chunk a request, two statements and a WAL flush.
  r.post('/batch', async (c) => {
    const { accountId } = c.get('session');
    const uploadId = id16(c.req.query('upload'), 'upload');
    const listed = parseChunkList(c.req.header('coffer-chunks'));
    const total = listed.reduce((sum, item) => sum + item.length, 0);
    if (total > MAX_BATCH_BYTES) throw batchTooLarge();
    const data = await readChunkBody(c, MAX_BATCH_BYTES, batchTooLarge);
    try {
      if (data.byteLength !== total) {
        throw new ApiError(400, 'INVALID_INPUT', `The body has ${data.byteLength} bytes where Coffer-Chunks lists ${total}`);
      }
      let at = 0;
      const items = listed.map(({ id, length }) => ({ id, data: data.subarray(at, (at += length)) }));
      const created = await storeChunks(accountId, uploadId, items);
      ctx.logger.info('chunk batch', { chunks: items.length, created });
      return c.json({ chunks: items.length, created });
    } finally {
      bodies.give(data);
    }
  });

  // Before the routes below, whose `:chunkId` would take these names.
  refuseOtherMethods(r, ['/check', '/batch']);

  r.put('/:chunkId', async (c) => {
    const { accountId } = c.get('session');
    const chunkId = c.req.param('chunkId');
    if (!CHUNK_ID.test(chunkId)) throw new ApiError(400, 'INVALID_INPUT', 'chunkId must be 64 lowercase hex digits');
    const uploadId = id16(c.req.query('upload'), 'upload');
    const data = await readChunkBody(c, MAX_CHUNK_BYTES, chunkTooLarge);
    try {
      if (data.byteLength === 0) throw new ApiError(400, 'INVALID_INPUT', 'A chunk cannot be empty');
      const created = await storeChunks(accountId, uploadId, [{ id: chunkId, data }]);
      return c.body(null, created > 0 ? 201 : 200);
    } finally {
      bodies.give(data);
    }
  });

  r.get('/:chunkId', async (c) => {
    const { accountId } = c.get('session');
    const chunkId = c.req.param('chunkId');
    if (!CHUNK_ID.test(chunkId) || !(await chunkReferenced(ctx.db, accountId, chunkId))) throw notFound('No such chunk');
    const blob = await ctx.blobs.get(blobKey(accountId, chunkId));
    if (!blob) {
      ctx.logger.error('referenced chunk has no blob', { blobStore: ctx.blobs.kind });
      throw notFound('No such chunk');
    }
    return blobResponse(c, blob, { 'Content-Type': 'application/octet-stream', 'Cache-Control': 'private, max-age=31536000, immutable' });
  });

  refuseOtherMethods(r, ['/:chunkId']);
  return r;
}

const chunkTooLarge = () => new ApiError(413, 'CHUNK_TOO_LARGE', `A chunk is at most ${MAX_CHUNK_BYTES} bytes`);
const batchTooLarge = () => new ApiError(413, 'BATCH_TOO_LARGE', `A batch holds at most ${MAX_BATCH_CHUNKS} chunks and ${MAX_BATCH_BYTES} bytes`);
const quotaExceeded = () => new ApiError(507, 'QUOTA_EXCEEDED', 'The account storage quota is used up');
