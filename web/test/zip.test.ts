// The folder zip of src/crypto/zip.ts in Node (client-zip runs here as in the worker), read back
// with yauzl: names, bytes, CRCs, times, the predicted length, Zip64 end records past 65,535
// entries, and a file that fails or lies about its size ending the stream before the archive's end.
import { describe, expect, test } from 'vitest';
import { childPath, childPaths, zipArchive, zipLength, type ZipItem } from '../src/crypto/zip';
import { seededBytes } from './support';
import { unzip } from './unzip';

type Item = ZipItem & { data?: Uint8Array };

function streamOf(data: Uint8Array, piece = 100_000, onCancel?: () => void): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (at >= data.length) return c.close();
      c.enqueue(data.slice(at, (at += piece)));
    },
    cancel: onCancel,
  });
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const p of stream as unknown as AsyncIterable<Uint8Array>) parts.push(p);
  return Buffer.concat(parts);
}

/** Reads the stream until it errors; the bytes it gave before, and the error. */
async function readUntilError(stream: ReadableStream<Uint8Array>): Promise<{ got: Buffer; err: unknown }> {
  const parts: Uint8Array[] = [];
  const reader = stream.getReader();
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) return { got: Buffer.concat(parts), err: null };
      parts.push(r.value);
    }
  } catch (err) {
    return { got: Buffer.concat(parts), err };
  }
}

const EOCD_SIGNATURE = Buffer.from([0x50, 0x4b, 0x05, 0x06]);

