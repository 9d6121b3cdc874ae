// File versions (docs/api.md §Chunks and uploads): commit, list, fetch. Mounted under /api/nodes
// by nodes.ts, which already authenticated the request.
import { and, asc, desc, eq, lte } from 'drizzle-orm';
import { Hono } from 'hono';
import type { AppContext, AppEnv } from '../context.js';
import { nodes, uploads, versionChunks, versions } from '../db/schema/core.js';
import { ApiError, notFound } from '../errors.js';
import { MAX_CHUNKS_PER_VERSION, MAX_MANIFEST_BYTES, MAX_METADATA } from '../limits.js';
import { writeForAccount } from '../services/changes.js';
import { liveUpload, touchChunks } from '../services/chunks.js';
import { findNode } from '../services/nodes.js';
import { array, base64url, id16, id32, integer, onlyKeys, optional, readJson } from '../validate.js';
import { refuseOtherMethods } from './method.js';

const ROWS_PER_INSERT = 5000;

export function versionRoutes(ctx: AppContext): Hono<AppEnv> {
  const r = new Hono<AppEnv>();

  r.post('/:id/versions', async (c) => {
    const { accountId } = c.get('session');
    const body = await readJson(c);
    onlyKeys(body, ['uploadId', 'baseVersion', 'manifest', 'chunkIds', 'metadata', 'deviceId']);
    const uploadId = id16(body.uploadId, 'uploadId');
    const baseVersion = integer(body.baseVersion, 'baseVersion', 0, 2 ** 31 - 2);
    const manifest = base64url(body.manifest, 'manifest', MAX_MANIFEST_BYTES);
    const chunkIds = array(body.chunkIds, 'chunkIds', MAX_CHUNKS_PER_VERSION).map((v, i) => id32(v, `chunkIds[${i}]`));
    const metadata = base64url(body.metadata, 'metadata', MAX_METADATA);
    const deviceId = optional(body.deviceId, (v) => id16(v, 'deviceId')) ?? null;

    const { version, repeated } = await writeForAccount(ctx, accountId, async (tx, record) => {
      const node = await findNode(tx, accountId, c.req.param('id'), true);
      if (node.kind !== 'file') throw new ApiError(400, 'NOT_A_FILE', 'Only files have versions');
      if (node.trashedAt !== null) throw new ApiError(409, 'NODE_TRASHED', 'Restore the file before changing it');
      let upload;
      try {
        upload = await liveUpload(tx, accountId, uploadId, ctx.config.uploadTtlSeconds);
      } catch (err) {
        // The same commit again (its answer was lost, the client retried): the commit ended the
        // upload; the version it made is answered again instead of a 404 the client would take
        // for a failure.
        if (!(err instanceof ApiError && err.code === 'UPLOAD_NOT_FOUND')) throw err;
        const [done] = await tx.select({ version: versions.version }).from(versions).where(and(
          eq(versions.accountId, accountId), eq(versions.nodeId, node.id), eq(versions.uploadId, uploadId),
          eq(versions.version, baseVersion + 1),
        ));
        if (done) return { version: done.version, repeated: true };
        throw err;
      }
      if (upload.nodeId !== node.id) throw new ApiError(404, 'UPLOAD_NOT_FOUND', 'The upload belongs to another file');
      if (baseVersion !== node.version) {
        throw new ApiError(409, 'VERSION_CONFLICT', 'The file changed since baseVersion', { currentVersion: node.version });
      }
      const sizes = await touchChunks(tx, accountId, chunkIds);
      const missing = [...new Set(chunkIds)].filter((id) => !sizes.has(id));
      if (missing.length > 0) throw new ApiError(400, 'CHUNK_MISSING', 'Some chunks are not stored', { missing });

      const next = node.version + 1;
      const storedSize = chunkIds.reduce((sum, id) => sum + sizes.get(id)!, 0);
      await tx.insert(versions).values({ accountId, nodeId: node.id, version: next, manifest, storedSize, deviceId, uploadId });
      const rows = chunkIds.map((chunkId, position) => ({ accountId, nodeId: node.id, version: next, position, chunkId }));
      for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
        await tx.insert(versionChunks).values(rows.slice(i, i + ROWS_PER_INSERT));
      }
      await tx.update(nodes).set({ version: next, size: storedSize, metadata, updatedAt: new Date() })
        .where(and(eq(nodes.accountId, accountId), eq(nodes.id, node.id)));
      await tx.delete(uploads).where(eq(uploads.id, upload.id));
      // Retention: keep the newest `keepVersions`; the chunks of pruned versions go to the collector.
      // (Nothing to prune before there are that many: a new file's first commits skip the statement.)
      if (next > ctx.config.keepVersions) {
        await tx.delete(versions).where(and(
          eq(versions.accountId, accountId), eq(versions.nodeId, node.id), lte(versions.version, next - ctx.config.keepVersions),
        ));
      }
      await record(node.id, 'version');
      return { version: next, repeated: false };
    });
    return c.json({ version }, repeated ? 200 : 201);
  });

  r.get('/:id/versions', async (c) => {
    const { accountId } = c.get('session');
    const node = await findNode(ctx.db, accountId, c.req.param('id'));
    const rows = await ctx.db.select({
      version: versions.version, createdAt: versions.createdAt, deviceId: versions.deviceId, storedSize: versions.storedSize,
    }).from(versions).where(and(eq(versions.accountId, accountId), eq(versions.nodeId, node.id)))
      .orderBy(desc(versions.version));
    return c.json({ versions: rows.map((v) => ({ ...v, createdAt: v.createdAt.toISOString() })) });
  });

  r.get('/:id/versions/:v', async (c) => {
    const { accountId } = c.get('session');
    const node = await findNode(ctx.db, accountId, c.req.param('id'));
    const v = c.req.param('v');
    // Versions are 32-bit integers in the database (format §7: u32, and the server's column).
    if (!/^[1-9]\d{0,9}$/.test(v) || Number(v) > 2 ** 31 - 1) throw notFound('No such version');
    const where = and(eq(versions.accountId, accountId), eq(versions.nodeId, node.id), eq(versions.version, Number(v)));
    const [row] = await ctx.db.select().from(versions).where(where);
    if (!row) throw notFound('No such version');
    const chunkRows = await ctx.db.select({ chunkId: versionChunks.chunkId }).from(versionChunks)
      .where(and(eq(versionChunks.accountId, accountId), eq(versionChunks.nodeId, node.id), eq(versionChunks.version, row.version)))
      .orderBy(asc(versionChunks.position));
    return c.json({
      version: row.version, manifest: row.manifest, chunkIds: chunkRows.map((r) => r.chunkId),
      createdAt: row.createdAt.toISOString(), storedSize: row.storedSize, deviceId: row.deviceId,
    });
  });

  refuseOtherMethods(r, ['/:id/versions', '/:id/versions/:v']);
  return r;
}
