// Chunk bookkeeping shared by uploads, commits and the collector. Every path that starts to rely
// on a stored chunk first UPDATEs its row (`touched_at`), which takes the row lock the collector
// also needs: whichever comes second sees the other's committed result (see gc.ts).
import { and, eq, gt, inArray, sql } from 'drizzle-orm';
import { queryRows, type Executor, type Tx } from '../db/client.js';
import { chunks, uploadChunks, uploads, versionChunks } from '../db/schema/core.js';
import { ApiError } from '../errors.js';

const BATCH = 1000;

/** Locks and touches the account's chunks among `ids`; returns the sizes of those that exist. */
export async function touchChunks(tx: Tx, accountId: string, ids: readonly string[]): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  const distinct = [...new Set(ids)].sort(); // one lock order for every caller: no deadlocks
  for (let i = 0; i < distinct.length; i += BATCH) {
    const rows = await tx.update(chunks).set({ touchedAt: sql`now()` })
      .where(and(eq(chunks.accountId, accountId), inArray(chunks.id, distinct.slice(i, i + BATCH))))
      .returning({ id: chunks.id, size: chunks.size });
    for (const row of rows) found.set(row.id, row.size);
  }
  return found;
}

/**
 * The chunk check of an upload, in one statement: renews (and locks) the live upload, touches the
 * account's chunks among `ids` that exist (locking them against the collector) and attaches those
 * to the upload, so they are kept until it ends. Returns the ids that exist; 404 UPLOAD_NOT_FOUND
 * when the upload is not live. Clients check a few ids at a time as they encrypt, so this runs
 * about once per chunk; as a transaction it took five round trips, each queued behind PGlite's one
 * connection.
 */
export async function checkChunks(ex: Executor, accountId: string, uploadId: string, ids: readonly string[], ttlSeconds: number): Promise<Set<string>> {
  const expiresAt = new Date(Date.now() + ttlSeconds * 1000).toISOString();
  // json_agg, not array(): the pool reads no array types (db/client.ts).
  const [result] = await queryRows<{ live: boolean; present: string[] | null }>(ex, sql`
    with up as (
      update uploads set expires_at = ${expiresAt}
      where id = ${uploadId} and account_id = ${accountId} and expires_at > now()
      returning id
    ), touched as (
      update chunks set touched_at = now()
      where account_id = ${accountId} and ${ids.length > 0 ? sql`id in ${ids}` : sql`false`}
        and exists (select 1 from up)
      returning id
    ), att as (
      insert into upload_chunks (upload_id, account_id, chunk_id)
      select up.id, ${accountId}, touched.id from up, touched
      on conflict do nothing
    )
    select exists (select 1 from up) as live, (select json_agg(id) from touched) as present`);
  if (!result?.live) throw uploadNotFound();
  return new Set(result.present ?? []);
}

export type UploadRow = typeof uploads.$inferSelect;

/** A live upload of the account (renewing its expiry), or 404 UPLOAD_NOT_FOUND. */
export async function liveUpload(ex: Executor, accountId: string, uploadId: string, ttlSeconds: number): Promise<UploadRow> {
  if (!/^[0-9a-f]{32}$/.test(uploadId)) throw uploadNotFound();
  const [row] = await ex.update(uploads).set({ expiresAt: new Date(Date.now() + ttlSeconds * 1000) })
    .where(and(eq(uploads.id, uploadId), eq(uploads.accountId, accountId), gt(uploads.expiresAt, sql`now()`)))
    .returning();
  if (!row) throw uploadNotFound();
  return row;
}

export const uploadNotFound = () => new ApiError(404, 'UPLOAD_NOT_FOUND', 'No such upload, or it expired');

const referencedQuery = (ex: Executor) => {
  const accountId = sql.placeholder('accountId');
  const chunkId = sql.placeholder('chunkId');
  const inVersion = ex.select({ one: sql`1` }).from(versionChunks)
    .where(and(eq(versionChunks.accountId, accountId), eq(versionChunks.chunkId, chunkId)));
  const inUpload = ex.select({ one: sql`1` }).from(uploadChunks)
    .innerJoin(uploads, eq(uploads.id, uploadChunks.uploadId))
    .where(and(eq(uploadChunks.accountId, accountId), eq(uploadChunks.chunkId, chunkId), gt(uploads.expiresAt, sql`now()`)));
  return ex.select({ referenced: sql<boolean>`exists (${inVersion}) or exists (${inUpload})` }).from(sql`(select 1) as one`)
    .prepare('chunk_referenced');
};
const referenced = new WeakMap<Executor, ReturnType<typeof referencedQuery>>();

/** Whether the account may read the chunk: a version or a live upload of the account references it. */
export async function chunkReferenced(ex: Executor, accountId: string, chunkId: string): Promise<boolean> {
  let query = referenced.get(ex);
  if (!query) {
    query = referencedQuery(ex);
    referenced.set(ex, query);
  }
  const [row] = await query.execute({ accountId, chunkId });
  return row?.referenced === true;
}
