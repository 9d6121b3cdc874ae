// Pruning of the changes feed: old changes go, the accounts remember how far, and a client behind
// that point is told so (410 CURSOR_EXPIRED with the current cursor) rather than given a page with
// a hole. Run against PGlite and against PostgreSQL (where concurrent pruners really overlap).
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_POSTGRES, postgresUrl } from '../../tests/support/env.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { queryRows } from '../src/db/client.js';
import { pruneChanges } from '../src/services/changes.js';
import { collectGarbage } from '../src/services/gc.js';
import { signup, startTestServer, type Client, type TestServer } from './helpers.js';

describe('COFFER_CHANGES_RETENTION_DAYS', () => {
  it('defaults to 30 days and must be a whole number of days, at least 1', () => {
    expect(loadConfig({}).changesRetentionDays).toBe(30);
    expect(loadConfig({ COFFER_CHANGES_RETENTION_DAYS: '7' }).changesRetentionDays).toBe(7);
    for (const bad of ['0', '1.5', 'week', '-3']) {
      expect(() => loadConfig({ COFFER_CHANGES_RETENTION_DAYS: bad })).toThrow(ConfigError);
    }
  });
});

function pruneContract(name: string, db: 'pglite' | 'postgres', skip: boolean) {
  describe.skipIf(skip)(`changes pruning: ${name}${skip ? ` ${NO_POSTGRES}` : ''}`, () => {
    let s: TestServer;
    beforeAll(async () => {
      s = await startTestServer({ db });
    });
    afterAll(() => s?.close());

    /** A fresh account with `n` changes (cursors 1..n). */
    async function accountWithChanges(n: number): Promise<Client> {
      const c = await signup(s.app);
      for (let i = 0; i < n; i++) await c.createNode('folder');
      return c;
    }

    /** Dates an account's changes up to `cursor` back by `days`. */
    async function age(c: Client, cursor: number, days: number): Promise<void> {
      await s.ctx.db.execute(sql`update changes set created_at = now() - make_interval(days => ${days})
        where account_id = ${c.accountId} and cursor <= ${cursor}`);
    }

    async function storedCursors(c: Client): Promise<number[]> {
      const rows = await queryRows<{ cursor: string | number }>(s.ctx.db,
        sql`select cursor from changes where account_id = ${c.accountId} order by cursor`);
      return rows.map((r) => Number(r.cursor));
    }

    async function prunedCursor(c: Client): Promise<number> {
      const [row] = await queryRows<{ pruned_cursor: string | number }>(s.ctx.db,
        sql`select pruned_cursor from accounts where id = ${c.accountId}`);
      return Number(row!.pruned_cursor);
    }

    const feed = (c: Client, since: number, limit = 1000) => c.request('GET', `/api/changes?since=${since}&limit=${limit}`);
    const cursorsOf = async (res: Response) => ((await res.json()) as { changes: Array<{ cursor: number }> }).changes.map((x) => x.cursor);

    it('deletes changes past retention and keeps the recent ones', async () => {
      const c = await accountWithChanges(6);
      await age(c, 4, 29); // within the default 30 days...
      await age(c, 2, 31); // ...except 1 and 2
      expect(await pruneChanges(s.ctx)).toBeGreaterThanOrEqual(2);
      expect(await storedCursors(c)).toEqual([3, 4, 5, 6]);
      expect(await prunedCursor(c)).toBe(2);
      // A shorter retention (the setting) takes the next ones.
      await pruneChanges(s.ctx, { retentionDays: 28 });
      expect(await storedCursors(c)).toEqual([5, 6]);
      expect(await prunedCursor(c)).toBe(4);
    });

    it('answers 410 CURSOR_EXPIRED with the current cursor to a cursor from before the pruning', async () => {
      const c = await accountWithChanges(5);
      await age(c, 3, 31);
      await pruneChanges(s.ctx);
      for (const since of [0, 1, 2]) {
        const res = await feed(c, since);
        expect(res.status).toBe(410);
        const body = await res.json();
        expect(body).toEqual({ code: 'CURSOR_EXPIRED', message: expect.any(String), cursor: 5 });
      }
      // Exactly at the pruned cursor nothing is missing: the feed answers as before.
      const res = await feed(c, 3);
      expect(res.status).toBe(200);
      expect(await cursorsOf(res)).toEqual([4, 5]);
    });

    it('keeps serving a current cursor, with the changes that come after it', async () => {
      const c = await accountWithChanges(4);
      await age(c, 4, 31);
      await pruneChanges(s.ctx);
      expect(await storedCursors(c)).toEqual([]);
      // The cursor the 410 gives is one to follow from: empty now, then the new changes.
      const { cursor } = await (await feed(c, 0)).json();
      expect(cursor).toBe(4);
      const quiet = await feed(c, cursor);
      expect(quiet.status).toBe(200);
      expect(await quiet.json()).toEqual({ changes: [], next: 4, more: false });
      const made = await c.createNode('folder');
      const res = await feed(c, cursor);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ changes: [{ cursor: 5, nodeId: made.id, op: 'create' }], next: 5, more: false });
      // Numbering carries on per account: +1 per change, never reused.
      expect((await c.json('GET', '/api/account')).cursor).toBe(5);
    });

    it('prunes one account without touching another', async () => {
      const a = await accountWithChanges(3);
      const b = await accountWithChanges(3);
      await age(a, 3, 31);
      await pruneChanges(s.ctx);
      expect(await storedCursors(a)).toEqual([]);
      expect(await storedCursors(b)).toEqual([1, 2, 3]);
      expect(await prunedCursor(b)).toBe(0);
      const res = await feed(b, 0);
      expect(res.status).toBe(200);
      expect(await cursorsOf(res)).toEqual([1, 2, 3]);
      expect((await feed(a, 0)).status).toBe(410);
    });

    it('is idempotent, and safe with several pruners and writers at once', async () => {
      const accounts = await Promise.all(Array.from({ length: 4 }, () => accountWithChanges(7)));
      for (const c of accounts) await age(c, 5, 40);
      // Small batches, so the pruners take turns over the same rows and accounts.
      const runs = await Promise.all([
        ...Array.from({ length: 4 }, () => pruneChanges(s.ctx, { batch: 3 })),
        ...accounts.map((c) => c.createNode('folder')),
        collectGarbage(s.ctx),
      ]);
      const total = (runs.slice(0, 4) as number[]).reduce((x, y) => x + y, 0) + (runs.at(-1) as { prunedChanges: number }).prunedChanges;
      // Other tests' old changes may be pruned here too; ours were counted once each.
      expect(total).toBeGreaterThanOrEqual(4 * 5);
      for (const c of accounts) {
        expect(await storedCursors(c)).toEqual([6, 7, 8]);
        expect(await prunedCursor(c)).toBe(5);
        expect(await cursorsOf(await feed(c, 5))).toEqual([6, 7, 8]);
        expect((await feed(c, 4)).status).toBe(410);
      }
      // Nothing left to do: a second pass deletes nothing and moves nothing.
      expect(await pruneChanges(s.ctx)).toBe(0);
      for (const c of accounts) expect(await prunedCursor(c)).toBe(5);
    });

    it('runs with the periodic collection', async () => {
      const c = await accountWithChanges(2);
      await age(c, 1, 31);
      const result = await collectGarbage(s.ctx);
      expect(result.prunedChanges).toBeGreaterThanOrEqual(1);
      expect(await storedCursors(c)).toEqual([2]);
    });
  });
}

pruneContract('PGlite', 'pglite', false);
pruneContract('PostgreSQL', 'postgres', !postgresUrl);
