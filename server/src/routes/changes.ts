// The changes feed (docs/api.md §Sync): changes after a cursor, oldest first.
import { and, asc, eq, gt } from 'drizzle-orm';
import { Hono } from 'hono';
import { requireSession, type AppContext, type AppEnv } from '../context.js';
import { changes } from '../db/schema/core.js';
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
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    return c.json({ changes: page, next: page.length > 0 ? page[page.length - 1]!.cursor : since, more });
  });
  refuseOtherMethods(r, ['/']);
  return r;
}
