// A 1 GiB file through the real `coffer` binary and a real server, on each backend: generated as it
// is written, put, got back on a second device, and compared by SHA-256 (nothing held in memory).
// Its own file, so that the other suites' checks of the whole blob store stay small.
import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_POSTGRES, postgresUrl } from '../../tests/support/env.ts';
import { coffer, embeddedBackend, postgresS3Backend, tempDir, type Backend, type RunResult } from './helpers.ts';

const SIZE = 2 ** 30;
const PIECE = 4 * 2 ** 20;

/** Writes `size` pseudo-random bytes keyed by `seed` to `path`; returns their SHA-256. */
async function generate(path: string, seed: string, size: number): Promise<string> {
  const cipher = createCipheriv('aes-256-ctr', createHash('sha256').update(seed).digest(), Buffer.alloc(16));
  const hash = createHash('sha256');
  const zeros = Buffer.alloc(PIECE);
  async function* pieces() {
    for (let done = 0; done < size; done += PIECE) {
      const piece = cipher.update(zeros.subarray(0, Math.min(PIECE, size - done)));
      hash.update(piece);
      yield piece;
    }
  }
  await pipeline(pieces(), createWriteStream(path));
  return hash.digest('hex');
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path, { highWaterMark: PIECE }), hash);
  return hash.digest('hex');
}

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
    const digest = await generate(local, email, SIZE);

    const put = JSON.parse(ok(await coffer(['put', '--json', local, '/large.bin'], env('a'))).stdout) as { chunks: number; chunksSent: number; totalBytes: number };
    expect(put.totalBytes).toBe(SIZE);
    expect(put.chunksSent).toBe(put.chunks);
    expect(put.chunks).toBeGreaterThan(SIZE / (4 * 2 ** 20)); // more chunks than at the largest size
    await rm(local);

    const out = join(work, 'large.out');
    ok(await coffer(['get', '--quiet', '/large.bin', out], env('b')));
    expect((await stat(out)).size).toBe(SIZE);
    expect(await sha256Of(out)).toBe(digest);
    expect(existsSync(`${out}.coffer-partial`)).toBe(false);
    expect(existsSync(`${out}.coffer-partial.json`)).toBe(false);
  }, 600_000);
}

describe('coffer CLI: a 1 GiB file, embedded database and folder blob store', () => {
  defineLargeFile(embeddedBackend);
});

describe.skipIf(!postgresUrl)(`coffer CLI: a 1 GiB file, PostgreSQL + S3 (s3rver)${postgresUrl ? '' : ` — ${NO_POSTGRES}`}`, () => {
  defineLargeFile(postgresS3Backend);
});
