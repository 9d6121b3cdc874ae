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
import { and, eq, lt, or, sql } from 'drizzle-orm';
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
 * One collection pass: expired uploads, ended sessions (idle too long or past their lifetime), old
 * rate-limit windows, changes past retention, then unreferenced chunks past the grace period.
 */
export async function collectGarbage(ctx: AppContext, options: { graceSeconds?: number; batch?: number } = {}): Promise<GcResult> {
  const grace = options.graceSeconds ?? ctx.config.gcGraceSeconds;
  const expired = await ctx.db.delete(uploads).where(lt(uploads.expiresAt, sql`now()`)).returning({ id: uploads.id });
  await ctx.db.delete(rateLimits).where(lt(rateLimits.windowStart, sql`now() - interval '1 day'`));
  const ended = await ctx.db.delete(sessions)
    .where(or(
      lt(sessions.lastSeenAt, sql`now() - make_interval(secs => ${ctx.config.sessionIdleSeconds})`),
      lt(sessions.createdAt, sql`now() - make_interval(secs => ${ctx.config.sessionMaxSeconds})`),
    ))
    .returning({ id: sessions.id });
  if (ended.length > 0) sessionsEnded(ctx, null); // of any number of accounts: every process forgets all
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

/**
 * A Bloom filter of blob keys, ~10 bits a key (about 1 % of other keys test as held). It never
 * misses a key it holds, so the sweep never takes a blob a row named when the filter was built; a
 * false hit only keeps an orphan until a later sweep. Blob keys are SHA-256 in hex, already uniform,
 * so seven 32-bit slices of a key are its seven positions, with no hashing of our own.
 */
export class KeyFilter {
  static readonly POSITIONS = 7;
  readonly #bits: Uint32Array;
  readonly #size: number;

  constructor(keys: number) {
    this.#size = Math.max(1024, Math.ceil(keys * 10 / 32) * 32);
    this.#bits = new Uint32Array(this.#size / 32);
  }

  #position(key: string, i: number): number {
    return Number.parseInt(key.slice(i * 8, i * 8 + 8), 16) % this.#size;
  }

  add(key: string): void {
    for (let i = 0; i < KeyFilter.POSITIONS; i++) {
      const p = this.#position(key, i);
      this.#bits[p >>> 5]! |= 1 << (p & 31);
    }
  }

  has(key: string): boolean {
    for (let i = 0; i < KeyFilter.POSITIONS; i++) {
      const p = this.#position(key, i);
      if ((this.#bits[p >>> 5]! & (1 << (p & 31))) === 0) return false;
    }
    return true;
  }
}

export interface SweepResult { putBackFromEarlier: number; unfinishedWrites: number; orphanBlobs: number; keptBlobs: number }

/**
 * Rows touched this long before a sweep began still count as new (a statement that waited on
 * locks); blobs aside for longer were left by a sweep that stopped, not by one still running.
 */
const SWEEP_MARGIN_SECONDS = 3600;

/**
 * Removes blobs that no chunk row names and that were last written before the grace period: left
 * by a chunk PUT whose final statement failed (a quota race, an upload expiring mid-request) or by a
 * crash between the blob write and that statement. Also removes what unfinished writes left behind.
 *
 * A blob key does not say which row would name it (it is a hash of the account and chunk id), so the
 * sweep hashes every row's key into a filter (KeyFilter: memory ~1.25 bytes a row, not a set of
 * every blob) and lists the store against it; meanwhile a PUT may store the same chunk again.
 * Safety against that PUT, which writes its blob, then inserts its row, then checks that its blob is
 * there (routes/chunks.ts): the sweep first sets its candidates aside, where `get` and `has` do not
 * see them, then reads the rows touched since shortly before it began, and puts back every candidate
 * such a row names. A PUT whose row came too late for that read finds its blob gone and writes it
 * again; one whose row came in time gets it back. A download of such a chunk in that moment gets 404
 * (docs/api.md, "Orphan sweep"). Sweeps of several processes may overlap: each leaves the others'
 * blobs aside alone (putBackAll takes only those aside for over SWEEP_MARGIN_SECONDS), and where two
 * set the same blob aside and disagree, the one that dropped it read the rows before the PUT's row
 * was in, so that PUT's own check comes later and writes the blob again.
 */
export async function sweepBlobs(
  ctx: AppContext, options: { graceSeconds?: number; afterSetAside?: () => Promise<void> } = {},
): Promise<SweepResult> {
  const result: SweepResult = { putBackFromEarlier: 0, unfinishedWrites: 0, orphanBlobs: 0, keptBlobs: 0 };
  const store = ctx.blobs.sweep;
  if (!store) return result;
  const grace = options.graceSeconds ?? ctx.config.gcGraceSeconds;
  const [{ began } = { began: '' }] = await queryRows<{ began: string }>(ctx.db, sql`select now()::text as began`);
  // What an earlier sweep left aside when it stopped; not what one running now has there.
  result.putBackFromEarlier = await store.putBackAll(new Date(Date.now() - SWEEP_MARGIN_SECONDS * 1000));
  const before = new Date(Date.now() - grace * 1000);
  result.unfinishedWrites = await store.clearUnfinished(before);

  // Every row's blob key, into a filter; then the blobs past the grace period that it does not hold.
  const [{ rows } = { rows: 0 }] = await queryRows<{ rows: number }>(ctx.db, sql`select count(*)::int as rows from chunks`);
  const named = new KeyFilter(rows + 1000); // rows added during the scan only make false hits likelier
  let after = { accountId: '', id: '' };
  for (;;) {
    const page = await queryRows<{ account_id: string; id: string }>(ctx.db, sql`
      select account_id, id from chunks where (account_id, id) > (${after.accountId}, ${after.id})
      order by account_id, id limit 10000`);
    for (const r of page) named.add(blobKey(r.account_id, r.id));
    if (page.length < 10_000) break;
    const last = page[page.length - 1]!;
    after = { accountId: last.account_id, id: last.id };
  }
  const candidates: string[] = [];
  for await (const b of store.list()) if (b.modifiedAt < before && !named.has(b.key)) candidates.push(b.key);

  const aside: string[] = [];
  for (const key of candidates) if (await store.setAside(key)) aside.push(key);
  if (aside.length === 0) return result;
  let decided = 0;
  try {
    await options.afterSetAside?.();
    const recent = new Set((await queryRows<{ account_id: string; id: string }>(ctx.db, sql`
      select account_id, id from chunks
      where touched_at >= ${began}::timestamptz - make_interval(secs => ${SWEEP_MARGIN_SECONDS})`))
      .map((r) => blobKey(r.account_id, r.id)));
    for (const key of aside) {
      if (recent.has(key)) {
        await store.putBack(key);
        result.keptBlobs += 1;
      } else {
        await store.drop(key);
        result.orphanBlobs += 1;
      }
      decided += 1;
    }
  } catch (err) {
    // Stopped midway (the database or the store failed): what is still aside may include blobs a
    // new row names, which would stay hidden until the next sweep, a day away. Put all of it back;
    // an orphan among it is only kept until then.
    for (const key of aside.slice(decided)) await store.putBack(key).catch(() => {});
    throw err;
  }
  return result;
}

/** The orphan sweep reads every row and lists the whole store: once a day per process is plenty. */
const SWEEP_EVERY_MS = 24 * 3600 * 1000;

/**
 * Runs collectGarbage every `intervalSeconds`, and sweepBlobs after it on the first pass and then
 * once a day; returns a function that stops it.
 */
export function scheduleGc(ctx: AppContext): () => Promise<void> {
  let running: Promise<unknown> = Promise.resolve();
  let lastSweep = -Infinity;
  const timer = setInterval(() => {
    running = collectGarbage(ctx)
      .then(async (r) => {
        ctx.logger.info('gc', { ...r });
        if (Date.now() - lastSweep < SWEEP_EVERY_MS) return;
        lastSweep = Date.now();
        ctx.logger.info('blob sweep', { ...(await sweepBlobs(ctx)) });
      })
      .catch((err) => ctx.logger.warn('gc failed', describeError(err)));
  }, ctx.config.gcIntervalSeconds * 1000);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
