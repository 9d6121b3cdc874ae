// A 1 GiB file through the real `coffer` binary and a real server, on each backend: written a piece
// at a time, put, got back on a second device, and compared by SHA-256 (nothing held in memory).
// Its own file, so that the other suites' checks of the whole blob store stay small.
import { existsSync } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_POSTGRES, postgresUrl } from '../../tests/support/env.ts';
import { coffer, embeddedBackend, postgresS3Backend, sha256File, tempDir, writeSeededFile, type Backend, type RunResult } from './helpers.ts';

const SIZE = 2 ** 30;

function ok(r: RunResult): RunResult {
  if (r.code !== 0) throw new Error(`coffer exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

function defineLargeFile(start: () => Promise<Backend>): void {
  let backend: Backend;
  let work: string;
  beforeAll(async () => {
    backend = await start();
    work = await tempDir('large');
  });
  afterAll(async () => {
    await backend?.cleanup();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('puts a 1 GiB file and gets it back on another device, the same bytes', async () => {
    const email = `large-${Math.random().toString(36).slice(2)}@example.test`;
    const env = (home: string) => ({
      COFFER_HOME: join(work, home), COFFER_SERVER: backend.server.url, COFFER_EMAIL: email,
      COFFER_PASSPHRASE: 'a large file passphrase',
    });
    ok(await coffer(['signup', '--quiet'], env('a')));
    ok(await coffer(['login', '--quiet'], env('b')));
    const local = join(work, 'large.bin');
    await writeSeededFile(local, email, SIZE);
    const digest = await sha256File(local);

    const put = JSON.parse(ok(await coffer(['put', '--json', local, '/large.bin'], env('a'))).stdout) as { chunks: number; chunksSent: number; totalBytes: number };
    expect(put.totalBytes).toBe(SIZE);
    expect(put.chunksSent).toBe(put.chunks);
    expect(put.chunks).toBeGreaterThan(SIZE / (4 * 2 ** 20)); // more chunks than at the largest size
    await rm(local);

    const out = join(work, 'large.out');
    ok(await coffer(['get', '--quiet', '/large.bin', out], env('b')));
    expect((await stat(out)).size).toBe(SIZE);
    expect(await sha256File(out)).toBe(digest);
    expect(existsSync(`${out}.coffer-partial`)).toBe(false);
    expect(existsSync(`${out}.coffer-partial.json`)).toBe(false);
  }, 600_000);
}

describe('coffer CLI: a 1 GiB file, embedded database and folder blob store', () => {
  defineLargeFile(embeddedBackend);
});

// Skipped only where no PostgreSQL answers (a laptop without one): the test summary names it, and
// under CI the global setup fails the run instead (tests/support/global-setup.ts).
describe.skipIf(!postgresUrl)(`coffer CLI: a 1 GiB file, PostgreSQL + S3 (s3rver)${postgresUrl ? '' : ` — ${NO_POSTGRES}`}`, () => {
  defineLargeFile(postgresS3Backend);
});
