// One process at a time on an embedded database. PGlite takes no lock of its own: a second process
// opening the same folder runs crash recovery under the first and writes its own checkpoint, which
// the first then overwrites with its WAL. The database is fine until the first process stops
// uncleanly, and then no longer opens ("could not locate a valid checkpoint record"). So a server
// on PGlite holds `<dir>.lock`, naming its process, for as long as it runs.
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';

/** Another live process holds the lock. */
export class DataDirLocked extends Error {
  constructor(readonly pid: number) {
    super(`another Coffer server (process ${pid}) is using it`);
  }
}

interface Holder {
  pid: number;
  /** The process's start time in clock ticks since boot (Linux), so a reused pid is not taken for it. */
  started: string | null;
}

function startTimeOf(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function isAlive(holder: Holder): boolean {
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return holder.started === null || startTimeOf(holder.pid) === null || startTimeOf(holder.pid) === holder.started;
}

function readHolder(path: string): Holder | null {
  try {
    const value = JSON.parse(readFileSync(path, 'utf8')) as Partial<Holder>;
    return Number.isSafeInteger(value.pid) ? { pid: value.pid!, started: value.started ?? null } : null;
  } catch {
    return null; // gone meanwhile, or a torn write of a process that died at once
  }
}

/**
 * Takes the lock of the embedded database in `dir`, or throws DataDirLocked. A lock left by a
 * process that has ended (killed, or the machine stopped) is taken over. Returns the release,
 * which also runs when the process exits.
 */
export function lockEmbeddedDatabase(dir: string): () => void {
  const path = `${dir}.lock`;
  const mine = JSON.stringify({ pid: process.pid, started: startTimeOf(process.pid) } satisfies Holder);
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(path, mine, { flag: 'wx', mode: 0o600 });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt === 2) throw err;
    }
    const holder = readHolder(path);
    if (holder && isAlive(holder)) throw new DataDirLocked(holder.pid);
    unlinkSync(path);
  }
  let held = true;
  const release = () => {
    if (!held) return;
    held = false;
    try {
      if (readFileSync(path, 'utf8') === mine) unlinkSync(path);
    } catch {
      // already gone
    }
  };
  process.once('exit', release);
  return release;
}
