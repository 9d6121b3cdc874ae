// Api.bytes reading a chunk's answer into a caller's buffer (RequestOptions.into), against a small
// HTTP server on loopback that answers as told.
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api } from '../src/http.ts';

let server: Server;
let base: string;
// What the next requests get, by path.
const answers = new Map<string, (res: import('node:http').ServerResponse) => void>();

beforeAll(async () => {
  process.env.COFFER_RETRY_SECONDS = '2'; // the answers below never get better: give up soon
  server = createServer((req, res) => {
    const answer = answers.get(req.url ?? '');
    if (answer) answer(res);
    else res.writeHead(404, { 'content-type': 'application/json' }).end('{"code":"NOT_FOUND","message":"No such chunk"}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => new Promise((r) => server.close(r)));

const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

describe('Api.bytes with `into`', () => {
  it('reads a good answer, in many parts, into the buffer given', async () => {
    const body = bytes(300_000, 1);
    answers.set('/whole', (res) => {
      res.writeHead(200, { 'content-length': String(body.length), 'content-type': 'application/octet-stream' });
      for (let at = 0; at < body.length; at += 10_000) res.write(body.subarray(at, at + 10_000));
      res.end();
    });
    const given: Uint8Array[] = [];
    const into = (length: number) => {
      const b = new Uint8Array(new ArrayBuffer(length + 16), 8, length).fill(0xee);
      given.push(b);
      return b;
    };
    const got = await new Api(base).bytes('GET', '/whole', { into });
    expect(given).toHaveLength(1);
    expect(got).toBe(given[0]);
    expect(Buffer.from(got).equals(Buffer.from(body))).toBe(true);
  });

  it('does not ask for a buffer for an error answer, which still reads as an API error', async () => {
    let asked = 0;
    await expect(new Api(base).bytes('GET', '/missing', { into: (n) => (asked++, new Uint8Array(n)) }))
      .rejects.toMatchObject({ status: 404, code: 'NOT_FOUND' });
    expect(asked).toBe(0);
  });

  it('refuses an answer longer than its Content-Length, and one that stops short, retrying then failing', async () => {
    for (const [path, sent] of [['/long', 2000], ['/short', 500]] as const) {
      let requests = 0;
      answers.set(path, (res) => {
        requests++;
        // Sent as raw bytes on the socket: Node's own server would refuse to send a wrong length.
        const socket = res.socket!;
        socket.write(`HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: 1000\r\n\r\n`);
        socket.end(Buffer.from(bytes(sent, 2)));
      });
      const run = new Api(base).bytes('GET', path, { into: (n) => new Uint8Array(n) });
      await expect(run).rejects.toThrow(/lost the connection|cannot reach/);
      expect(requests).toBeGreaterThan(1);
    }
  }, 60_000);
});

describe('a binary body in parts', () => {
  it('goes out as one body, in order, with the total as its Content-Length', async () => {
    let received: { length: string | undefined; body: Buffer } | null = null;
    const seen = new Promise<void>((done) => {
      answers.set('/parts', (res) => {
        const req = res.req;
        const pieces: Buffer[] = [];
        req.on('data', (p: Buffer) => pieces.push(p));
        req.on('end', () => {
          received = { length: req.headers['content-length'], body: Buffer.concat(pieces) };
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"chunks":3}');
          done();
        });
      });
    });
    const parts = [bytes(70_000, 3), bytes(1, 4), bytes(5000, 5)];
    const api = new Api(base);
    const res = await api.fetch('POST', '/parts', { raw: parts });
    await seen;
    expect(res.status).toBe(200);
    expect(received!.length).toBe('75001');
    expect(received!.body.equals(Buffer.concat(parts))).toBe(true);
    expect(api.bytesSent).toBe(75_001);
  });
});

describe('JSON requests', () => {
  it('send their body and read the answer, and an empty answer as {}', async () => {
    answers.set('/echo', (res) => {
      const pieces: Buffer[] = [];
      res.req.on('data', (p: Buffer) => pieces.push(p));
      res.req.on('end', () => {
        res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ got: JSON.parse(Buffer.concat(pieces).toString()), type: res.req.headers['content-type'] }));
      });
    });
    answers.set('/none', (res) => res.writeHead(204).end());
    const api = new Api(base);
    expect(await api.json('POST', '/echo', { body: { name: 'ä' } })).toEqual({ got: { name: 'ä' }, type: 'application/json' });
    expect(api.bytesSent).toBe(Buffer.byteLength('{"name":"ä"}'));
    expect(await api.json('DELETE', '/none')).toEqual({});
  });

  it('fail at once on a connection closed as soon as it is open, even the first one of a process', async () => {
    // Like a proxy that takes connections while the server behind it is down. Node 20's fetch
    // missed such a close on the first connection of a process (it was still compiling its parser)
    // and the request waited out its time limit. Only a new process has that first connection, and
    // the close must come in those few milliseconds (most times it does): four processes try it.
    // (It reads what it is sent, so as to see the client close its side.)
    const closer = createTcpServer((socket) => socket.on('error', () => {}).resume().end());
    await new Promise<void>((r) => closer.listen(0, '127.0.0.1', () => r()));
    try {
      const url = `http://127.0.0.1:${(closer.address() as { port: number }).port}`;
      const code = `import { Api } from ${JSON.stringify(new URL('../src/http.ts', import.meta.url).pathname)};
        try { await new Api(${JSON.stringify(url)}).json('GET', '/api/health', { once: true }); } catch (e) { console.log(e.message); }`;
      const { NODE_OPTIONS: _, ...env } = process.env;
      const run = () => new Promise<string>((resolve) => {
        const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: import.meta.dirname, env });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (out += d.toString()));
        child.on('close', () => resolve(out));
      });
      for (const out of await Promise.all([run(), run(), run(), run()])) {
        expect(out).toContain(`cannot reach the server at ${url} (GET /api/health)`);
        expect(out).not.toContain('no answer within');
      }
    } finally {
      await new Promise((r) => closer.close(r));
    }
  }, 60_000);
});
