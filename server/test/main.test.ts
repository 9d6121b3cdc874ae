// The real server process: start-up line, configuration errors (exit 2), static web vault,
// persistence across a graceful restart, and PostgreSQL + S3 configured from the environment.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase, NO_POSTGRES, postgresUrl } from '../../tests/support/env.js';
import { REPO_ROOT, SERVER_NODE_FLAGS, startServer } from '../../tests/support/server.js';
import { MAX_CHUNK_BYTES } from '../src/limits.js';
import { chunkIdOf, digestHeader, rand, signup } from './helpers.js';
import { startS3 } from './s3.js';

const http = (base: string) => ({ request: (path: string, init?: RequestInit) => fetch(base + path, init) });

function runMain(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, '--import', 'tsx', join(REPO_ROOT, 'server/src/main.ts')], {
      cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('exit', (code) => resolve({ code, output }));
  });
}

describe('the server process', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('is started by `npm start` with the same Node flags as in the tests and benchmarks', async () => {
    const pkg = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } };
    expect(pkg.scripts.start).toContain(`node ${SERVER_NODE_FLAGS.join(' ')} --import tsx server/src/main.ts`);
  });

  it('refuses a bad configuration with one clear message per mistake and exit status 2', async () => {
    const { code, output } = await runMain({ PORT: 'eighty', COFFER_QUOTA_BYTES: '-5', DATABASE_URL: 'mysql://x', S3_ENDPOINT: 'http://127.0.0.1:1' });
    expect(code).toBe(2);
    expect(output).toContain('PORT must be a whole number');
    expect(output).toContain('COFFER_QUOTA_BYTES must be a whole number');
    expect(output).toContain('DATABASE_URL must start with postgres://');
    expect(output).toContain('S3_BUCKET is required');
    expect(output).not.toContain('Coffer is running');
  });

  it('starts on a free port, serves the API and the web vault, and keeps data across a graceful restart', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'coffer-main-'));
    dirs.push(dataDir);
    const first = await startServer({ COFFER_DATA_DIR: dataDir });
    let email: string;
    let loginKey: string;
    try {
      expect(first.output().match(/Coffer is running at /g)).toHaveLength(1);
      expect(await (await fetch(`${first.url}/healthz`)).json()).toEqual({ ok: true });
      for (const path of ['/', '/s/0123456789abcdef0123456789abcdef']) {
        const page = await fetch(first.url + path);
        expect(page.status).toBe(200);
        expect(page.headers.get('content-type')).toMatch(/text\/html/);
        expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
        expect(await page.text()).toMatch(/<html|<!doctype/i);
      }
      const api404 = await fetch(`${first.url}/api/nope`);
      expect(await api404.json()).toMatchObject({ code: 'NOT_FOUND' });
      const c = await signup(http(first.url));
      ({ email, loginKey } = c);
      // A chunk through the real HTTP body path, and one over the limit.
      const file = await c.createNode('file');
      const chunk = { id: chunkIdOf(), data: rand(3 * 2 ** 20) };
      await c.uploadVersion(file.id, [chunk], 0);
      const back = await fetch(`${first.url}/api/chunks/${chunk.id}`, { headers: { authorization: `Bearer ${c.token}` } });
      expect(new Uint8Array(await back.arrayBuffer())).toEqual(chunk.data);
      const { uploadId } = await c.json('POST', '/api/uploads', { nodeId: file.id }, 201);
      const big = rand(MAX_CHUNK_BYTES + 1);
      const tooBig = await c.request('PUT', `/api/chunks/${chunkIdOf()}?upload=${uploadId}`, big, { 'content-digest': digestHeader(big) });
      expect(tooBig.status).toBe(413);
      expect((await tooBig.json()).code).toBe('CHUNK_TOO_LARGE');
    } finally {
      await first.stop();
    }
    expect(first.process.exitCode).toBe(0); // SIGTERM: a clean shutdown

    const second = await startServer({ COFFER_DATA_DIR: dataDir });
    try {
      const res = await fetch(`${second.url}/api/auth/login`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, loginKey, client: 'cli' }),
      });
      expect(res.status).toBe(200);
    } finally {
      await second.stop();
    }
  });

  it('keeps every answered write when the process is killed (SIGKILL) on the embedded default', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'coffer-kill-'));
    dirs.push(dataDir);
    const first = await startServer({ COFFER_DATA_DIR: dataDir });
    const chunks = [{ id: chunkIdOf(), data: rand(300_000) }, { id: chunkIdOf(), data: rand(5_000) }];
    let c: Awaited<ReturnType<typeof signup>>;
    let fileId: string;
    let folderId: string;
    try {
      c = await signup(http(first.url));
      fileId = (await c.createNode('file')).id;
      await c.uploadVersion(fileId, chunks, 0);
      folderId = (await c.createNode('folder')).id; // the last write, answered just before the kill
      // A second server on the same embedded database is refused: PGlite has no lock of its own, and
      // its crash recovery under a running server damages the database (db/pglite-lock.ts).
      const twice = await runMain({ COFFER_DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1' });
      expect(twice.code).toBe(2);
      expect(twice.output).toContain(`another Coffer server (process ${first.process.pid}) is using it`);
    } finally {
      const exited = new Promise((r) => first.process.once('exit', r));
      first.process.kill('SIGKILL');
      await exited;
    }
    expect(first.process.signalCode).toBe('SIGKILL');
    // The killed server's lock is left behind, and taken over by the next start.

    const second = await startServer({ COFFER_DATA_DIR: dataDir });
    try {
      const res = await fetch(`${second.url}/api/auth/login`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: c.email, loginKey: c.loginKey, client: 'cli' }),
      });
      expect(res.status).toBe(200);
      const { token } = (await res.json()) as { token: string };
      const auth = { authorization: `Bearer ${token}` };
      const folder = await fetch(`${second.url}/api/nodes/${folderId}`, { headers: auth });
      expect(folder.status).toBe(200);
      const file = (await (await fetch(`${second.url}/api/nodes/${fileId}`, { headers: auth })).json()) as { version: number };
      expect(file.version).toBe(1);
      for (const chunk of chunks) {
        const back = await fetch(`${second.url}/api/chunks/${chunk.id}`, { headers: auth });
        expect(new Uint8Array(await back.arrayBuffer())).toEqual(chunk.data);
      }
    } finally {
      await second.stop();
    }
  });

  it.skipIf(!postgresUrl)(`runs on PostgreSQL and S3 from the environment ${postgresUrl ? '' : NO_POSTGRES}`, async () => {
    const db = await createTestDatabase();
    const s3 = await startS3('coffer-main');
    const server = await startServer({ DATABASE_URL: db.url, ...s3.env });
    try {
      const c = await signup(http(server.url));
      const file = await c.createNode('file');
      const chunk = { id: chunkIdOf(), data: rand(20_000) };
      await c.uploadVersion(file.id, [chunk], 0);
      const back = await fetch(`${server.url}/api/chunks/${chunk.id}`, { headers: { authorization: `Bearer ${c.token}` } });
      expect(new Uint8Array(await back.arrayBuffer())).toEqual(chunk.data);
    } finally {
      await server.stop();
      await s3.stop();
      await db.drop();
    }
  });
});
