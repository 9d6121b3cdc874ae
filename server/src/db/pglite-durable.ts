// PGlite in a folder, with its commits on disk before they are answered.
//
// As shipped, PGlite starts PostgreSQL with fsync off (`-F`), and its Node file system (Emscripten's
// NODEFS) has no fsync to call: an operating-system crash or a power loss could lose answered
// commits or leave the database files damaged. Here PostgreSQL runs with fsync on and syncs its WAL
// with fsync() (Emscripten makes fdatasync a no-op), which NODEFS now passes to the file. PGlite
// runs in the server's thread, so each commit's fsync holds the thread for its duration (~1 ms on
// the machines measured in docs/benchmarks.md); reads never wait for one.
import fs, { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { NodeFS } from '@electric-sql/pglite/nodefs';
import { syncPath } from '../fs-sync.js';

type NodeFsInit = Awaited<ReturnType<NodeFS['init']>>;

/** The parts of Emscripten's NODEFS used here (PGlite does not type them). */
interface EmscriptenNodeFs {
  stream_ops: { fsync?: (stream: { nfd: number }) => void };
  tryFSOperation<T>(op: () => T): T;
}

class SyncingNodeFS extends NodeFS {
  override async init(pg: PGlite, opts: Parameters<NodeFS['init']>[1]): Promise<NodeFsInit> {
    const { emscriptenOpts } = await super.init(pg, opts);
    const syncing = (mod: object) => {
      const nodefs = (mod as { NODEFS: EmscriptenNodeFs }).NODEFS;
      // tryFSOperation turns a failed fsync into an errno for PostgreSQL, which then stops rather
      // than go on as if the data were safe (data_sync_retry is off).
      nodefs.stream_ops.fsync = (stream) => nodefs.tryFSOperation(() => fs.fsyncSync(stream.nfd));
    };
    return { emscriptenOpts: { ...emscriptenOpts, preRun: [...(emscriptenOpts.preRun ?? []), syncing] } };
  }
}

/** Makes every file and folder under `dir` durable. */
async function syncTree(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await syncTree(path);
    else if (entry.isFile()) await syncPath(path);
  }
  await syncPath(dir);
}

/** Opens (or creates) the PGlite database in `dir` with fsync on. */
export async function openDurablePglite(dir: string): Promise<PGlite> {
  const created = !existsSync(join(dir, 'PG_VERSION'));
  const startParams = [
    ...PGlite.defaultStartParams.filter((param) => param !== '-F'),
    '-c', 'fsync=on',
    '-c', 'wal_sync_method=fsync',
  ];
  const client = new PGlite({ fs: new SyncingNodeFS(dir), startParams });
  await client.waitReady;
  // initdb wrote the new cluster without syncing it: make it durable once, before anything is
  // committed on top of it.
  if (created) await syncTree(dir);
  return client;
}
