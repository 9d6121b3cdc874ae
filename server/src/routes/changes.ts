// The changes feed (docs/api.md §Sync): changes after a cursor, oldest first; 410 CURSOR_EXPIRED
// when some of them were already pruned (services/changes.ts).
import { and, asc, eq, gt } from 'drizzle-orm';
import { Hono } from 'hono';
import { requireSession, type AppContext, type AppEnv } from '../context.js';
import { accounts, changes } from '../db/schema/core.js';
import { ApiError } from '../errors.js';
import { queryInt } from '../validate.js';
import { refuseOtherMethods } from './method.js';

export function changesRoutes(ctx: AppContext): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.use('*', requireSession(ctx));
  r.get('/', async (c) => {
    const { accountId } = c.get('session');
    const since = queryInt(c.req.query('since'), 'since', 0, 0, Number.MAX_SAFE_INTEGER);
    const limit = queryInt(c.req.query('limit'), 'limit', 500, 1, 1000);
    const rows = await ctx.db.select({ cursor: changes.cursor, nodeId: changes.nodeId, op: changes.op }).from(changes)
      .where(and(eq(changes.accountId, accountId), gt(changes.cursor, since)))
      .orderBy(asc(changes.cursor)).limit(limit + 1);
    // Read after the rows: a pruning that committed before them is seen here too, so a page with
    // a pruned gap is never answered (one that commits in between costs only a needless 410).
    const [account] = await ctx.db.select({ cursor: accounts.cursor, prunedCursor: accounts.prunedCursor })
      .from(accounts).where(eq(accounts.id, accountId));
    if (account && since < account.prunedCursor) {
      throw new ApiError(410, 'CURSOR_EXPIRED',
        'Changes after this cursor are no longer kept: reload everything, then follow from cursor', { cursor: account.cursor });
    }
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    return c.json({ changes: page, next: page.length > 0 ? page[page.length - 1]!.cursor : since, more });
  });
  refuseOtherMethods(r, ['/']);
  return r;
}
