import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { b64, chunkIdOf, hexId, rand, signup, startTestServer, type Client, type TestServer } from './helpers.js';

describe('nodes', () => {
  let s: TestServer;
  let c: Client;
  beforeAll(async () => {
    s = await startTestServer();
    c = await signup(s.app);
  });
  afterAll(() => s.close());

  it('creates, reads and lists nodes in pages', async () => {
    const folder = await c.createNode('folder');
    expect(folder).toMatchObject({ parentId: c.rootNodeId, kind: 'folder', version: 0, size: 0, trashedAt: null });
    expect(await c.json('GET', `/api/nodes/${folder.id}`)).toEqual(folder);
    const ids: string[] = [];
    for (let i = 0; i < 25; i++) ids.push((await c.createNode(i % 2 ? 'file' : 'folder', folder.id)).id);
    const seen: string[] = [];
    let after: string | null = null;
    do {
      const page: { items: Array<{ id: string }>; next: string | null } =
        await c.json('GET', `/api/nodes/${folder.id}/children?limit=10${after ? `&after=${after}` : ''}`, undefined, 200);
      expect(page.items.length).toBeLessThanOrEqual(10);
      seen.push(...page.items.map((n) => n.id));
      after = page.next;
    } while (after);
    expect(seen).toEqual([...ids].sort());
    expect((await c.request('GET', `/api/nodes/${folder.id}/children?limit=5000`)).status).toBe(200);
    expect((await c.request('GET', `/api/nodes/${folder.id}/children?limit=5001`)).status).toBe(400);
    expect((await c.request('GET', '/api/trash?limit=1001')).status).toBe(400);
  });

  it('keeps names unique among live children only', async () => {
    const folder = await c.createNode('folder');
    const nameHash = chunkIdOf();
    const a = await c.createNode('file', folder.id, { nameHash });
    const dup = await c.request('POST', '/api/nodes', { id: hexId(), parentId: folder.id, kind: 'file', nameHash, wrappedKey: b64(rand(82)), metadata: b64(rand(300)) });
    expect(dup.status).toBe(409);
    expect((await dup.json()).code).toBe('NAME_TAKEN');
    // The same name in another folder is fine.
    await c.createNode('file', c.rootNodeId, { nameHash });
    await c.json('POST', `/api/nodes/${a.id}/trash`, undefined, 200);
    const b = await c.createNode('file', folder.id, { nameHash });
    // Restoring `a` now collides with `b` unless it takes a new name.
    const clash = await c.request('POST', `/api/nodes/${a.id}/restore`);
    expect(clash.status).toBe(409);
    expect((await clash.json()).code).toBe('NAME_TAKEN');
    const restored = await c.json('POST', `/api/nodes/${a.id}/restore`, { nameHash: chunkIdOf() }, 200);
    expect(restored.trashedAt).toBeNull();
    const renameClash = await c.request('PATCH', `/api/nodes/${restored.id}`, { nameHash: b.nameHash, metadata: b64(rand(300)) });
    expect(renameClash.status).toBe(409);
  });

  it('renames and moves, and refuses cycles with MOVE_CYCLE', async () => {
    const a = await c.createNode('folder');
    const b = await c.createNode('folder', a.id);
    const d = await c.createNode('folder', b.id);
    const renamed = await c.json('PATCH', `/api/nodes/${b.id}`, { nameHash: chunkIdOf(), metadata: b64(rand(300)) }, 200);
    expect(renamed.parentId).toBe(a.id);
    const move = (id: string, parentId: string) => c.request('PATCH', `/api/nodes/${id}`, { parentId, nameHash: chunkIdOf(), wrappedKey: b64(rand(82)) });
    for (const target of [a.id, b.id, d.id]) {
      const res = await move(a.id, target);
      expect(res.status).toBe(409);
      expect((await res.json()).code).toBe('MOVE_CYCLE');
    }
    const ok = await move(d.id, c.rootNodeId);
    expect(ok.status).toBe(200);
    expect((await ok.json()).parentId).toBe(c.rootNodeId);
    const file = await c.createNode('file');
    const intoFile = await move(a.id, file.id);
    expect(intoFile.status).toBe(404);
    expect((await intoFile.json()).code).toBe('PARENT_NOT_FOUND');
    // A move without the re-wrapped key is refused (format §5.1).
    expect((await c.request('PATCH', `/api/nodes/${d.id}`, { parentId: a.id })).status).toBe(400);
    expect((await c.request('PATCH', `/api/nodes/${c.rootNodeId}`, { parentId: a.id, nameHash: chunkIdOf(), wrappedKey: b64(rand(82)) })).status).toBe(400);
  });

  it('trashes, lists the trash, restores and purges subtrees', async () => {
    const top = await c.createNode('folder');
    const child = await c.createNode('folder', top.id);
    const grandchild = await c.createNode('file', child.id);
    expect((await c.request('DELETE', `/api/nodes/${top.id}`)).status).toBe(409); // not trashed yet
    await c.json('POST', `/api/nodes/${top.id}/trash`, undefined, 200);
    const rootList = await c.json('GET', `/api/nodes/${c.rootNodeId}/children?limit=1000`);
    expect(rootList.items.map((n: { id: string }) => n.id)).not.toContain(top.id);
    const trash = await c.json('GET', '/api/trash?limit=1000');
    expect(trash.items.map((n: { id: string }) => n.id)).toContain(top.id);
    // Nothing is created inside a trashed folder.
    const inside = await c.request('POST', '/api/nodes', { id: hexId(), parentId: top.id, kind: 'file', nameHash: chunkIdOf(), wrappedKey: b64(rand(82)), metadata: b64(rand(300)) });
    expect(inside.status).toBe(404);
    expect((await c.request('DELETE', `/api/nodes/${top.id}`)).status).toBe(204);
    for (const id of [top.id, child.id, grandchild.id]) expect((await c.request('GET', `/api/nodes/${id}`)).status).toBe(404);
    expect((await c.request('POST', `/api/nodes/${c.rootNodeId}/trash`)).status).toBe(400);
  });

  it('restores a node only once the folders above it are out of the trash', async () => {
    const top = await c.createNode('folder');
    const middle = await c.createNode('folder', top.id);
    const file = await c.createNode('file', middle.id);
    for (const n of [file, middle, top]) await c.json('POST', `/api/nodes/${n.id}/trash`, undefined, 200);
    const refused = await c.request('POST', `/api/nodes/${file.id}/restore`);
    expect(refused.status).toBe(409);
    expect(await refused.json()).toMatchObject({ code: 'PARENT_TRASHED', folderId: top.id });
    expect((await c.json('GET', `/api/nodes/${file.id}`)).trashedAt).toEqual(expect.any(String));
    await c.json('POST', `/api/nodes/${top.id}/restore`, undefined, 200);
    expect((await c.request('POST', `/api/nodes/${file.id}/restore`)).status).toBe(409); // middle still trashed
    await c.json('POST', `/api/nodes/${middle.id}/restore`, undefined, 200);
    expect((await c.json('POST', `/api/nodes/${file.id}/restore`, undefined, 200)).trashedAt).toBeNull();
  });

  it('records every change with a strictly increasing cursor and emits it after commit', async () => {
    const other = await signup(s.app);
    const events: Array<{ accountId: string; cursor: number }> = [];
    const off = s.ctx.events.on('changed', (e) => events.push(e));
    const before = (await other.json('GET', '/api/account')).cursor;
    const f = await other.createNode('folder');
    await other.json('PATCH', `/api/nodes/${f.id}`, { nameHash: chunkIdOf(), metadata: b64(rand(300)) }, 200);
    await other.json('POST', `/api/nodes/${f.id}/trash`, undefined, 200);
    await other.json('POST', `/api/nodes/${f.id}/restore`, undefined, 200);
    const failed = await other.request('PATCH', `/api/nodes/${f.id}`, { parentId: f.id, nameHash: chunkIdOf(), wrappedKey: b64(rand(82)) });
    expect(failed.status).toBe(409);
    off();
    const feed = await other.json('GET', `/api/changes?since=${before}`);
    expect(feed.changes.map((x: { op: string }) => x.op)).toEqual(['create', 'update', 'trash', 'restore']);
    const cursors = feed.changes.map((x: { cursor: number }) => x.cursor);
    expect(cursors).toEqual([before + 1, before + 2, before + 3, before + 4]);
    expect(feed.next).toBe(before + 4);
    expect(feed.more).toBe(false);
    expect(events.filter((e) => e.accountId === other.accountId).map((e) => e.cursor)).toEqual(cursors);
    const paged = await other.json('GET', `/api/changes?since=${before}&limit=2`);
    expect(paged).toMatchObject({ next: before + 2, more: true });
  });
});
