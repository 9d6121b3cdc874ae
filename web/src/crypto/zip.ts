// A folder as one zip archive, streamed (the vault's "Download" of a folder). client-zip writes the
// archive: entries stored (not compressed), UTF-8 names, Zip64 where a size or an offset needs it,
// each file's length and CRC in a data descriptor after its bytes, so nothing is held back. This
// module feeds it one file at a time, predicts the archive's length before the first byte, and
// checks what came out:
//
// - Every file must give exactly the bytes its listing says, and the archive exactly the predicted
//   length; otherwise the stream errors before the end-of-central-directory record is written, so
//   no archive that looks complete is ever made from short or changed data.
// - client-zip 2.5.1 writes the Zip64 end records only when a file or the offsets pass 4 GiB; with
//   65,535 entries or more and less data its end record says 0xFFFF entries with no Zip64 record to
//   say how many, which readers such as yauzl refuse. Here that record and its locator are added
//   (client-zip is pinned exactly for this: web/test/zip.test.ts checks there is one such record).
//
// The error of a failed file (an integrity failure) errors the archive's stream with its code.
import { makeZip, predictLength } from 'client-zip';
import { ApiError } from '../http';

export interface ZipItem {
  /** Path in the archive: segments joined by '/' (see childPaths); a folder's without the trailing '/'. */
  path: string;
  kind: 'file' | 'folder';
  /** Plaintext bytes of a file (0 for a folder): what its stream must give. */
  size: number;
  /** Modification time, ms since the epoch (stored as MS-DOS local time: 2 s steps, 1980–2107). */
  mtime: number;
}

/** What the archive's stream reports as it is read (as `streamOf` in worker.ts does). */
export interface ZipWatch { progress(done: number, total: number): void; end(): void; error(err: unknown): void }

const U32_MAX = 0xffffffff;
const LOCAL_HEADER = 30;
const DESCRIPTOR = 16;
const EOCD = 22;
const ZIP64_EOCD = 56;
const ZIP64_LOCATOR = 20;
/** Small pieces (headers, names, the central directory) go out joined up to this many bytes. */
const JOIN_BYTES = 64 * 1024;

const utf8 = new TextEncoder();

function fail(code: string, message: string): ApiError {
  return new ApiError(code, `${code}: ${message}`, 0);
}

/**
 * `name` as one path segment under `parent` (null: the top). Names are never empty, '.', '..' or
 * hold '/' or NUL (format §5.3; openMetadata refuses such metadata), so no entry can climb out of
 * the folder it is extracted to, nor be absolute; checked here all the same (zip-slip). A name may
 * hold '\', which Windows extractors take for a separator ("..\..\x" would climb out there; the
 * zip format allows only '/'): it is written as '_'.
 */
export function childPath(parent: string | null, name: string): string {
  if (!name || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw fail('ZIP_PATH_INVALID', `a name cannot be a path segment: ${JSON.stringify(name)}`);
  }
  const segment = name.replaceAll('\\', '_');
  const path = parent === null ? segment : `${parent}/${segment}`;
  // A zip stores a name's length in 16 bits (client-zip would cut it silently).
  if (utf8.encode(path).length + 1 > 0xffff) throw fail('ZIP_PATH_INVALID', `a path is longer than a zip allows: ${path.slice(0, 80)}…`);
  return path;
}

/**
 * Two paths an extractor would write to the same place: on Windows and macOS names differ by case
 * only, or by Unicode normalization only (APFS), in name but not on disk, so unzip there overwrites
 * one file with the other. Such paths count as the same here, also where the extractor is Linux.
 */
const sameOnDisk = (path: string) => path.normalize('NFC').toLowerCase();

/** "a (2).txt" for "a.txt" (`n` 2), "Photos (2)" for the folder "Photos": as file managers name a copy. */
function numbered(name: string, kind: ZipItem['kind'], n: number): string {
  const dot = kind === 'file' ? name.lastIndexOf('.') : -1;
  return dot > 0 ? `${name.slice(0, dot)} (${n})${name.slice(dot)}` : `${name} (${n})`;
}

