// One contract for the database layer, run against PGlite and against PostgreSQL: migrations,
// the live-name index, per-account cursors under concurrency, rate-limit counters, raw queries.
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_POSTGRES, postgresUrl } from '../../tests/support/env.js';
import { queryRows } from '../src/db/client.js';
import { consume, limitKey } from '../src/services/rate-limit.js';
import { b64, chunkIdOf, hexId, rand, signup, startTestServer, type TestServer } from './helpers.js';

function databaseContract(name: string, db: 'pglite' | 'postgres', skip: boolean) {
  describe.skipIf(skip)(`database contract: ${name}${skip ? ` ${NO_POSTGRES}` : ''}`, () => {
    let s: TestServer;
    beforeAll(async () => {
      s = await startTestServer({ db });
    });
    afterAll(() => s?.close());

    it('has every table after migrating', async () => {
      const rows = await queryRows<{ table_name: string }>(s.ctx.db, sql`
        select table_name from information_schema.tables where table_schema = 'public' order by table_name`);
      const names = rows.map((r) => r.table_name);
      for (const t of ['accounts', 'sessions', 'devices', 'webauthn_credentials', 'nodes', 'versions', 'version_chunks',
        'chunks', 'uploads', 'upload_chunks', 'changes', 'rate_limits']) expect(names).toContain(t);
    });

    it('gives each change of an account its own cursor, without gaps, under concurrent writes', async () => {
      const c = await signup(s.app);
      const created = await Promise.all(Array.from({ length: 20 }, () => c.createNode('folder')));
      const feed = await c.json('GET', '/api/changes?since=0&limit=1000');
      const cursors = feed.changes.map((x: { cursor: number }) => x.cursor);
      expect(cursors).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      expect(new Set(feed.changes.map((x: { nodeId: string }) => x.nodeId))).toEqual(new Set(created.map((n) => n.id)));
      expect((await c.json('GET', '/api/account')).cursor).toBe(20);
    });

    it('lets exactly one of many concurrent creations take a name', async () => {
      const c = await signup(s.app);
      const nameHash = chunkIdOf();
      const results = await Promise.all(Array.from({ length: 8 }, () => c.request('POST', '/api/nodes', {
        id: hexId(), parentId: c.rootNodeId, kind: 'file', nameHash, wrappedKey: b64(rand(82)), metadata: b64(rand(300)),
      })));
      const statuses = results.map((r) => r.status).sort();
      expect(statuses).toEqual([201, 409, 409, 409, 409, 409, 409, 409]);
    });

    it('refuses the second of two concurrent opposite moves with MOVE_CYCLE', async () => {
      const c = await signup(s.app);
      for (let round = 0; round < 5; round++) {
        const a = await c.createNode('folder');
        const b = await c.createNode('folder');
        const move = (id: string, parentId: string) => c.request('PATCH', `/api/nodes/${id}`, { parentId, nameHash: chunkIdOf(), wrappedKey: b64(rand(82)) });
        const [r1, r2] = await Promise.all([move(a.id, b.id), move(b.id, a.id)]);
        expect([r1.status, r2.status].sort()).toEqual([200, 409]);
        const loser = r1.status === 409 ? r1 : r2;
        expect((await loser.json()).code).toBe('MOVE_CYCLE');
      }
    });

    it('counts rate-limit attempts in the database', async () => {
      const key = limitKey('test', hexId());
      const limit = { limit: 3, windowSeconds: 60 };
      for (let i = 0; i < 3; i++) await consume(s.ctx.db, key, limit);
      await expect(consume(s.ctx.db, key, limit)).rejects.toMatchObject({ status: 429, code: 'RATE_LIMITED' });
    });
  });
}

databaseContract('PGlite', 'pglite', false);
databaseContract('PostgreSQL', 'postgres', !postgresUrl);
