// Uploads and chunks (docs/api.md §Chunks and uploads). Chunk bodies are opaque ciphertext;
// the server checks their digest and size, stores them under a per-account blob key and counts
// them against the quota before any byte is written.
import { createHash, randomBytes } from 'node:crypto';
import { BufferPool } from '@coffer/crypto-core/buffer-pool';
import { eq, sql } from 'drizzle-orm';
import { Hono } from 'hono';
import { requireSession, type AppContext, type AppEnv } from '../context.js';
import { queryRows, type Executor } from '../db/client.js';
import { accounts, chunks, uploads } from '../db/schema/core.js';
import { blobResponse } from '../blob/send.js';
import { blobKey } from '../blob/store.js';
import { readBody } from '../body.js';
import { ApiError, notFound } from '../errors.js';
import { MAX_CHUNK_BYTES } from '../limits.js';
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

  const preCheck = (() => {
    const accountId = sql.placeholder('accountId');
    const uploadId = sql.placeholder('uploadId');
    const chunkId = sql.placeholder('chunkId');
    return ctx.db.select({
      used: accounts.usedBytes,
      live: sql<boolean>`exists (select 1 from ${uploads} where ${uploads.id} = ${uploadId} and ${uploads.accountId} = ${accountId} and ${uploads.expiresAt} > now())`,
      stored: sql<boolean>`exists (select 1 from ${chunks} where ${chunks.accountId} = ${accountId} and ${chunks.id} = ${chunkId})`,
    }).from(accounts).where(eq(accounts.id, accountId)).prepare('chunk_pre_check');
  })();

  /** Checks and stores one chunk body for an upload; true when it made a new chunk row. */
  const storeChunk = async (accountId: string, uploadId: string, chunkId: string, expected: Buffer, data: Uint8Array): Promise<boolean> => {
    if (data.byteLength === 0) throw new ApiError(400, 'INVALID_INPUT', 'A chunk cannot be empty');
    if (!createHash('sha256').update(data).digest().equals(expected)) {
      throw new ApiError(400, 'DIGEST_MISMATCH', 'The body does not match Content-Digest');
    }
    const key = blobKey(accountId, chunkId);

    // A read without locks first: the upload must be live, and a chunk not yet stored must fit the
    // quota before any byte is written. The transaction below re-checks both under locks; this
    // read only spares a blob write that would be refused, without a second transaction per PUT
    // (on PGlite every transaction queues behind the one connection).
    const [pre] = await preCheck.execute({ accountId, uploadId, chunkId });
    if (!pre?.live) throw uploadNotFound();
    if (!pre.stored) {
      if (pre.used + data.byteLength > ctx.config.quotaBytes) throw quotaExceeded();
      await ctx.blobs.put(key, data);
    }
    // (If the statement below fails, the blob just written stays without a row: harmless, and
    // removed by the orphan sweep after the grace period. Deleting it here could race with a
    // concurrent PUT of the same chunk.)
    const expiresAt = new Date(Date.now() + ctx.config.uploadTtlSeconds * 1000);
    // One statement renews the upload (and locks it), inserts or touches the chunk row (locking it
    // against the collector), charges the quota for a new row and attaches the chunk to the upload.
    const attach = async (db: Executor) => {
      const [result] = await queryRows<{ live: boolean; inserted: boolean; charged: boolean }>(db, sql`
        with up as (
          update uploads set expires_at = ${expiresAt.toISOString()}
          where id = ${uploadId} and account_id = ${accountId} and expires_at > now()
          returning id
        ), ins as (
          insert into chunks (account_id, id, size) select ${accountId}, ${chunkId}, ${data.byteLength} from up
          on conflict (account_id, id) do update set touched_at = now()
          returning (xmax = 0) as inserted
        ), charge as (
          update accounts set used_bytes = used_bytes + ${data.byteLength}
          where id = ${accountId} and exists (select 1 from ins where inserted)
            and used_bytes + ${data.byteLength} <= ${ctx.config.quotaBytes}
          returning 1
        ), att as (
          insert into upload_chunks (upload_id, account_id, chunk_id) select id, ${accountId}, ${chunkId} from up
          on conflict do nothing
        )
        select exists (select 1 from up) as live,
               coalesce((select inserted from ins), false) as inserted,
               exists (select 1 from charge) as charged`);
      if (!result?.live) throw uploadNotFound();
      if (result.inserted && !result.charged) throw quotaExceeded();
      return result.inserted;
    };
    // When the blob was just written, the statement runs alone (atomic by itself; on PGlite the
    // BEGIN and COMMIT round trips queue behind its one connection). The collector cannot touch
    // this blob meanwhile: the pre-check found no row, and a row that appears since is freshly
    // touched, so inside the grace period.
    const blobThere = async () => {
      if (!(await ctx.blobs.has(key))) await ctx.blobs.put(key, data);
    };
    if (pre.stored) {
      return ctx.db.transaction(async (tx) => {
        const inserted = await attach(tx);
        // The chunk row is locked now, so no collector can remove the blob. This PUT skipped the
        // write because the chunk was stored; a collection (or a failed one) in between may have
        // removed the blob: write it again in that case.
        await blobThere();
        return inserted;
      });
    }
    const inserted = await attach(ctx.db);
    // The orphan sweep may have set the blob aside between its write and the statement above, and
    // dropped it before the row appeared (services/gc.ts, sweepBlobs): write it again then.
    await blobThere();
    return inserted;
  };

  r.put('/:chunkId', async (c) => {
    const { accountId } = c.get('session');
    const chunkId = c.req.param('chunkId');
    if (!CHUNK_ID.test(chunkId)) throw new ApiError(400, 'INVALID_INPUT', 'chunkId must be 64 lowercase hex digits');
    const uploadId = id16(c.req.query('upload'), 'upload');
    const expected = sha256FromDigestHeader(c.req.header('content-digest'));
    const data = await readBody(c, MAX_CHUNK_BYTES, chunkTooLarge, bodies.take);
    let created: boolean;
    try {
      created = await storeChunk(accountId, uploadId, chunkId, expected, data);
    } finally {
      bodies.give(data);
    }
    return c.body(null, created ? 201 : 200);
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

  refuseOtherMethods(r, ['/check', '/:chunkId']);
  return r;
}

const chunkTooLarge = () => new ApiError(413, 'CHUNK_TOO_LARGE', `A chunk is at most ${MAX_CHUNK_BYTES} bytes`);
const quotaExceeded = () => new ApiError(507, 'QUOTA_EXCEEDED', 'The account storage quota is used up');