/**
 * The paths of one folder's children (in the archive's order) under `parent`, as childPath makes
 * them, each one unique: names that differ only by a '\' written as '_', by case or by Unicode
 * normalization (sameOnDisk) would shadow one another when extracted, so each one after the first
 * is numbered, "a_b (2).txt", with the lowest number that no child's own name takes. Parents are
 * unique in turn, so every path of the archive is.
 */
export function childPaths(parent: string | null, children: readonly { name: string; kind: ZipItem['kind'] }[]): string[] {
  const plain = children.map((c) => childPath(parent, c.name));
  // Every name as it is, so that a number never takes a later child's own name ("a_b (2).txt").
  const taken = new Set(plain.map(sameOnDisk));
  const given = new Set<string>();
  return children.map((c, i) => {
    let path = plain[i]!;
    for (let n = 2; given.has(sameOnDisk(path)); n++) {
      const next = childPath(parent, numbered(c.name, c.kind, n));
      if (!taken.has(sameOnDisk(next))) path = next;
    }
    taken.add(sameOnDisk(path));
    given.add(sameOnDisk(path));
    return path;
  });
}

/** The date client-zip stores (MS-DOS local time), kept within the years that format can hold. */
function dosDate(ms: number): Date {
  const d = new Date(ms);
  const year = d.getFullYear();
  if (!(year >= 1980)) return new Date(1980, 0, 1);
  if (year > 2107) return new Date(2107, 11, 31, 23, 59, 58);
  return d;
}

/** Whether client-zip ends the archive without Zip64 records where the entry count needs them. */
function needsZip64End(items: readonly ZipItem[]): boolean {
  if (items.length < 0xffff) return false;
  // client-zip writes them itself when a file is 4 GiB or more, or its central directory starts at
  // 4 GiB or later: after each entry's local header, name, bytes and data descriptor.
  let offset = 0;
  for (const item of items) {
    if (item.size >= U32_MAX) return false;
    const name = utf8.encode(item.path).length + (item.kind === 'folder' ? 1 : 0);
    offset += LOCAL_HEADER + name + item.size + DESCRIPTOR;
  }
  return offset < U32_MAX;
}

/** The archive's exact length in bytes. */
export function zipLength(items: readonly ZipItem[]): number {
  const lib = Number(predictLength(items.map((i) => (i.kind === 'folder' ? { name: i.path } : { name: i.path, size: i.size }))));
  return lib + (needsZip64End(items) ? ZIP64_EOCD + ZIP64_LOCATOR : 0);
}

