import { CHUNK_PARAMS, padLen, storedLengthOf } from '@coffer/crypto-core';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobKey } from '../src/blob/store.js';
import { MAX_BATCH_BYTES, MAX_BATCH_CHUNKS, MAX_CHUNK_BYTES, MAX_CHUNKS_PER_VERSION, MAX_MANIFEST_BYTES } from '../src/limits.js';
import { collectGarbage } from '../src/services/gc.js';
import { b64, chunkIdOf, digestHeader, hexId, rand, signup, startTestServer, type Client, type TestServer } from './helpers.js';

/** POST /api/chunks/batch of `items`, with the header and digest the body calls for unless given. */
const batch = (c: Client, uploadId: string, items: { id: string; data: Uint8Array }[], headers: Record<string, string> = {}) => {
  const body = Buffer.concat(items.map((item) => item.data));
  return c.request('POST', `/api/chunks/batch?upload=${uploadId}`, new Uint8Array(body), {
    'content-type': 'application/octet-stream',
    'content-digest': digestHeader(body),
    'coffer-chunks': items.map((item) => `${item.id}:${item.data.length}`).join(', '),
    ...headers,
  });
};

const put = (c: Client, uploadId: string, id: string, data: Uint8Array, digest = digestHeader(data)) =>
  c.request('PUT', `/api/chunks/${id}?upload=${uploadId}`, data, { 'content-digest': digest, 'content-type': 'application/octet-stream' });

