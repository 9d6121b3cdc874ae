// The chunks of a put that the server holds, in file order from the start of the file, kept beside
// the upload's state under COFFER_HOME/uploads. A re-run of an interrupted put reads the file only
// from where they end: it neither reads, chunks nor encrypts those bytes again. Keyed FastCDC cuts
// depend only on the bytes since the previous cut (format §6.1), so chunking the rest of the file
// from there finds the cuts a whole run would.
//
// One line per chunk, appended as the in-order prefix grows, so a put of any size writes each
// entry once:
//   coffer-put-journal 1 <uploadId>
//   <chunkId, 64 hex> <chunkKey, base64url> <plainLength> <check>
// where check is the first 16 hex digits of SHA-256("<uploadId> <index> <chunkId> <chunkKey>
// <plainLength>"): a line damaged on disk, or moved, does not put a wrong key into a version. A
// line cut short by a crash is ignored; a journal with any other bad line is ignored as a whole, and
// the put starts from the beginning, sending only what the server lacks, as it would without one.
// The chunk keys are as secret as the device key beside them (threat-model.md, "CLI").
import * as cc from '@coffer/crypto-core';
import type { ManifestEntry } from '@coffer/crypto-core';
import { createHash } from 'node:crypto';
import { open, readFile, type FileHandle } from 'node:fs/promises';

const HEADER = 'coffer-put-journal 1';
const LINE = /^([0-9a-f]{64}) ([A-Za-z0-9_-]{43}) ([1-9][0-9]{0,9}) ([0-9a-f]{16})$/;

function check(uploadId: string, index: number, entry: string): string {
  return createHash('sha256').update(`${uploadId} ${index} ${entry}`).digest('hex').slice(0, 16);
}

export interface JournalPrefix {
  /** The first chunks of the file, in order, each held by the server for this upload. */
  entries: ManifestEntry[];
  /** Their plaintext bytes: where the file is read from again. */
  offset: number;
  /** The bytes of the journal that hold them. */
  bytes: number;
}

export const NO_PREFIX: JournalPrefix = Object.freeze({ entries: [], offset: 0, bytes: 0 }) as JournalPrefix;

/** Entry `index` (from 0) of the journal of `uploadId`, as a line. */
export function journalLine(uploadId: string, index: number, e: ManifestEntry): string {
  const entry = `${e.chunkId} ${cc.toBase64Url(e.chunkKey)} ${e.plainLength}`;
  return `${entry} ${check(uploadId, index, entry)}\n`;
}

/** The prefix recorded for `uploadId`, or none when there is no usable journal. */
export async function readJournal(path: string, uploadId: string, fileSize: number): Promise<JournalPrefix> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return NO_PREFIX;
  }
  const lines = text.split('\n');
  lines.pop(); // after the last newline: empty, or a line the writer did not finish
  if (lines[0] !== `${HEADER} ${uploadId}`) return NO_PREFIX;
  const entries: ManifestEntry[] = [];
  let offset = 0;
  for (const [index, line] of lines.slice(1).entries()) {
    const m = LINE.exec(line);
    const plainLength = m ? Number(m[3]) : 0;
    if (!m || m[4] !== check(uploadId, index, `${m[1]} ${m[2]} ${m[3]}`)) return NO_PREFIX;
    if (plainLength > cc.CHUNK_PARAMS.max || offset + plainLength > fileSize) return NO_PREFIX;
    entries.push({ chunkId: m[1]!, chunkKey: cc.fromBase64Url(m[2]!), plainLength, storedLength: cc.storedLengthOf(plainLength) });
    offset += plainLength;
  }
  return { entries, offset, bytes: text.lastIndexOf('\n') + 1 };
}

/**
 * Appends entries as the in-order prefix of finished chunks grows. A journal only spares work, so
 * a write that fails (a full disk) stops the journal, not the put.
 */
export class JournalWriter {
  readonly #uploadId: string;
  readonly #file: Promise<FileHandle | null>;
  #writes: Promise<void> = Promise.resolve();
  #stopped = false;
  #at: number;
  #next: number;

  /** Continues the journal at `path` after `prefix` (none: starts it anew). */
  constructor(path: string, uploadId: string, prefix: JournalPrefix) {
    this.#uploadId = uploadId;
    this.#next = prefix.entries.length;
    this.#at = prefix.bytes;
    this.#file = (async () => {
      if (prefix.entries.length > 0) {
        const file = await open(path, 'r+');
        await file.truncate(prefix.bytes); // drops a line a crash cut short
        return file;
      }
      const file = await open(path, 'w', 0o600);
      await this.#write(file, `${HEADER} ${uploadId}\n`);
      return file;
    })().catch(() => null);
  }

  async #write(file: FileHandle, text: string): Promise<void> {
    const bytes = Buffer.from(text);
    await file.write(bytes, 0, bytes.length, this.#at);
    this.#at += bytes.length;
  }

  append(entries: readonly ManifestEntry[]): void {
    let text = '';
    for (const e of entries) text += journalLine(this.#uploadId, this.#next++, e);
    this.#writes = this.#writes.then(async () => {
      const file = await this.#file;
      if (!file || this.#stopped) return;
      try {
        await this.#write(file, text);
      } catch {
        this.#stopped = true; // no line after one that may be cut short
      }
    });
  }

  /** Waits for the appends so far, then closes the file (later appends are dropped). */
  async close(): Promise<void> {
    await this.#writes;
    this.#stopped = true;
    await (await this.#file)?.close().catch(() => {});
  }
}
