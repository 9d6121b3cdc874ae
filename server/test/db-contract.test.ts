// One contract for the database layer, run against PGlite and against PostgreSQL: migrations,
// the live-name index, per-account cursors under concurrency, rate-limit counters, raw queries.
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_POSTGRES, postgresUrl } from '../../tests/support/env.js';
import { queryRows } from '../src/db/client.js';
import { consume, limitKey } from '../src/services/rate-limit.js';
import { b64, chunkIdOf, digestHeader, hexId, rand, signup, startTestServer, type TestServer } from './helpers.js';

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

    it('lists each child exactly as the node itself reads, in pages', async () => {
      const c = await signup(s.app);
      const folder = await c.createNode('folder');
      const file = await c.createNode('file', folder.id);
      await c.uploadVersion(file.id, [{ id: chunkIdOf(), data: rand(1000) }], 0);
      const edited = await c.createNode('folder', folder.id);
      await c.json('PATCH', `/api/nodes/${edited.id}`, { metadata: b64(rand(200)) }, 200);
      const restored = await c.createNode('file', folder.id);
      await c.json('POST', `/api/nodes/${restored.id}/trash`, undefined, 200);
      await c.json('POST', `/api/nodes/${restored.id}/restore`, undefined, 200);
      await c.json('POST', `/api/nodes/${(await c.createNode('file', folder.id)).id}/trash`, undefined, 200);

      const res = await c.request('GET', `/api/nodes/${folder.id}/children?limit=10`);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      const page = await res.json() as { items: Array<{ id: string }>; next: string | null };
      expect(page.next).toBeNull();
      expect(page.items.map((n) => n.id)).toEqual([file.id, edited.id, restored.id].sort());
      for (const item of page.items) {
        const node = await c.json('GET', `/api/nodes/${item.id}`, undefined, 200);
        expect(JSON.stringify(item)).toBe(JSON.stringify(node)); // the same keys, in the same order
      }
      expect(page.items.find((n) => n.id === file.id)).toMatchObject({ version: 1, size: expect.any(Number) });

      const ids = page.items.map((n) => n.id);
      const first = await c.json('GET', `/api/nodes/${folder.id}/children?limit=2`, undefined, 200);
      expect([first.items.map((n: { id: string }) => n.id), first.next]).toEqual([ids.slice(0, 2), ids[1]]);
      const rest = await c.json('GET', `/api/nodes/${folder.id}/children?limit=2&after=${first.next}`, undefined, 200);
      expect([rest.items.map((n: { id: string }) => n.id), rest.next]).toEqual([ids.slice(2), null]);
      const empty = await c.json('GET', `/api/nodes/${(await c.createNode('folder')).id}/children`, undefined, 200);
      expect(empty).toEqual({ items: [], next: null });
    });

    it('reads a node as the answers written from its row do (the database writes the lookup\'s JSON)', async () => {
      const c = await signup(s.app);
      const read = async (id: string) => {
        const res = await c.request('GET', `/api/nodes/${id}`);
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toMatch(/^application\/json/);
        return res.text();
      };
      const created = await c.createNode('file');
      expect(await read(created.id)).toBe(JSON.stringify(created)); // the same keys, order and formats
      const trashed = await c.json('POST', `/api/nodes/${created.id}/trash`, undefined, 200);
      expect(trashed.trashedAt).toEqual(expect.any(String));
      expect(await read(created.id)).toBe(JSON.stringify(trashed));
      const renamed = await c.json('PATCH', `/api/nodes/${(await c.createNode('folder')).id}`, { metadata: b64(rand(300)) }, 200);
      expect(await read(renamed.id)).toBe(JSON.stringify(renamed));
      expect((await c.request('GET', `/api/nodes/${'0'.repeat(32)}`)).status).toBe(404);
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

    it('keeps and charges exactly the chunks that fit when concurrent uploads reach the quota', async () => {
      const q = await startTestServer({ db, config: { quotaBytes: 1000 } });
      try {
        const c = await signup(q.app);
        const file = await c.createNode('file');
        const { uploadId } = await c.json('POST', '/api/uploads', { nodeId: file.id }, 201);
        const put = (item: { id: string; data: Uint8Array }) => c.request('PUT', `/api/chunks/${item.id}?upload=${uploadId}`, item.data, {
          'content-digest': digestHeader(item.data), 'content-type': 'application/octet-stream',
        });
        expect((await put({ id: chunkIdOf(), data: rand(800) })).status).toBe(201);
        // 200 bytes left: one of six concurrent 150-byte chunks fits, and the others store nothing.
        const racing = Array.from({ length: 6 }, () => ({ id: chunkIdOf(), data: rand(150) }));
        const statuses = (await Promise.all(racing.map(put))).map((res) => res.status);
        expect([...statuses].sort()).toEqual([201, 507, 507, 507, 507, 507]);
        const refused = racing.filter((_, i) => statuses[i] === 507).map((item) => item.id);
        const { missing } = await c.json('POST', '/api/chunks/check', { uploadId, ids: racing.map((item) => item.id) });
        expect([...missing].sort()).toEqual([...refused].sort());
        expect((await c.json('GET', '/api/account')).usedBytes).toBe(950);
        for (const id of refused) expect((await c.request('GET', `/api/chunks/${id}`)).status).toBe(404);
      } finally {
        await q.close();
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
