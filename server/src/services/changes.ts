// The changes feed: every write that a syncing client must see appends a row to `changes` with
// the account's next cursor, in the same transaction as the write. After the commit the server
// emits `changed` so the realtime push can wake clients. Changes older than the retention period
// are pruned (pruneChanges, run by the collector); `accounts.pruned_cursor` says how far.
import { and, eq, lte, sql } from 'drizzle-orm';
import type { AppContext } from '../context.js';
import { queryRows, type Tx } from '../db/client.js';
import { accounts, changes } from '../db/schema/core.js';

export type ChangeOp = 'create' | 'update' | 'move' | 'trash' | 'restore' | 'purge' | 'version';

/** Appends one change in `tx` and returns its cursor (per-account, strictly increasing). */
export async function recordChange(tx: Tx, accountId: string, nodeId: string, op: ChangeOp): Promise<number> {
  const [row] = await tx.update(accounts).set({ cursor: sql`${accounts.cursor} + 1` })
    .where(eq(accounts.id, accountId)).returning({ cursor: accounts.cursor });
  if (!row) throw new Error('recordChange: account row missing');
  await tx.insert(changes).values({ accountId, cursor: row.cursor, nodeId, op });
  return row.cursor;
}

export type RecordChange = (nodeId: string, op: ChangeOp) => Promise<number>;

/**
 * Runs `work` in a transaction for one account; `record` appends changes. After a successful
 * commit, emits `changed` with the last cursor written (nothing is emitted on rollback).
 */
export async function writeForAccount<T>(
  ctx: AppContext, accountId: string, work: (tx: Tx, record: RecordChange) => Promise<T>,
): Promise<T> {
  let cursor: number | null = null;
  const result = await ctx.db.transaction(async (tx) =>
    work(tx, async (nodeId, op) => (cursor = await recordChange(tx, accountId, nodeId, op))));
  if (cursor !== null) ctx.events.emit('changed', { accountId, cursor });
  return result;
}

/**
 * Deletes the changes older than `retentionDays`, oldest first, in short transactions of at most
 * about `batch` rows of one account, and returns how many went. Each transaction raises the
 * account's `pruned_cursor` to the highest cursor it deletes, so a feed request from before it is
 * refused (CURSOR_EXPIRED) instead of silently missing changes; it deletes every row up to that
 * cursor, so none is left behind it. The account row is locked before the change rows, the order
 * in which a change is recorded and an account deleted, so nothing deadlocks; several processes
 * pruning at once only wait for each other, and a second pass finds nothing more to do.
 */
export async function pruneChanges(ctx: AppContext, options: { retentionDays?: number; batch?: number } = {}): Promise<number> {
  const days = options.retentionDays ?? ctx.config.changesRetentionDays;
  const batch = options.batch ?? 1000;
  let pruned = 0;
  for (;;) {
    // The oldest rows (changes_created_idx), and per account the highest cursor among them.
    const oldest = await queryRows<{ account_id: string; upto: string | number; n: string | number }>(ctx.db, sql`
      select account_id, max(cursor) as upto, count(*) as n from (
        select account_id, cursor from changes
        where created_at < now() - make_interval(days => ${days})
        order by created_at limit ${batch}) o
      group by account_id order by account_id`);
    for (const row of oldest) {
      const upto = Number(row.upto);
      pruned += await ctx.db.transaction(async (tx) => {
        await tx.update(accounts).set({ prunedCursor: sql`greatest(${accounts.prunedCursor}, ${upto})` })
          .where(eq(accounts.id, row.account_id));
        const gone = await tx.delete(changes).where(and(eq(changes.accountId, row.account_id), lte(changes.cursor, upto)))
          .returning({ cursor: changes.cursor });
        return gone.length;
      });
    }
    if (oldest.reduce((sum, r) => sum + Number(r.n), 0) < batch) return pruned;
  }
}
