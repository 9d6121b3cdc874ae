// The put journal: what a re-run of an interrupted put trusts, and what it refuses.
import { randomBytes } from 'node:crypto';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ManifestEntry } from '@coffer/crypto-core';
import { storedLengthOf } from '@coffer/crypto-core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JournalWriter, NO_PREFIX, journalLine, readJournal } from '../src/put-journal.ts';

const UPLOAD = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
const FILE_SIZE = 1 << 30;

function entry(plainLength: number): ManifestEntry {
  return { chunkId: randomBytes(32).toString('hex'), chunkKey: new Uint8Array(randomBytes(32)), plainLength, storedLength: storedLengthOf(plainLength) };
}

describe('put journal', () => {
  let dir: string;
  let path: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'coffer-journal-'));
    path = join(dir, 'upload.chunks');
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const write = async (entries: ManifestEntry[][], from = NO_PREFIX) => {
    const writer = new JournalWriter(path, UPLOAD, from);
    for (const group of entries) writer.append(group);
    await writer.close();
  };

  it('reads back what was appended, in order, with the bytes it covers', async () => {
    const entries = [entry(1000), entry(2_000_000), entry(4 * 1024 * 1024), entry(7)];
    await write([entries.slice(0, 1), entries.slice(1, 3), entries.slice(3)]);
    const prefix = await readJournal(path, UPLOAD, FILE_SIZE);
    expect(prefix.entries).toEqual(entries);
    expect(prefix.offset).toBe(1000 + 2_000_000 + 4 * 1024 * 1024 + 7);
    expect(prefix.bytes).toBe((await readFile(path)).length);
  });

  it('drops a line cut short, and a continued journal writes over it', async () => {
    const first = [entry(100), entry(200)];
    await write([first]);
    await appendFile(path, journalLine(UPLOAD, 2, entry(300)).slice(0, 50)); // a crash mid-line
    const prefix = await readJournal(path, UPLOAD, FILE_SIZE);
    expect(prefix.entries).toEqual(first);

    const more = [entry(400), entry(500)];
    await write([more], prefix);
    const again = await readJournal(path, UPLOAD, FILE_SIZE);
    expect(again.entries).toEqual([...first, ...more]);
    expect(again.offset).toBe(1200);
  });

  it('is ignored as a whole when a line is damaged, moved or from another upload', async () => {
    await write([[entry(100), entry(200), entry(300)]]);
    const good = await readFile(path, 'utf8');
    const [header, ...lines] = good.trimEnd().split('\n');

    const [id, key, ...rest] = lines[1]!.split(' ');
    const flipped = [header, lines[0], [id, (key![0] === 'A' ? 'B' : 'A') + key!.slice(1), ...rest].join(' '), lines[2], ''].join('\n');
    const swapped = [header, lines[1], lines[0], lines[2], ''].join('\n');
    const longer = good.replace(/ 300 /, ' 301 ');
    for (const text of [flipped, swapped, longer]) {
      expect(text).not.toBe(good);
      await writeFile(path, text);
      expect(await readJournal(path, UPLOAD, FILE_SIZE)).toEqual(NO_PREFIX);
    }

    await writeFile(path, good);
    expect((await readJournal(path, UPLOAD, FILE_SIZE)).entries).toHaveLength(3);
    expect(await readJournal(path, 'ffffffffffffffffffffffffffffffff', FILE_SIZE)).toEqual(NO_PREFIX);
    expect(await readJournal(path, UPLOAD, 599)).toEqual(NO_PREFIX); // more bytes than the file has
    expect(await readJournal(join(dir, 'none.chunks'), UPLOAD, FILE_SIZE)).toEqual(NO_PREFIX);
  });
});
