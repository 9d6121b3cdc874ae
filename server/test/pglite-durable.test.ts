// The embedded database in a folder syncs its commits to disk before answering them.
import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openDurablePglite } from '../src/db/pglite-durable.js';

/** The files fsyncSync syncs from now on, in call order (Linux: names from /proc/self/fd). */
function watchSyncs(): string[] {
  const real = fs.fsyncSync;
  const paths: string[] = [];
  vi.spyOn(fs, 'fsyncSync').mockImplementation((fd) => {
    // Read the name now: PostgreSQL may close and reuse the descriptor right after.
    paths.push(fs.readlinkSync(`/proc/self/fd/${fd}`));
    real(fd);
  });
  return paths;
}

describe('PGlite in a folder', () => {
  let dir: string | undefined;
  afterEach(async () => {
    vi.restoreAllMocks();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('runs with fsync on and syncs the WAL at every commit', async () => {
    dir = await mkdtemp(join(tmpdir(), 'coffer-pglite-'));
    const pg = await openDurablePglite(join(dir, 'db'));
    try {
      expect((await pg.query<{ fsync: string }>('show fsync')).rows[0]?.fsync).toBe('on');
      await pg.exec('create table t (a int)');

      const synced = watchSyncs();
      for (let i = 0; i < 5; i++) await pg.query('insert into t values ($1)', [i]);
      const wal = join(dir, 'db', 'pg_wal') + '/';
      expect(synced.filter((path) => path.startsWith(wal))).toHaveLength(5);

      // A read commits nothing, so it waits for no fsync.
      const before = synced.length;
      await pg.query('select count(*) from t');
      expect(synced).toHaveLength(before);
    } finally {
      await pg.close();
    }
  });

  it('keeps what it committed across a reopen', async () => {
    dir = await mkdtemp(join(tmpdir(), 'coffer-pglite-'));
    const first = await openDurablePglite(join(dir, 'db'));
    await first.exec('create table t (a int); insert into t values (42)');
    await first.close();
    const second = await openDurablePglite(join(dir, 'db'));
    try {
      expect((await second.query<{ a: number }>('select a from t')).rows).toEqual([{ a: 42 }]);
    } finally {
      await second.close();
    }
  });
});