describe('uploads, chunks and versions', () => {
  let s: TestServer;
  let c: Client;
  beforeAll(async () => {
    s = await startTestServer({ config: { keepVersions: 3, quotaBytes: 3 * 1024 * 1024 } });
    c = await signup(s.app);
  });
  afterAll(() => s.close());

  it('uploads chunks with a verified digest, commits a version, and serves the bytes back', async () => {
    const file = await c.createNode('file');
    const { uploadId, expiresAt } = await c.json('POST', '/api/uploads', { nodeId: file.id }, 201);
    expect(Date.parse(expiresAt)).toBeGreaterThan(Date.now());
    const a = { id: chunkIdOf(), data: rand(5000) };
    const b = { id: chunkIdOf(), data: rand(7000) };
    expect((await c.json('POST', '/api/chunks/check', { uploadId, ids: [a.id, b.id] })).missing).toEqual([a.id, b.id]);

    const tampered = await put(c, uploadId, a.id, a.data, digestHeader(b.data));
    expect(tampered.status).toBe(400);
    expect((await tampered.json()).code).toBe('DIGEST_MISMATCH');
    const noDigest = await c.request('PUT', `/api/chunks/${a.id}?upload=${uploadId}`, a.data);
    expect(noDigest.status).toBe(400);
    expect(await s.ctx.blobs.has(blobKey(c.accountId, a.id))).toBe(false);

    expect((await put(c, uploadId, a.id, a.data)).status).toBe(201);
    expect((await put(c, uploadId, a.id, a.data)).status).toBe(200); // idempotent
    // Resuming: the check now reports `a` present and only `b` missing.
    expect((await c.json('POST', '/api/chunks/check', { uploadId, ids: [a.id, b.id] })).missing).toEqual([b.id]);
    expect((await put(c, uploadId, b.id, b.data)).status).toBe(201);

    const commit = (baseVersion: number, chunkIds: string[], upload = uploadId) => c.request('POST', `/api/nodes/${file.id}/versions`, {
      uploadId: upload, baseVersion, manifest: b64(rand(200)), chunkIds, metadata: b64(rand(300)),
    });
    const missing = chunkIdOf();
    const incomplete = await commit(0, [a.id, missing]);
    expect(incomplete.status).toBe(400);
    expect(await incomplete.json()).toMatchObject({ code: 'CHUNK_MISSING', missing: [missing] });
    const conflict = await commit(5, [a.id, b.id]);
    expect(conflict.status).toBe(409);
    expect(await conflict.json()).toMatchObject({ code: 'VERSION_CONFLICT', currentVersion: 0 });
    const ok = await commit(0, [a.id, b.id, a.id]);
    expect(ok.status).toBe(201);
    expect((await ok.json()).version).toBe(1);
    // The same commit again (a retry after a lost answer) is answered with the same version and
    // makes no new one; the upload is consumed, so a different commit with it is refused.
    const again = await commit(0, [a.id, b.id, a.id]);
    expect(again.status).toBe(200);
    expect((await again.json()).version).toBe(1);
    expect((await commit(1, [a.id])).status).toBe(404);

    const node = await c.json('GET', `/api/nodes/${file.id}`);
    expect(node).toMatchObject({ version: 1, size: 5000 * 2 + 7000 });
    const v1 = await c.json('GET', `/api/nodes/${file.id}/versions/1`);
    expect(v1.chunkIds).toEqual([a.id, b.id, a.id]);

    const res = await c.request('GET', `/api/chunks/${b.id}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('private, max-age=31536000, immutable');
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(b.data);

    // Committing against a stale base version from a second writer fails.
    const second = await c.json('POST', '/api/uploads', { nodeId: file.id }, 201);
    await c.json('POST', '/api/chunks/check', { uploadId: second.uploadId, ids: [a.id] }, 200);
    const stale = await commit(0, [a.id], second.uploadId);
    expect(stale.status).toBe(409);
    expect((await stale.json()).currentVersion).toBe(1);
  });

  it('takes the largest chunk record (a 4 MiB chunk, padded) and refuses one byte more', async () => {
    // The limit once was 4 MiB + 1 KiB, under the record of a 4 MiB chunk: every file with 4 MiB
    // and no cut point in them (a run of zeros) failed to upload.
    expect(MAX_CHUNK_BYTES).toBe(storedLengthOf(CHUNK_PARAMS.max));
    const roomy = await startTestServer();
    try {
      const owner = await signup(roomy.app);
      const file = await owner.createNode('file');
      const { uploadId } = await owner.json('POST', '/api/uploads', { nodeId: file.id }, 201);
      expect((await put(owner, uploadId, chunkIdOf(), rand(MAX_CHUNK_BYTES))).status).toBe(201);
    } finally {
      await roomy.close();
    }
  });

  it('takes the manifest record of the most chunks a version may have, and refuses one byte more', async () => {
    // Padding (format §3) may add up to 12 %: the limit is the padded record, not the plaintext.
    expect(MAX_MANIFEST_BYTES).toBe(2 + 12 + padLen(13 + 72 * MAX_CHUNKS_PER_VERSION + 1) + 16);
    const file = await c.createNode('file');
    const { uploadId } = await c.json('POST', '/api/uploads', { nodeId: file.id }, 201);
    const commit = async (size: number) => (await c.json<{ code: string; message: string }>('POST', `/api/nodes/${file.id}/versions`, {
      uploadId, baseVersion: 0, manifest: b64(rand(size)), chunkIds: [chunkIdOf()], metadata: b64(rand(300)),
    }, 400));
    // At the limit the size passes and the commit fails later, on the chunk it never uploaded.
    expect((await commit(MAX_MANIFEST_BYTES)).code).toBe('CHUNK_MISSING');
    const over = await commit(MAX_MANIFEST_BYTES + 1);
    expect([over.code, over.message]).toEqual(['INVALID_INPUT', expect.stringContaining('manifest')]);
  });

  it('refuses chunks over the size limit', async () => {
    const file = await c.createNode('file');
    const { uploadId } = await c.json('POST', '/api/uploads', { nodeId: file.id }, 201);
    const big = rand(MAX_CHUNK_BYTES + 1);
    const res = await put(c, uploadId, chunkIdOf(), big);
    expect(res.status).toBe(413);
    expect((await res.json()).code).toBe('CHUNK_TOO_LARGE');
  });

  it('stores several chunks in one batch, each once, and serves each back', async () => {
    const file = await c.createNode('file');
    const { uploadId } = await c.json('POST', '/api/uploads', { nodeId: file.id }, 201);
    const item = (n: number) => ({ id: chunkIdOf(), data: rand(n) });
    const a = item(5000);
    const b = item(1);
    const d = item(70_000);
    const usedBefore = (await c.json('GET', '/api/account')).usedBytes;

    const first = await batch(c, uploadId, [a, b]);
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ chunks: 2, created: 2 });
    // Sent again (a retry after a lost answer): nothing new, nothing charged twice.
    expect(await (await batch(c, uploadId, [a, b])).json()).toEqual({ chunks: 2, created: 0 });
    // A batch may mix a stored chunk with a new one.
    expect(await (await batch(c, uploadId, [d, a])).json()).toEqual({ chunks: 2, created: 1 });
    expect((await c.json('GET', '/api/account')).usedBytes).toBe(usedBefore + 5000 + 1 + 70_000);
    expect((await c.json('POST', '/api/chunks/check', { uploadId, ids: [a.id, b.id, d.id] })).missing).toEqual([]);

    const commit = await c.request('POST', `/api/nodes/${file.id}/versions`, {
      uploadId, baseVersion: 0, manifest: b64(rand(200)), chunkIds: [b.id, a.id, d.id], metadata: b64(rand(300)),
    });
    expect(commit.status).toBe(201);
    for (const item of [a, b, d]) {
      const back = await c.request('GET', `/api/chunks/${item.id}`);
      expect(new Uint8Array(await back.arrayBuffer())).toEqual(item.data);
    }
  });

  it('refuses a batch whose list, lengths or digest do not match its body, and stores none of it', async () => {
    const file = await c.createNode('file');
    const { uploadId } = await c.json('POST', '/api/uploads', { nodeId: file.id }, 201);
    const x = { id: chunkIdOf(), data: rand(100) };
    const y = { id: chunkIdOf(), data: rand(200) };
    const items = [x, y];
    const refused = async (res: Response | Promise<Response>, status: number, code: string) => {
      const answer = await res;
      expect({ status: answer.status, code: (await answer.json()).code }).toEqual({ status, code });
    };
    await refused(batch(c, uploadId, items, { 'coffer-chunks': '' }), 400, 'INVALID_INPUT');
    await refused(batch(c, uploadId, items, { 'coffer-chunks': `${x.id}:100;${y.id}:200` }), 400, 'INVALID_INPUT');
    await refused(batch(c, uploadId, items, { 'coffer-chunks': `${x.id}:100, ${y.id}:199` }), 400, 'INVALID_INPUT');
    await refused(batch(c, uploadId, items, { 'coffer-chunks': `${x.id}:100, ${x.id}:200` }), 400, 'INVALID_INPUT');
    await refused(batch(c, uploadId, items, { 'coffer-chunks': `${x.id}:0, ${y.id}:300` }), 400, 'INVALID_INPUT');
    await refused(batch(c, uploadId, items, { 'content-digest': digestHeader(rand(300)) }), 400, 'DIGEST_MISMATCH');
    await refused(batch(c, uploadId, items, { 'content-digest': '' }), 400, 'DIGEST_REQUIRED');
    await refused(batch(c, hexId(), items), 404, 'UPLOAD_NOT_FOUND');
    const many = Array.from({ length: MAX_BATCH_CHUNKS + 1 }, () => ({ id: chunkIdOf(), data: rand(10) }));
    await refused(batch(c, uploadId, many), 413, 'BATCH_TOO_LARGE');
    // Lengths over the limits are refused from the header, before the body is read.
    await refused(batch(c, uploadId, items, { 'coffer-chunks': `${x.id}:${MAX_CHUNK_BYTES + 1}` }), 413, 'CHUNK_TOO_LARGE');
    const over = Array.from({ length: Math.ceil(MAX_BATCH_BYTES / MAX_CHUNK_BYTES) }, () => `${chunkIdOf()}:${MAX_CHUNK_BYTES}`).join(', ');
    await refused(batch(c, uploadId, items, { 'coffer-chunks': over }), 413, 'BATCH_TOO_LARGE');
    for (const item of [...items, ...many]) expect(await s.ctx.blobs.has(blobKey(c.accountId, item.id))).toBe(false);
    expect((await c.json('POST', '/api/chunks/check', { uploadId, ids: [x.id, y.id] })).missing).toEqual([x.id, y.id]);
  });

  it('stops a batch at the quota with 507 before storing any of it', async () => {
    const q = await signup(s.app);
    const file = await q.createNode('file');
    const { uploadId } = await q.json('POST', '/api/uploads', { nodeId: file.id }, 201);
    const mib = 1024 * 1024;
    const fits = [1, 2].map(() => ({ id: chunkIdOf(), data: rand(mib) }));
    expect((await batch(q, uploadId, fits)).status).toBe(200);
    // 2 MiB stored of 3: one more MiB would fit, two do not, and neither is stored.
    const beyond = [1, 2].map(() => ({ id: chunkIdOf(), data: rand(mib) }));
    const res = await batch(q, uploadId, [fits[0]!, ...beyond]);
    expect(res.status).toBe(507);
    expect((await res.json()).code).toBe('QUOTA_EXCEEDED');
    for (const item of beyond) expect(await s.ctx.blobs.has(blobKey(q.accountId, item.id))).toBe(false);
    expect((await q.json('GET', '/api/account')).usedBytes).toBe(2 * mib);
    expect((await batch(q, uploadId, [beyond[0]!])).status).toBe(200);
  });

  it('keeps only the newest keepVersions versions', async () => {
    const file = await c.createNode('file');
    const shared = { id: chunkIdOf(), data: rand(1000) };
    for (let v = 0; v < 5; v++) await c.uploadVersion(file.id, [shared, { id: chunkIdOf(), data: rand(100) }], v);
    const { versions } = await c.json('GET', `/api/nodes/${file.id}/versions`);
    expect(versions.map((v: { version: number }) => v.version)).toEqual([5, 4, 3]);
    expect((await c.request('GET', `/api/nodes/${file.id}/versions/1`)).status).toBe(404);
    // Beyond the database's 32-bit version numbers: no such version either, not a failed query.
    expect((await c.request('GET', `/api/nodes/${file.id}/versions/2147483648`)).status).toBe(404);
  });

  it('stops at the quota with 507 before storing any byte', async () => {
    const q = await signup(s.app);
    const file = await q.createNode('file');
    const { uploadId } = await q.json('POST', '/api/uploads', { nodeId: file.id }, 201);
    const mib = 1024 * 1024;
    for (let i = 0; i < 3; i++) expect((await put(q, uploadId, chunkIdOf(), rand(mib - 100))).status).toBe(201);
    const over = { id: chunkIdOf(), data: rand(1000) };
    const res = await put(q, uploadId, over.id, over.data);
    expect(res.status).toBe(507);
    expect((await res.json()).code).toBe('QUOTA_EXCEEDED');
    expect(await s.ctx.blobs.has(blobKey(q.accountId, over.id))).toBe(false);
    const account = await q.json('GET', '/api/account');
    expect(account.usedBytes).toBe(3 * (mib - 100));
  });

  it('collects chunks of expired uploads and pruned versions, never those still referenced', async () => {
    const g = await signup(s.app);
    const file = await g.createNode('file');
    const kept = { id: chunkIdOf(), data: rand(300) };
    await g.uploadVersion(file.id, [kept], 0);
    // An abandoned upload with one chunk of its own.
    const { uploadId } = await g.json('POST', '/api/uploads', { nodeId: file.id }, 201);
    const orphan = { id: chunkIdOf(), data: rand(400) };
    expect((await put(g, uploadId, orphan.id, orphan.data)).status).toBe(201);

    // Within the grace period nothing goes, and a live upload protects its chunks.
    await collectGarbage(s.ctx, { graceSeconds: 3600 });
    await collectGarbage(s.ctx, { graceSeconds: 0 });
    expect(await s.ctx.blobs.has(blobKey(g.accountId, orphan.id))).toBe(true);

    await s.ctx.db.execute(sql`update uploads set expires_at = now() - interval '1 second' where id = ${uploadId}`);
    const result = await collectGarbage(s.ctx, { graceSeconds: 0 });
    expect(result.expiredUploads).toBeGreaterThanOrEqual(1);
    expect(await s.ctx.blobs.has(blobKey(g.accountId, orphan.id))).toBe(false);
    expect(await s.ctx.blobs.has(blobKey(g.accountId, kept.id))).toBe(true);
    expect((await g.json('GET', '/api/account')).usedBytes).toBe(300);
    expect((await g.request('GET', `/api/chunks/${kept.id}`)).status).toBe(200);

    // Purging the file frees its chunks too.
    await g.json('POST', `/api/nodes/${file.id}/trash`, undefined, 200);
    expect((await g.request('DELETE', `/api/nodes/${file.id}`)).status).toBe(204);
    await collectGarbage(s.ctx, { graceSeconds: 0 });
    expect(await s.ctx.blobs.has(blobKey(g.accountId, kept.id))).toBe(false);
    expect((await g.json('GET', '/api/account')).usedBytes).toBe(0);
  });
});
