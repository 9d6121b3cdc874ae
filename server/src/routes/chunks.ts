// Uploads and chunks (docs/api.md §Chunks and uploads). Chunk bodies are opaque ciphertext;
// the server checks their digest and size, stores them under a per-account blob key and counts
// them against the quota before any byte is written.
import { createHash, randomBytes } from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import { Hono } from 'hono';
import { requireSession, type AppContext, type AppEnv } from '../context.js';
import { accounts, chunks, uploads } from '../db/schema/core.js';
import { blobKey } from '../blob/store.js';
import { readBody } from '../body.js';
import { ApiError, notFound } from '../errors.js';
import { MAX_CHUNK_BYTES } from '../limits.js';
import { attachToUpload, chunkReferenced, liveUpload, touchChunks } from '../services/chunks.js';
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

  r.post('/check', async (c) => {
    const { accountId } = c.get('session');
    const body = await readJson(c);
    const uploadId = id16(body.uploadId, 'uploadId');
    const ids = array(body.ids, 'ids', 1000).map((v, i) => id32(v, `ids[${i}]`));
    const missing = await ctx.db.transaction(async (tx) => {
      const upload = await liveUpload(tx, accountId, uploadId, ctx.config.uploadTtlSeconds);
      const present = await touchChunks(tx, accountId, ids);
      await attachToUpload(tx, accountId, upload.id, present.keys());
      return [...new Set(ids)].filter((id) => !present.has(id));
    });
    return c.json({ missing });
  });

  r.put('/:chunkId', async (c) => {
    const { accountId } = c.get('session');
    const chunkId = c.req.param('chunkId');
    if (!CHUNK_ID.test(chunkId)) throw new ApiError(400, 'INVALID_INPUT', 'chunkId must be 64 lowercase hex digits');
    const uploadId = id16(c.req.query('upload'), 'upload');
    const expected = sha256FromDigestHeader(c.req.header('content-digest'));
    const data = await readBody(c, MAX_CHUNK_BYTES, chunkTooLarge);
    if (data.byteLength === 0) throw new ApiError(400, 'INVALID_INPUT', 'A chunk cannot be empty');
    if (!createHash('sha256').update(data).digest().equals(expected)) {
      throw new ApiError(400, 'DIGEST_MISMATCH', 'The body does not match Content-Digest');
    }
    const key = blobKey(accountId, chunkId);

    // One transaction: the upload must be live; a chunk already stored is just attached to it;
    // otherwise the quota is checked before any byte is stored.
    const known = await ctx.db.transaction(async (tx) => {
      await liveUpload(tx, accountId, uploadId, ctx.config.uploadTtlSeconds);
      const present = await touchChunks(tx, accountId, [chunkId]);
      if (present.size > 0) {
        await attachToUpload(tx, accountId, uploadId, [chunkId]);
        return true;
      }
      const [account] = await tx.select({ used: accounts.usedBytes }).from(accounts).where(eq(accounts.id, accountId));
      if (!account || account.used + data.byteLength > ctx.config.quotaBytes) throw quotaExceeded();
      return false;
    });
    if (known) return c.body(null, 200);

    await ctx.blobs.put(key, data);
    // (If this transaction fails, the blob just written stays without a row: harmless, but it is
    // not collected. Deleting it here could race with a concurrent PUT of the same chunk.)
    const created = await ctx.db.transaction(async (tx) => {
      await liveUpload(tx, accountId, uploadId, ctx.config.uploadTtlSeconds); // locks it until we attach
      const [row] = await tx.insert(chunks).values({ accountId, id: chunkId, size: data.byteLength })
        .onConflictDoUpdate({ target: [chunks.accountId, chunks.id], set: { touchedAt: sql`now()` } })
        .returning({ inserted: sql<boolean>`(xmax = 0)` });
      const inserted = row?.inserted === true;
      if (inserted) {
        const [charged] = await tx.update(accounts).set({ usedBytes: sql`${accounts.usedBytes} + ${data.byteLength}` })
          .where(and(eq(accounts.id, accountId), sql`${accounts.usedBytes} + ${data.byteLength} <= ${ctx.config.quotaBytes}`))
          .returning({ used: accounts.usedBytes });
        if (!charged) throw quotaExceeded();
      }
      // We hold the row lock now, so no collector can remove the blob; a collection that finished
      // between our write and this transaction may have, though: write it again in that case.
      if (!(await ctx.blobs.has(key))) await ctx.blobs.put(key, data);
      await attachToUpload(tx, accountId, uploadId, [chunkId]);
      return inserted;
    });
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
    return c.body(blob.stream, 200, {
      'Content-Type': 'application/octet-stream',
      'Content-Length': String(blob.size),
      'Cache-Control': 'private, max-age=31536000, immutable',
    });
  });

  refuseOtherMethods(r, ['/check', '/:chunkId']);
  return r;
}

const chunkTooLarge = () => new ApiError(413, 'CHUNK_TOO_LARGE', `A chunk is at most ${MAX_CHUNK_BYTES} bytes`);
const quotaExceeded = () => new ApiError(507, 'QUOTA_EXCEEDED', 'The account storage quota is used up');
