// Chunk downloads through a real server process (tests/support/server.ts). The folder store hands
// its read buffers out again once a response has closed (blob/send.ts), so many downloads at once,
// and downloads cut off midway, must all still get their own bytes.
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../tests/support/server.js';
import { chunkIdOf, rand, signup, type Client } from './helpers.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('chunk downloads from a real server process', () => {
  let server: RunningServer;
  let c: Client;
  beforeAll(async () => {
    server = await startServer();
    c = await signup({ request: (path, init) => fetch(server.url + path, init) });
  });
  afterAll(() => server?.stop());

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
});
