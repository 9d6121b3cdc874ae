// The CLI's state at rest under COFFER_HOME: session, device key, resumable uploads, checks of
// files a share link's download wrote (kept bounded: pruneFetched).
// Directory mode 0700, files 0600, written atomically (temp file + rename).
import { chmod, lstat, mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CliError, EXIT } from './errors.ts';

export function cofferHome(): string {
  if (process.env.COFFER_HOME) return process.env.COFFER_HOME;
  const base = process.env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'coffer');
}

/** What `login`/`signup` keep so later commands need no passphrase. */
export interface Session {
  server: string;
  email: string;
  accountId: string;
  rootNodeId: string;
  token: string;
  deviceId: string;
  /** The account key sealed to the device's X25519 public key (format §4.3 device slot), base64url. */
  deviceSlot: string;
  devicePublicKey: string;
}

const SESSION = 'session.json';
const DEVICE_KEY = 'device.key';

export async function ensureDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
}

/** Writes `data` to `path` with mode 0600, atomically. */
export async function writePrivate(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

export async function saveSession(session: Session, devicePrivateKey: string): Promise<void> {
  const home = cofferHome();
  await ensureDir(home);
  await writePrivate(join(home, DEVICE_KEY), devicePrivateKey + '\n');
  await writePrivate(join(home, SESSION), JSON.stringify(session, null, 2) + '\n');
}

export async function loadSession(): Promise<{ session: Session; devicePrivateKey: string } | null> {
  const home = cofferHome();
  let text: string;
  try {
    text = await readFile(join(home, SESSION), 'utf8');
  } catch {
    return null;
  }
  const session = JSON.parse(text) as Session;
  let key: string;
  try {
    key = (await readFile(join(home, DEVICE_KEY), 'utf8')).trim();
  } catch {
    throw new CliError(`the device key file ${join(home, DEVICE_KEY)} is missing; run \`coffer login\` again`, EXIT.AUTH);
  }
  const st = await stat(join(home, DEVICE_KEY));
  if ((st.mode & 0o077) !== 0) {
    process.stderr.write(`coffer: warning: ${join(home, DEVICE_KEY)} is readable by others; fixing its mode to 0600\n`);
    await chmod(join(home, DEVICE_KEY), 0o600);
  }
  return { session, devicePrivateKey: key };
}

export async function requireSession(): Promise<{ session: Session; devicePrivateKey: string }> {
  const s = await loadSession();
  if (!s) throw new CliError('not logged in; run `coffer login` (or `coffer signup`) first', EXIT.AUTH);
  return s;
}

export async function clearSession(): Promise<void> {
  const home = cofferHome();
  await rm(join(home, SESSION), { force: true });
  await rm(join(home, DEVICE_KEY), { force: true });
  await clearUploads();
}

/** Forgets every interrupted upload (their ids belong to the session that started them). */
export async function clearUploads(): Promise<void> {
  await rm(join(cofferHome(), 'uploads'), { recursive: true, force: true });
}

/** Directory holding one JSON file per interrupted upload. */
export async function uploadsDir(): Promise<string> {
  const dir = join(cofferHome(), 'uploads');
  await ensureDir(cofferHome());
  await ensureDir(dir);
  return dir;
}

/**
 * The file in COFFER_HOME/fetched where a share link's download keeps what it recorded of the local
 * file `key` stands for (transfer.ts); with `make`, the folder is made when missing.
 */
export async function fetchedFile(key: string, make = false): Promise<string> {
  const dir = join(cofferHome(), 'fetched');
  if (make) {
    await ensureDir(cofferHome());
    await ensureDir(dir);
  }
  return join(dir, `${key}.json`);
}

/** What COFFER_HOME/fetched keeps (format §4.5). */
export const FETCHED_LIMITS = {
  /** Records used by earlier fetches, the most recently used first. */
  records: 1000,
  /** A record no fetch wrote or read for this long goes, even below `records`. */
  unusedMs: 365 * 24 * 3600 * 1000,
  /** A temporary file this old was left by a write that never finished (writePrivate). */
  tmpMs: 3600 * 1000,
};

const RECORD = /^[0-9a-f]{32}\.json$/;
const RECORD_TMP = /^[0-9a-f]{32}\.json\.\d+\.tmp$/;

/**
 * Keeps COFFER_HOME/fetched bounded; a fetch calls it as it ends. A record's mtime is when a fetch
 * last wrote or read it (getFile touches a record it uses), so every record of `since` or later is
 * kept (what the fetch now ending relies on, however many files it wrote), and of the others the
 * `records` most recently used, if used within `unusedMs`. The files' paths are not in the records
 * (only a hash of each, format §4.5), so a record whose file is gone cannot be told from the others
 * here: getFile drops the record of a path whose file no longer matches it. Costs a listing and an
 * lstat per file; nothing is read. Returns how many files it removed.
 */
export async function pruneFetched(since: number, dir = join(cofferHome(), 'fetched'), limits = FETCHED_LIMITS, now = Date.now()): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return 0;
    throw err;
  }
  const records: { path: string; mtime: number }[] = [];
  const drop: string[] = [];
  await Promise.all(names.map(async (name) => {
    const isRecord = RECORD.test(name);
    if (!isRecord && !RECORD_TMP.test(name)) return; // not ours
    const path = join(dir, name);
    const st = await lstat(path).catch(() => null); // gone meanwhile: another fetch pruned it
    if (!st?.isFile()) return;
    if (isRecord) records.push({ path, mtime: st.mtimeMs });
    else if (now - st.mtimeMs > limits.tmpMs) drop.push(path);
  }));
  records.sort((a, b) => b.mtime - a.mtime || (a.path < b.path ? -1 : 1));
  let older = 0;
  for (const r of records) {
    if (r.mtime >= since) continue;
    if (++older > limits.records || now - r.mtime > limits.unusedMs) drop.push(r.path);
  }
  for (const path of drop) await rm(path, { force: true });
  return drop.length;
}
