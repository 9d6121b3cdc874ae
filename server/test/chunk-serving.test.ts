// Chunks through a real server process (tests/support/server.ts), whose buffers are reused: the
// folder store hands its read buffers out again once a response has closed (blob/send.ts), and a
// chunk PUT reads its body into a pooled buffer given back once it is answered (routes/chunks.ts).
// So many transfers at once, and transfers cut off or refused midway, must all keep their own bytes.
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../tests/support/server.js';
import { chunkIdOf, digestHeader, rand, signup, type Client } from './helpers.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('chunks through a real server process', () => {
  let server: RunningServer;
  let c: Client;
  beforeAll(async () => {
    server = await startServer();
    c = await signup({ request: (path, init) => fetch(server.url + path, init) });
  });
  afterAll(() => server?.stop());

  /** Starts a chunk PUT, sends half of the body and drops the connection. */
  const cutOffUpload = (uploadId: string, data: Uint8Array) => new Promise<void>((resolve, reject) => {
    const req = request(`${server.url}/api/chunks/${chunkIdOf()}?upload=${uploadId}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${c.token}`, 'content-digest': digestHeader(data), 'content-length': String(data.byteLength) },
    });
    req.on('error', (err) => (req.destroyed ? resolve() : reject(err)));
    req.write(data.subarray(0, data.byteLength >> 1), () => {
      req.destroy();
      resolve();
    });
  });

  /** Starts a download, reads its first bytes and drops the connection. */
  const cutOff = (id: string) => new Promise<void>((resolve, reject) => {
    const req = request(`${server.url}/api/chunks/${id}`, { headers: { authorization: `Bearer ${c.token}` } }, (res) => {
      res.once('data', () => {
        req.destroy();
        resolve();
      });
    });
    req.on('error', (err) => (req.destroyed ? resolve() : reject(err)));
    req.end();
  });

  it('keeps a slow download\'s bytes its own while other downloads come and go', async () => {
    const file = await c.createNode('file');
    // Records of nearly 4 MiB, in one buffer class of the store. (On loopback the kernel takes in a
    // whole record, so this checks the bytes a paused reader gets at last; that a buffer goes back
    // only at the response's 'close', after its last byte went to the socket, is Node's contract.)
    const chunks = Array.from({ length: 8 }, (_, i) => ({ id: chunkIdOf(), data: rand(4_000_000 + i * 1_000) }));
    await c.uploadVersion(file.id, chunks, 0);
    const paused = await Promise.all(chunks.slice(0, 3).map((ch) => new Promise<{ resume: () => Promise<Buffer> }>((resolve, reject) => {
      const req = request(`${server.url}/api/chunks/${ch.id}`, { headers: { authorization: `Bearer ${c.token}` } }, (res) => {
        res.pause(); // reads nothing until resumed
        const parts: Buffer[] = [];
        const body = new Promise<Buffer>((done) => res.on('data', (p: Buffer) => parts.push(p)).on('end', () => done(Buffer.concat(parts))));
        resolve({ resume: () => (res.resume(), body) });
      });
      req.on('error', reject);
      req.end();
    })));
    await new Promise((r) => setTimeout(r, 200)); // the server writes what the sockets take
    for (let round = 0; round < 3; round++) {
      await Promise.all(chunks.slice(3).map(async (ch) => {
        const res = await c.request('GET', `/api/chunks/${ch.id}`);
        expect(sha(new Uint8Array(await res.arrayBuffer()))).toBe(sha(ch.data));
      }));
    }
    const bodies = await Promise.all(paused.map((p) => p.resume()));
    bodies.forEach((body, i) => expect(sha(body)).toBe(sha(chunks[i]!.data)));
  });

  it('sends every download its own bytes, with many at once and some cut off midway', async () => {
    const file = await c.createNode('file');
    // Sizes within one or two of the store's buffer classes, so buffers are handed out again.
    const chunks = Array.from({ length: 24 }, (_, i) => ({ id: chunkIdOf(), data: rand(200_000 + i * 4_000) }));
    await c.uploadVersion(file.id, chunks, 0);
    const want = new Map(chunks.map((ch) => [ch.id, sha(ch.data)]));

    for (let round = 0; round < 3; round++) {
      const jobs = [...chunks, ...chunks, ...chunks, ...chunks];
      let next = 0;
      await Promise.all([
        ...chunks.slice(0, 8).map((ch) => cutOff(ch.id)),
        ...Array.from({ length: 16 }, async () => {
          for (let j = next++; j < jobs.length; j = next++) {
            const res = await c.request('GET', `/api/chunks/${jobs[j]!.id}`);
            expect(res.status).toBe(200);
            expect(sha(new Uint8Array(await res.arrayBuffer()))).toBe(want.get(jobs[j]!.id));
          }
        }),
      ]);
    }
  });

  it('stores every upload\'s own bytes, with many at once and some refused or cut off midway', async () => {
    const file = await c.createNode('file');
    const { uploadId } = await c.json('POST', '/api/uploads', { nodeId: file.id }, 201);
    // Sizes within a few of the pool's 256 KiB classes, so body buffers are handed out again.
    const chunks = Array.from({ length: 48 }, (_, i) => ({ id: chunkIdOf(), data: rand(700_000 + i * 7_000) }));
    const put = (ch: { id: string; data: Uint8Array }, digestOf = ch.data) =>
      c.request('PUT', `/api/chunks/${ch.id}?upload=${uploadId}`, ch.data, { 'content-digest': digestHeader(digestOf) });
    let next = 0;
    await Promise.all([
      // Bodies that are read in full, then refused: their buffers go back too.
      ...chunks.slice(0, 8).map(async (ch) => {
        const res = await put({ id: chunkIdOf(), data: ch.data }, rand(10));
        expect(res.status).toBe(400);
        expect((await res.json()).code).toBe('DIGEST_MISMATCH');
      }),
      ...chunks.slice(8, 16).map((ch) => cutOffUpload(uploadId, ch.data)),
      ...Array.from({ length: 8 }, async () => {
        for (let j = next++; j < chunks.length; j = next++) expect((await put(chunks[j]!)).status).toBe(201);
      }),
    ]);
    await c.json('POST', `/api/nodes/${file.id}/versions`, {
      uploadId, baseVersion: 0, manifest: Buffer.from(rand(13 + 72 * chunks.length + 30)).toString('base64url'),
      chunkIds: chunks.map((ch) => ch.id), metadata: Buffer.from(rand(300)).toString('base64url'),
    }, 201);
    for (const ch of chunks) {
      const res = await c.request('GET', `/api/chunks/${ch.id}`);
      expect(res.status).toBe(200);
      expect(sha(new Uint8Array(await res.arrayBuffer()))).toBe(sha(ch.data));
    }
  });
});
