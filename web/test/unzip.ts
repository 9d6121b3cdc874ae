// Reads a whole zip archive with yauzl (a reader of its own, stricter than most: it refuses unsafe
// names, sizes that disagree, and a 0xFFFF entry count without its Zip64 record) and checks each
// file's CRC-32, which yauzl leaves to its caller.
import { crc32 } from 'node:zlib';
import { fromBufferPromise, type Entry } from 'yauzl';

export interface Unzipped {
  /** As stored, UTF-8 decoded; a folder's ends with '/'. */
  name: string;
  data: Buffer;
  /** Modification time as the archive says (MS-DOS local time, or an extended timestamp). */
  mtime: Date;
  /** Whether bit 11 (names in UTF-8) is set. */
  utf8: boolean;
}

export async function unzip(zip: Buffer): Promise<{ entries: Unzipped[]; entryCount: number }> {
  const file = await fromBufferPromise(zip, { lazyEntries: true, validateEntrySizes: true, strictFileNames: true });
  const entries: Unzipped[] = [];
  await new Promise<void>((resolve, reject) => {
    file.on('error', reject);
    file.on('end', () => resolve());
    file.on('entry', (entry: Entry) => {
      void (async () => {
        const chunks: Buffer[] = [];
        if (!entry.fileName.endsWith('/')) {
          for await (const c of await file.openReadStreamPromise(entry)) chunks.push(c as Buffer);
        }
        const data = Buffer.concat(chunks);
        if (crc32(data) !== entry.crc32) throw new Error(`CRC-32 of ${entry.fileName} does not match`);
        entries.push({ name: entry.fileName, data, mtime: entry.getLastModDate(), utf8: (entry.generalPurposeBitFlag & 0x800) !== 0 });
        file.readEntry();
      })().catch(reject);
    });
    file.readEntry();
  });
  return { entries, entryCount: file.entryCount };
}
