// sendRecords against small HTTP servers on loopback: one that takes batches, and one from before
// POST /api/chunks/batch (it answers 405), to which the same chunks go as one PUT each.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { Api } from '../src/http.ts';
import { sendRecords } from '../src/transfer.ts';

interface Received { method: string; path: string; headers: IncomingMessage['headers']; body: Buffer }

let server: Server | null = null;
afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

/** A server that records every request; `batches` says whether it knows POST /api/chunks/batch. */
async function serve(batches: boolean): Promise<{ base: string; received: Received[] }> {
  const received: Received[] = [];
  server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (p: Buffer) => parts.push(p));
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0]!;
      received.push({ method: req.method!, path, headers: req.headers, body: Buffer.concat(parts) });
      const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (req.method === 'POST' && path === '/api/chunks/batch') {
        if (batches) json(200, { chunks: 2, created: 2 });
        else json(405, { code: 'METHOD_NOT_ALLOWED', message: 'Method not allowed' });
      } else if (req.method === 'PUT') {
        res.writeHead(201).end();
      } else {
        json(404, { code: 'NOT_FOUND', message: 'No such route' });
      }
    });
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
  return { base: `http://127.0.0.1:${(server!.address() as { port: number }).port}`, received };
}

const chunk = (seed: number, length: number) => ({
  entry: { chunkId: createHash('sha256').update(`id ${seed}`).digest('hex') },
  record: Uint8Array.from({ length }, (_, i) => (i * 7 + seed) & 0xff),
}) as Parameters<typeof sendRecords>[2][number];
const digest = (body: Uint8Array) => `sha-256=:${createHash('sha256').update(body).digest('base64')}:`;
const upload = 'ab'.repeat(16);

describe('sendRecords', () => {
  it('sends the chunks in one batch request: the records in order, listed with their lengths, one digest', async () => {
    const { base, received } = await serve(true);
    const chunks = [chunk(1, 3000), chunk(2, 1)];
    await sendRecords(new Api(base), upload, chunks);
    expect(received).toHaveLength(1);
    const [r] = received;
    const body = Buffer.concat(chunks.map((c) => c.record));
    expect([r!.method, r!.path]).toEqual(['POST', '/api/chunks/batch']);
    expect(r!.body.equals(body)).toBe(true);
    expect(r!.headers['coffer-chunks']).toBe(`${chunks[0]!.entry.chunkId}:3000, ${chunks[1]!.entry.chunkId}:1`);
    expect(r!.headers['content-digest']).toBe(digest(body));
  });

  it('falls back to a PUT each on a server without batches, and asks that server for none again', async () => {
    const { base, received } = await serve(false);
    const api = new Api(base);
    const chunks = [chunk(3, 500), chunk(4, 700)];
    await sendRecords(api, upload, chunks);
    await sendRecords(api, upload, [chunk(5, 10)]);
    // One batch request, refused; then the PUTs (sent in parallel, so in any order), no second batch.
    expect(`${received[0]!.method} ${received[0]!.path}`).toBe('POST /api/chunks/batch');
    expect(received.slice(1).map((r) => `${r.method} ${r.path}`).sort()).toEqual(
      [...chunks, chunk(5, 10)].map((c) => `PUT /api/chunks/${c.entry.chunkId}`).sort(),
    );
    for (const r of received.filter((x) => x.method === 'PUT')) {
      expect(r.headers['content-digest']).toBe(digest(r.body));
    }
    expect(received.filter((r) => r.method === 'PUT').map((r) => r.body.length).sort((a, b) => a - b)).toEqual([10, 500, 700]);
  });

  it('passes on any other refusal as the error it is', async () => {
    const { base } = await serve(true);
    // This server now refuses every request as for an expired upload.
    server!.removeAllListeners('request');
    server!.on('request', (req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(404, { 'content-type': 'application/json' }).end('{"code":"UPLOAD_NOT_FOUND","message":"No such upload, or it expired"}'));
    });
    await expect(sendRecords(new Api(base), upload, [chunk(6, 20)])).rejects.toMatchObject({ status: 404, code: 'UPLOAD_NOT_FOUND' });
  });
});
