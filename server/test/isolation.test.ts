// User B must not read, list, change or learn the existence of anything of user A's: every
// attempt answers exactly like a request for something that does not exist (404).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { b64, chunkIdOf, digestHeader, hexId, rand, signup, startTestServer, type Client, type TestServer } from './helpers.js';

describe('isolation between accounts', () => {
  let s: TestServer;
  let a: Client;
  let b: Client;
  const A: Record<string, string> = {};

  beforeAll(async () => {
    s = await startTestServer();
    a = await signup(s.app);
    b = await signup(s.app);
    const folder = await a.createNode('folder');
    const file = await a.createNode('file', folder.id);
    const chunk = { id: chunkIdOf(), data: rand(1000) };
    await a.uploadVersion(file.id, [chunk], 0);
    const trashed = await a.createNode('file', folder.id);
    await a.json('POST', `/api/nodes/${trashed.id}/trash`, undefined, 200);
    const { uploadId } = await a.json('POST', '/api/uploads', { nodeId: file.id }, 201);
    const device = hexId();
    await a.json('POST', '/api/devices', { deviceId: device, publicKey: b64(rand(32)), name: b64(rand(60)) }, 201);
    const { sessions } = await a.json('GET', '/api/auth/sessions');
    Object.assign(A, { folder: folder.id, file: file.id, trashed: trashed.id, chunk: chunk.id, upload: uploadId, device, session: sessions[0].id, root: a.rootNodeId });
  });
  afterAll(() => s.close());

  /** B's answer for A's thing and for a thing that exists nowhere must be the same 404. */
  async function indistinguishable(method: string, path: (id: string) => string, real: string, fake: string, body?: unknown, headers?: Record<string, string>) {
    const r1 = await b.request(method, path(real), body, headers);
    const r2 = await b.request(method, path(fake), body, headers);
    const t1 = await r1.text();
    const t2 = await r2.text();
    expect({ status: r1.status, body: t1 }, `${method} ${path(':id')}`).toEqual({ status: r2.status, body: t2 });
    expect(r1.status, `${method} ${path(':id')}`).toBe(404);
  }

  async function sameAnswer(real: Promise<Response>, fake: Promise<Response>) {
    const [r1, r2] = [await real, await fake];
    expect({ status: r1.status, body: await r1.text() }).toEqual({ status: r2.status, body: await r2.text() });
    expect(r1.status).toBe(404);
  }

  it('cannot read or list nodes, children, versions or the trash of another account', async () => {
    for (const key of ['folder', 'file', 'trashed', 'root']) {
      await indistinguishable('GET', (id) => `/api/nodes/${id}`, A[key]!, hexId());
      await indistinguishable('GET', (id) => `/api/nodes/${id}/children`, A[key]!, hexId());
      await indistinguishable('GET', (id) => `/api/nodes/${id}/versions`, A[key]!, hexId());
      await indistinguishable('GET', (id) => `/api/nodes/${id}/versions/1`, A[key]!, hexId());
    }
    const trash = await b.json('GET', '/api/trash');
    expect(trash.items).toEqual([]);
    const changes = await b.json('GET', '/api/changes?since=0');
    expect(changes.changes.every((ch: { nodeId: string }) => !Object.values(A).includes(ch.nodeId))).toBe(true);
  });

  it('cannot change, move into, trash, restore, purge or version another account\'s nodes', async () => {
    const meta = { nameHash: chunkIdOf(), metadata: b64(rand(300)) };
    await indistinguishable('PATCH', (id) => `/api/nodes/${id}`, A.folder!, hexId(), meta);
    await indistinguishable('POST', (id) => `/api/nodes/${id}/trash`, A.file!, hexId());
    await indistinguishable('POST', (id) => `/api/nodes/${id}/restore`, A.trashed!, hexId());
    await indistinguishable('DELETE', (id) => `/api/nodes/${id}`, A.trashed!, hexId());
    await sameAnswer(b.request('POST', '/api/uploads', { nodeId: A.file }), b.request('POST', '/api/uploads', { nodeId: hexId() }));
    const { uploadId } = await b.json('POST', '/api/uploads', { nodeId: (await b.createNode('file')).id }, 201);
    await indistinguishable('POST', (id) => `/api/nodes/${id}/versions`, A.file!, hexId(),
      { uploadId, baseVersion: 1, manifest: b64(rand(100)), chunkIds: [A.chunk], metadata: b64(rand(300)) });
    // Creating a child in A's folder, or moving B's node there, looks like a missing parent.
    const create = (parentId: string) => b.request('POST', '/api/nodes', { id: hexId(), parentId, kind: 'file', nameHash: chunkIdOf(), wrappedKey: b64(rand(82)), metadata: b64(rand(300)) });
    await sameAnswer(create(A.folder!), create(hexId()));
    const mine = await b.createNode('folder');
    const move = (parentId: string) => b.request('PATCH', `/api/nodes/${mine.id}`, { parentId, nameHash: chunkIdOf(), wrappedKey: b64(rand(82)) });
    await sameAnswer(move(A.folder!), move(hexId()));
    // Node ids are per account: B may even use A's node id for its own node without noticing.
    const sameId = await b.request('POST', '/api/nodes', { id: A.file, parentId: b.rootNodeId, kind: 'file', nameHash: chunkIdOf(), wrappedKey: b64(rand(82)), metadata: b64(rand(300)) });
    expect(sameId.status).toBe(201);
    // A's file is untouched.
    expect((await a.json('GET', `/api/nodes/${A.file}`)).version).toBe(1);
  });

  it('cannot read chunks or use uploads of another account, nor learn that a chunk exists', async () => {
    await indistinguishable('GET', (id) => `/api/chunks/${id}`, A.chunk!, chunkIdOf());
    await sameAnswer(b.request('POST', '/api/chunks/check', { uploadId: A.upload, ids: [A.chunk] }),
      b.request('POST', '/api/chunks/check', { uploadId: hexId(), ids: [A.chunk] }));
    const data = rand(100);
    await indistinguishable('PUT', (id) => `/api/chunks/${chunkIdOf()}?upload=${id}`, A.upload!, hexId(), data, { 'content-digest': digestHeader(data) });
    await indistinguishable('POST', (id) => `/api/chunks/batch?upload=${id}`, A.upload!, hexId(), data,
      { 'content-digest': digestHeader(data), 'coffer-chunks': `${chunkIdOf()}:${data.length}` });
    // With an upload of its own, B is told A's chunk is missing, like any unknown chunk.
    const { uploadId } = await b.json('POST', '/api/uploads', { nodeId: (await b.createNode('file')).id }, 201);
    const { missing } = await b.json('POST', '/api/chunks/check', { uploadId, ids: [A.chunk] });
    expect(missing).toEqual([A.chunk]);
    // Uploading different bytes under A's chunk id gives B its own chunk; A's bytes are unchanged.
    const forged = rand(1000);
    const put = await b.request('PUT', `/api/chunks/${A.chunk}?upload=${uploadId}`, forged, { 'content-digest': digestHeader(forged) });
    expect(put.status).toBe(201);
    const mineBack = new Uint8Array(await (await b.request('GET', `/api/chunks/${A.chunk}`)).arrayBuffer());
    expect(mineBack).toEqual(forged);
    const theirs = new Uint8Array(await (await a.request('GET', `/api/chunks/${A.chunk}`)).arrayBuffer());
    expect(theirs).not.toEqual(forged);
  });

  it('cannot see or revoke sessions or devices of another account', async () => {
    await indistinguishable('DELETE', (id) => `/api/auth/sessions/${id}`, A.session!, hexId());
    await indistinguishable('GET', (id) => `/api/devices/${id}`, A.device!, hexId());
    await indistinguishable('DELETE', (id) => `/api/devices/${id}`, A.device!, hexId());
    const { sessions } = await b.json('GET', '/api/auth/sessions');
    expect(sessions.map((x: { id: string }) => x.id)).not.toContain(A.session);
    const { devices } = await b.json('GET', '/api/devices');
    expect(devices).toEqual([]);
    // A still has its session and device.
    expect((await a.request('GET', `/api/devices/${A.device}`)).status).toBe(200);
    expect((await a.request('GET', '/api/account')).status).toBe(200);
  });
});
