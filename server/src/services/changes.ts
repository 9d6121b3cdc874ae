// The changes feed: every write that a syncing client must see appends a row to `changes` with
// the account's next cursor, in the same transaction as the write. After the commit the server
// emits `changed` so the realtime push can wake clients.
import { eq, sql } from 'drizzle-orm';
import type { AppContext } from '../context.js';
import type { Tx } from '../db/client.js';
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
