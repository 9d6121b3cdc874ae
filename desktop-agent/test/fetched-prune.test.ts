// COFFER_HOME/fetched, where a share link's download keeps the chunk tags of the files it finished,
// stays bounded: pruneFetched keeps what the fetch now ending used, and of the rest the most
// recently used records (home.ts). The end-to-end check is in suite.ts.
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { FETCHED_LIMITS, pruneFetched } from '../src/home.ts';
import { tempDir } from './helpers.ts';

const DAY = 24 * 3600 * 1000;
const hex = (i: number) => i.toString(16).padStart(32, '0');
let dir: string;

beforeEach(async () => {
  dir = join(await tempDir('fetched'), 'fetched');
  await mkdir(dir);
});
afterEach(async () => {
  await rm(join(dir, '..'), { recursive: true, force: true });
});

/** A file in the folder, last written `ago` ms before `now`. */
async function plant(name: string, now: number, ago: number): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, '{"tags":[]}', { mode: 0o600 });
  await utimes(path, new Date(now - ago), new Date(now - ago));
  return name;
}

it('keeps what the ending fetch used, and of the others the most recently used, up to a year unused', async () => {
  const now = Date.now();
  const since = now - 60_000;
  // The real limits but a smaller count (suite.ts fetches with 1,000): a file takes ~1 ms to make.
  const limits = { ...FETCHED_LIMITS, records: 8 };
  const used = await Promise.all([1, 2, 3].map((i) => plant(`${hex(i)}.json`, now, i * 1000)));
  // One more older record than the limit, a day apart, the first one the most recent.
  const older = await Promise.all(Array.from({ length: limits.records + 1 }, (_, i) => plant(`${hex(100 + i)}.json`, now, (i + 1) * DAY)));
  const unused = await plant(`${hex(5)}.json`, now, 366 * DAY);
  const leftTmp = await plant(`${hex(6)}.json.4242.tmp`, now, 2 * 3600 * 1000);
  const writing = await plant(`${hex(7)}.json.4243.tmp`, now, 1000);
  const foreign = await plant('notes.txt', now, 1000 * DAY);

  expect(await pruneFetched(since, dir, limits, now)).toBe(3);
  const left = new Set(await readdir(dir));
  expect(left.size).toBe(3 + limits.records + 2);
  for (const name of [...used, ...older.slice(0, -1), writing, foreign]) expect(left.has(name)).toBe(true);
  for (const name of [older.at(-1)!, unused, leftTmp]) expect(left.has(name)).toBe(false);
});

it('keeps every record the ending fetch used, however many, and stops at a record unused for a year', async () => {
  const now = Date.now();
  const limits = { ...FETCHED_LIMITS, records: 2 };
  const used = await Promise.all([1, 2, 3, 4].map((i) => plant(`${hex(i)}.json`, now, i)));
  const recent = await plant(`${hex(10)}.json`, now, 10 * DAY);
  const unused = await plant(`${hex(11)}.json`, now, 400 * DAY);
  expect(await pruneFetched(now - 1000, dir, limits, now)).toBe(1);
  expect((await readdir(dir)).sort()).toEqual([...used, recent].sort());
  expect(existsSync(join(dir, unused))).toBe(false);
});

it('does nothing without the folder', async () => {
  expect(await pruneFetched(Date.now(), join(dir, 'missing'))).toBe(0);
});