describe('folder zip (src/crypto/zip.ts)', () => {
  test('names, bytes, CRCs and times read back; the length is the one predicted', async () => {
    const when = new Date(2024, 4, 17, 13, 45, 30).getTime(); // local time, as a zip stores it
    const items: Item[] = [
      { path: 'Trip', kind: 'folder', size: 0, mtime: when },
      { path: 'Trip/empty', kind: 'folder', size: 0, mtime: when },
      { path: 'Trip/nested', kind: 'folder', size: 0, mtime: when },
      { path: 'Trip/nested/big.bin', kind: 'file', size: 0, mtime: when + 2000, data: seededBytes('zip-big', 700_001) },
      { path: 'Trip/Ünïcødé 📷.txt', kind: 'file', size: 0, mtime: when + 4000, data: new TextEncoder().encode('héllo\n') },
      { path: 'Trip/zero.bin', kind: 'file', size: 0, mtime: Date.UTC(1970, 0, 1), data: new Uint8Array(0) },
    ];
    for (const i of items) i.size = i.data?.length ?? 0;
    const seen: number[] = [];
    let ended = false;
    const zip = zipArchive(items, async (i) => streamOf(i.data!), { progress: (d) => seen.push(d), end: () => (ended = true), error: () => {} });
    const bytes = await readAll(zip.stream);
    expect(bytes.length).toBe(zip.size);
    expect(zip.size).toBe(zipLength(items));
    expect(seen.at(-1)).toBe(zip.size);
    expect(ended).toBe(true);

    const { entries } = await unzip(bytes);
    expect(entries.map((e) => e.name)).toEqual(['Trip/', 'Trip/empty/', 'Trip/nested/', 'Trip/nested/big.bin', 'Trip/Ünïcødé 📷.txt', 'Trip/zero.bin']);
    for (const [i, e] of entries.entries()) {
      const item = items[i]!;
      expect(e.utf8).toBe(true);
      expect(e.data.equals(Buffer.from(item.data ?? []))).toBe(true);
      // MS-DOS time: 2-second steps; before 1980 it cannot say, and 1980-01-01 is stored.
      const want = item.mtime < new Date(1980, 0, 1).getTime() ? new Date(1980, 0, 1).getTime() : Math.floor(item.mtime / 2000) * 2000;
      expect(e.mtime.getTime()).toBe(want);
    }
  });

  test('65,536 entries: Zip64 end records say how many (client-zip alone writes 0xFFFF and none)', async () => {
    const items: Item[] = [{ path: 'many', kind: 'folder', size: 0, mtime: 0 }];
    // Mostly empty folders, which client-zip writes fastest; every 1,000th a file of 3 bytes.
    for (let i = 1; i < 65_536; i++) items.push({ path: `many/${i}`, kind: i % 1000 ? 'folder' : 'file', size: i % 1000 ? 0 : 3, mtime: 0 });
    const zip = zipArchive(items, async (i) => streamOf(new Uint8Array(i.size).fill(7)));
    const bytes = await readAll(zip.stream);
    expect(bytes.length).toBe(zip.size);
    // One Zip64 end record: a client-zip that wrote its own as well would leave a stray one.
    const ZIP64_EOCD = Buffer.from([0x50, 0x4b, 0x06, 0x06]);
    expect(bytes.indexOf(ZIP64_EOCD)).toBeGreaterThan(0);
    expect(bytes.indexOf(ZIP64_EOCD)).toBe(bytes.lastIndexOf(ZIP64_EOCD));
    const { entries, entryCount } = await unzip(bytes);
    expect(entryCount).toBe(65_536);
    expect(entries.length).toBe(65_536);
    expect(entries[0]!.name).toBe('many/');
    expect(entries[65_535]!.name).toBe('many/65535/');
    expect(entries[1000]!.data).toEqual(Buffer.from([7, 7, 7]));
  });

  test('a file whose stream fails errors the archive before its end record, with the code', async () => {
    let openedB = false;
    const items: Item[] = [
      { path: 'f', kind: 'folder', size: 0, mtime: 0 },
      { path: 'f/a', kind: 'file', size: 300_000, mtime: 0 },
      { path: 'f/b', kind: 'file', size: 10, mtime: 0 },
    ];
    const errors: unknown[] = [];
    const zip = zipArchive(items, async (i) => {
      if (i.path === 'f/b') openedB = true; // never reached: the archive stops at f/a
      let n = 0;
      return new ReadableStream<Uint8Array>({
        pull(c) {
          if (n++ === 1) return c.error(Object.assign(new Error('AUTH_FAILED: chunk 1 of f/a'), { code: 'AUTH_FAILED' }));
          c.enqueue(new Uint8Array(100_000));
        },
      });
    }, { progress: () => {}, end: () => {}, error: (e) => errors.push(e) });
    const { got, err } = await readUntilError(zip.stream);
    expect((err as { code?: string }).code).toBe('AUTH_FAILED');
    expect((err as Error).message).toMatch(/^AUTH_FAILED:/); // what survives crossing to the page
    expect(errors).toHaveLength(1);
    expect(got.length).toBeLessThan(zip.size);
    expect(got.includes(EOCD_SIGNATURE)).toBe(false);
    expect(openedB).toBe(false);
    await expect(unzip(got)).rejects.toThrow();
  });

  test('a file shorter or longer than its listing says fails the archive', async () => {
    for (const given of [9, 11]) {
      const items: Item[] = [{ path: 'f', kind: 'folder', size: 0, mtime: 0 }, { path: 'f/a', kind: 'file', size: 10, mtime: 0 }];
      const { got, err } = await readUntilError(zipArchive(items, async () => streamOf(new Uint8Array(given), 4)).stream);
      expect((err as { code?: string }).code).toBe('SIZE_MISMATCH');
      expect(got.includes(EOCD_SIGNATURE)).toBe(false);
    }
  });

  test('cancelling the archive cancels the file being read', async () => {
    let cancelled = false;
    const items: Item[] = [{ path: 'f', kind: 'folder', size: 0, mtime: 0 }, { path: 'f/a', kind: 'file', size: 5_000_000, mtime: 0 }];
    const zip = zipArchive(items, async () => streamOf(new Uint8Array(5_000_000), 100_000, () => (cancelled = true)));
    const reader = zip.stream.getReader();
    await reader.read();
    await reader.read();
    await reader.cancel();
    await expect.poll(() => cancelled).toBe(true);
  });

  test('no path segment can climb out or be absolute (zip-slip)', () => {
    expect(childPath(null, 'Trip')).toBe('Trip');
    expect(childPath('Trip', 'a b')).toBe('Trip/a b');
    expect(childPath('Trip', '..\\..\\evil')).toBe('Trip/.._.._evil'); // a backslash separates paths for Windows extractors
    for (const bad of ['', '.', '..', 'a/b', '/etc', 'x\0y']) {
      expect(() => childPath('Trip', bad)).toThrow(/ZIP_PATH_INVALID/);
      expect(() => childPath(null, bad)).toThrow(/ZIP_PATH_INVALID/);
    }
    expect(() => childPath('a'.repeat(65_530), 'bcdef')).toThrow(/ZIP_PATH_INVALID/);
  });

  test('siblings that would land on one path are numbered: backslash, case, Unicode normalization', async () => {
    const file = (name: string) => ({ name, kind: 'file' as const });
    const folder = (name: string) => ({ name, kind: 'folder' as const });
    expect(childPaths('T', [file('a_b.txt'), file('a\\b.txt'), file('a\\b.txt'), file('a_b (2).txt'), file('A_B.TXT')]))
      .toEqual(['T/a_b.txt', 'T/a_b (3).txt', 'T/a_b (4).txt', 'T/a_b (2).txt', 'T/A_B (5).TXT']); // a child's own name is never taken
    expect(childPaths('T', [file('report.txt'), file('Report.txt'), file('.env'), file('.ENV')]))
      .toEqual(['T/report.txt', 'T/Report (2).txt', 'T/.env', 'T/.ENV (2)']);
    // A folder's number goes at the end; a file and a folder of one name clash as well.
    expect(childPaths('T', [folder('v1.2'), folder('V1.2'), file('V1.2 (2)'), file('caf\u00e9'), file('cafe\u0301')]))
      .toEqual(['T/v1.2', 'T/V1.2 (3)', 'T/V1.2 (2)', 'T/caf\u00e9', 'T/cafe\u0301 (2)']);
    expect(childPaths(null, [folder('a\\b')])).toEqual(['a_b']);

    // Read back, every entry is there once; a case-insensitive extractor would write each to its own file.
    const names = ['a_b.txt', 'a\\b.txt', 'report.txt', 'Report.txt'];
    const paths = childPaths('T', names.map(file));
    const items: Item[] = [{ path: 'T', kind: 'folder', size: 0, mtime: 0 }];
    for (const [i, path] of paths.entries()) items.push({ path, kind: 'file', size: 1, mtime: 0, data: new Uint8Array([i]) });
    const { entries } = await unzip(await readAll(zipArchive(items, async (i) => streamOf(i.data!)).stream));
    expect(entries.map((e) => e.name)).toEqual(['T/', 'T/a_b.txt', 'T/a_b (2).txt', 'T/report.txt', 'T/Report (2).txt']);
    expect(new Set(entries.map((e) => e.name.toLowerCase())).size).toBe(entries.length);
    expect(entries.slice(1).map((e) => e.data[0])).toEqual([0, 1, 2, 3]);
  });
});
