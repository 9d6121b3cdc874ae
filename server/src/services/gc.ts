// Collection of chunks that no version and no live upload references, after a grace period.
//
// Safety against a racing upload or commit: those UPDATE the chunk row (touchChunks, or the upsert
// in PUT) before they rely on it, in the same transaction that records the reference. The
// collector first locks the row (SELECT ... FOR UPDATE), and only then, in a new statement (so a
// fresh snapshot under READ COMMITTED), re-checks that nothing references it and that it was not
// touched within the grace period. If the other side locked first, the collector waits for its
// commit and then sees its reference; if the collector locked first, the other side waits and then
// finds the row gone, and reports the chunk missing (the client uploads it again). The blob is
// removed while the row lock is held, so no writer can re-create the row in between.
import { and, eq, lt, sql } from 'drizzle-orm';
import type { AppContext } from '../context.js';
import { queryRows } from '../db/client.js';
import { accounts, chunks, rateLimits, sessions, uploads } from '../db/schema/core.js';
import { blobKey } from '../blob/store.js';
import { describeError } from '../logger.js';
import { sessionsEnded } from '../session-cache.js';
import { pruneChanges } from './changes.js';

export interface GcResult { expiredUploads: number; prunedChanges: number; deletedChunks: number; freedBytes: number }

const unreferenced = sql`not exists (select 1 from version_chunks vc where vc.account_id = c.account_id and vc.chunk_id = c.id)
  and not exists (select 1 from upload_chunks uc where uc.account_id = c.account_id and uc.chunk_id = c.id)`;

/** Deletes one chunk if it is still collectable; returns its size, or null when it was kept. */
export async function collectChunk(ctx: AppContext, accountId: string, chunkId: string, graceSeconds: number): Promise<number | null> {
  return ctx.db.transaction(async (tx) => {
    const [locked] = await tx.select({ id: chunks.id }).from(chunks)
      .where(and(eq(chunks.accountId, accountId), eq(chunks.id, chunkId))).for('update');
    if (!locked) return null;
    const [still] = await queryRows<{ size: number }>(tx, sql`
      select c.size from chunks c
      where c.account_id = ${accountId} and c.id = ${chunkId}
        and c.touched_at < now() - make_interval(secs => ${graceSeconds}) and ${unreferenced}`);
    if (!still) return null;
    await ctx.blobs.delete(blobKey(accountId, chunkId));
    await tx.delete(chunks).where(and(eq(chunks.accountId, accountId), eq(chunks.id, chunkId)));
    await tx.update(accounts).set({ usedBytes: sql`greatest(0, ${accounts.usedBytes} - ${still.size})` })
      .where(eq(accounts.id, accountId));
    return Number(still.size);
  });
}

/**
 * One collection pass: expired uploads, idle sessions, old rate-limit windows, changes past
 * retention, then unreferenced chunks past the grace period.
 */
export async function collectGarbage(ctx: AppContext, options: { graceSeconds?: number; batch?: number } = {}): Promise<GcResult> {
  const grace = options.graceSeconds ?? ctx.config.gcGraceSeconds;
  const expired = await ctx.db.delete(uploads).where(lt(uploads.expiresAt, sql`now()`)).returning({ id: uploads.id });
  await ctx.db.delete(rateLimits).where(lt(rateLimits.windowStart, sql`now() - interval '1 day'`));
  const idle = await ctx.db.delete(sessions)
    .where(lt(sessions.lastSeenAt, sql`now() - make_interval(secs => ${ctx.config.sessionIdleSeconds})`))
    .returning({ id: sessions.id });
  if (idle.length > 0) sessionsEnded(ctx, null); // of any number of accounts: every process forgets all
  const prunedChanges = await pruneChanges(ctx);

  const candidates = await queryRows<{ account_id: string; id: string }>(ctx.db, sql`
    select c.account_id, c.id from chunks c
    where c.touched_at < now() - make_interval(secs => ${grace}) and ${unreferenced}
    limit ${options.batch ?? 10_000}`);
  let deletedChunks = 0;
  let freedBytes = 0;
  for (const c of candidates) {
    const size = await collectChunk(ctx, c.account_id, c.id, grace);
    if (size !== null) {
      deletedChunks += 1;
      freedBytes += size;
    }
  }
  return { expiredUploads: expired.length, prunedChanges, deletedChunks, freedBytes };
}

/** Runs collectGarbage every `intervalSeconds`; returns a function that stops it. */
export function scheduleGc(ctx: AppContext): () => Promise<void> {
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    running = collectGarbage(ctx)
      .then((r) => ctx.logger.info('gc', { ...r }))
      .catch((err) => ctx.logger.warn('gc failed', describeError(err)));
  }, ctx.config.gcIntervalSeconds * 1000);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