function join(parts: Uint8Array[], bytes: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(bytes);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** The Zip64 end of central directory record and its locator (APPNOTE 4.3.14, 4.3.15), from the end record. */
function zip64End(eocd: DataView, entries: number): Uint8Array {
  if (eocd.getUint32(0, true) !== 0x06054b50) throw fail('ZIP_FAILED', 'the archive does not end with its end record');
  const cdSize = eocd.getUint32(12, true);
  const cdOffset = eocd.getUint32(16, true);
  if (cdSize === U32_MAX || cdOffset === U32_MAX) throw fail('ZIP_FAILED', 'the central directory is out of range');
  const out = new DataView(new ArrayBuffer(ZIP64_EOCD + ZIP64_LOCATOR));
  out.setUint32(0, 0x06064b50, true);
  out.setBigUint64(4, BigInt(ZIP64_EOCD - 12), true);
  out.setUint16(12, 0x032d, true); // made by: UNIX, 4.5 (as client-zip's central headers)
  out.setUint16(14, 45, true); // needed: 4.5
  // disk numbers stay 0
  out.setBigUint64(24, BigInt(entries), true);
  out.setBigUint64(32, BigInt(entries), true);
  out.setBigUint64(40, BigInt(cdSize), true);
  out.setBigUint64(48, BigInt(cdOffset), true);
  out.setUint32(56, 0x07064b50, true);
  out.setBigUint64(64, BigInt(cdOffset) + BigInt(cdSize), true); // where the record above starts
  out.setUint32(72, 1, true); // disks
  return new Uint8Array(out.buffer);
}

/**
 * The archive of `items` (in this order; a folder before what it holds) as a stream of `size`
 * bytes. `open` is called for one file at a time, when the archive reaches it, and must give its
 * `size` bytes; cancelling the archive cancels the file being read.
 */
export function zipArchive<T extends ZipItem>(
  items: readonly T[],
  open: (item: T) => Promise<ReadableStream<Uint8Array>>,
  watch?: ZipWatch,
): { stream: ReadableStream<Uint8Array>; size: number } {
  const fixEnd = needsZip64End(items);
  const size = zipLength(items);
  const libSize = size - (fixEnd ? ZIP64_EOCD + ZIP64_LOCATOR : 0);

  let reading: ReadableStreamDefaultReader<Uint8Array> | null = null;
  async function* exactly(reader: ReadableStreamDefaultReader<Uint8Array>, item: T): AsyncGenerator<Uint8Array> {
    let n = 0;
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      n += r.value.byteLength;
      if (n > item.size) break;
      yield r.value;
    }
    if (n === item.size) return;
    await reader.cancel().catch(() => {});
    throw fail('SIZE_MISMATCH', `“${item.path}” holds ${n > item.size ? 'more' : n} bytes where its listing says ${item.size}`);
  }
  async function* inputs() {
    try {
      for (const item of items) {
        const lastModified = dosDate(item.mtime);
        if (item.kind === 'folder') {
          yield { name: item.path, lastModified };
          continue;
        }
        reading = (await open(item)).getReader();
        yield { name: item.path, lastModified, size: item.size, input: exactly(reading, item) };
      }
    } finally {
      // Cancelled (client-zip throws into this generator): the file being read stops fetching.
      await reading?.cancel().catch(() => {});
    }
  }

  const zip = makeZip(inputs()).getReader();
  let parts: Uint8Array[] = [];
  let held = 0;
  let read = 0;
  let done = 0;
  const out = (c: ReadableStreamDefaultController<Uint8Array>, bytes: Uint8Array) => {
    c.enqueue(bytes);
    done += bytes.byteLength;
    watch?.progress(done, size);
  };
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(c) {
        try {
          for (;;) {
            const r = await zip.read();
            if (r.done) break;
            read += r.value.byteLength;
            // What was held goes out once more comes: the last piece (the end record) is always held.
            const flush = held >= JOIN_BYTES;
            if (flush) out(c, join(parts, held));
            if (flush) [parts, held] = [[], 0];
            parts.push(r.value);
            held += r.value.byteLength;
            if (flush) return;
          }
          const tail = join(parts, held);
          parts = [];
          if (read !== libSize || tail.byteLength < EOCD) throw fail('ZIP_FAILED', `the archive came out ${read} bytes long, not the ${libSize} predicted`);
          if (fixEnd) {
            const at = tail.byteLength - EOCD;
            out(c, tail.subarray(0, at));
            out(c, zip64End(new DataView(tail.buffer, tail.byteOffset + at, EOCD), items.length));
            out(c, tail.slice(at));
          } else {
            out(c, tail);
          }
          c.close();
          watch?.end();
        } catch (err) {
          // No archive is presented as complete: the stream errors before its end record.
          const code = (err as { code?: string }).code ?? 'ZIP_FAILED';
          const message = (err as Error).message ?? String(err);
          const e = err instanceof ApiError && message.startsWith(`${code}:`) ? err : new ApiError(code, `${code}: ${message}`, 0);
          c.error(e);
          watch?.error(e);
          zip.cancel(e).catch(() => {});
        }
      },
      async cancel(reason) {
        watch?.error(new ApiError('CANCELLED', 'The download was cancelled.', 0));
        await zip.cancel(reason).catch(() => {});
      },
    },
    // As streamOf's: a few pieces queued for the thread that reads it (the service worker, or the page).
    { highWaterMark: 4 },
  );
  return { stream, size };
}
