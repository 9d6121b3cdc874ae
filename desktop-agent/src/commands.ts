// The commands themselves. Each writes human output to stdout (progress and notes to stderr),
// or one JSON document to stdout with --json.
import * as cc from '@coffer/crypto-core';
import type { Dirent } from 'node:fs';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { basename, join, resolve, sep } from 'node:path';
import { login, logout, openContext, signup, type Context } from './account.ts';
import { ApiError, CliError, EXIT, UsageError } from './errors.ts';
import { Api, NETWORK_CODES } from './http.ts';
import type { Invocation } from './main.ts';
import { formatBytes, Progress } from './progress.ts';
import { readSecret } from './secrets.ts';
import { createNode, getFile, putFile, type GetResult, type PutResult } from './transfer.ts';
import { b64, checkName, displayPath, guard, linkSource, splitPath, Tree, unb64, type RemoteNode } from './tree.ts';

type Run = (inv: Invocation) => Promise<void>;

function emit(inv: Invocation, json: unknown, human: string | string[]): void {
  if (inv.json) process.stdout.write(JSON.stringify(json) + '\n');
  else {
    const text = Array.isArray(human) ? human.join('\n') : human;
    if (text) process.stdout.write(text + '\n');
  }
}

function note(inv: Invocation, text: string): void {
  if (!inv.quiet && !inv.json) process.stderr.write(text + '\n');
}

function str(inv: Invocation, key: string): string | undefined {
  const v = inv.values[key];
  return typeof v === 'string' ? v : undefined;
}

/** Resolves a folder path, creating missing folders (like mkdir -p). */
async function ensureFolder(ctx: Context, path: string | string[]): Promise<RemoteNode> {
  const names = typeof path === 'string' ? splitPath(path) : path;
  let cur = await ctx.tree.node(ctx.session.rootNodeId);
  for (const name of names) {
    let next = await ctx.tree.child(cur, name);
    if (!next) {
      try {
        next = (await createNode(ctx, cur, name, 'folder')).node;
      } catch (err) {
        if (!(err instanceof ApiError && err.code === 'NAME_TAKEN')) throw err;
        ctx.tree.forgetChildren(cur.id);
        next = await ctx.tree.child(cur, name);
        if (!next) throw err;
      }
    }
    if (next.kind !== 'folder') throw new CliError(`/${names.join('/')}: ${name} is a file, not a folder`);
    cur = next;
  }
  return cur;
}

function fmtTime(ms: number | string | undefined | null): string {
  if (ms === undefined || ms === null) return '';
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString().replace('T', ' ').slice(0, 19);
}

// ---------------------------------------------------------------- account

/** Shown for a device whose sealed name does not open with the account key. */
const UNREADABLE = '(name unreadable)';

const cmdSignup: Run = async (inv) => {
  const { session, recoveryCode } = await signup({ server: str(inv, 'server'), email: str(inv, 'email') });
  emit(inv, { ok: true, accountId: session.accountId, email: session.email, server: session.server, recoveryCode }, [
    `Account created for ${session.email} on ${session.server}; this device is logged in.`,
    '',
    `Recovery code: ${recoveryCode}`,
    '',
    'Write the recovery code down and keep it safe. It is shown only this once, and it is the only',
    'way into your vault if you forget the passphrase.',
  ]);
};

const cmdLogin: Run = async (inv) => {
  const session = await login({ server: str(inv, 'server'), email: str(inv, 'email'), recovery: Boolean(inv.values.recovery) });
  emit(inv, { ok: true, accountId: session.accountId, email: session.email, server: session.server }, `Logged in as ${session.email} on ${session.server}.`);
};

const cmdLogout: Run = async (inv) => {
  const had = await logout();
  emit(inv, { ok: true, wasLoggedIn: had }, had ? 'Logged out; the keys under COFFER_HOME are deleted.' : 'Not logged in.');
};

const cmdStatus: Run = async (inv) => {
  const ctx = await openContext();
  const acc = await ctx.api.json<{ email: string; quotaBytes?: number; usedBytes?: number }>('GET', '/api/account');
  const devices = [...(await deviceNames(ctx))].map(([id, name]) => ({ id, name, current: id === ctx.session.deviceId }));
  emit(inv, { ok: true, server: ctx.session.server, email: acc.email, accountId: ctx.session.accountId, deviceId: ctx.session.deviceId, usedBytes: acc.usedBytes ?? null, quotaBytes: acc.quotaBytes ?? null, devices }, [
    `server:   ${ctx.session.server}`,
    `account:  ${acc.email} (${ctx.session.accountId})`,
    `device:   ${ctx.session.deviceId}`,
    `storage:  ${formatBytes(acc.usedBytes ?? 0)} used${acc.quotaBytes ? ` of ${formatBytes(acc.quotaBytes)}` : ''}`,
    ...devices.map((d) => `devices:  ${d.id}  ${d.name ?? UNREADABLE}${d.current ? '  (this one)' : ''}`),
  ]);
};

/** A device as `GET /api/devices` lists it; its name is sealed (format §4.4). */
interface DeviceRow {
  deviceId: string; publicKey: string; name: string; slot?: string | null;
  createdAt: string; lastSeenAt: string | null; current?: boolean; sessions?: number;
}

/** A device with its name opened (null: the name does not open), without its slot. */
interface Device {
  deviceId: string; name: string | null; createdAt: string; lastSeenAt: string | null;
  current: boolean; sessions?: number; publicKey: string;
}

/** The account's devices, oldest first, their names opened with the account key. */
async function listDevices(ctx: Context): Promise<Device[]> {
  const { devices } = await ctx.api.json<{ devices: DeviceRow[] }>('GET', '/api/devices');
  // async: a name that is not even base64url fails as a promise, so it reads as unreadable too.
  const open = async (d: DeviceRow) => cc.openDeviceName(ctx.vault, d.deviceId, unb64(d.name));
  return Promise.all(devices.map(async (d) => ({
    deviceId: d.deviceId, name: await open(d).catch(() => null), createdAt: d.createdAt, lastSeenAt: d.lastSeenAt,
    // A server from before `current` leaves it out; this session's device is the one it registered.
    current: d.current ?? d.deviceId === ctx.session.deviceId,
    ...(d.sessions === undefined ? {} : { sessions: d.sessions }), publicKey: d.publicKey,
  })));
}

/** The account's devices by id, with the names they registered (null: the name does not open). */
async function deviceNames(ctx: Context): Promise<Map<string, string | null>> {
  try {
    return new Map((await listDevices(ctx)).map((d) => [d.deviceId, d.name]));
  } catch {
    return new Map(); // an older server without devices
  }
}

const cmdDevices: Run = async (inv) => {
  const ctx = await openContext();
  const devices = await listDevices(ctx);
  const width = Math.max(0, ...devices.map((d) => (d.name ?? UNREADABLE).length));
  emit(inv, { ok: true, devices }, devices.map((d) =>
    `${d.deviceId}  ${(d.name ?? UNREADABLE).padEnd(width)}  added ${fmtTime(d.createdAt)}  last seen ${fmtTime(d.lastSeenAt) || '-'}${d.current ? '  (this one)' : ''}`));
};

const cmdRemoveDevice: Run = async (inv) => {
  const ctx = await openContext();
  const id = inv.positionals[0]!.toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(id)) throw new UsageError('remove-device needs a device id (32 hex digits, see `coffer devices`)');
  const unknown = () => new CliError(`the account has no device ${id} (\`coffer devices\` lists them)`, EXIT.ERROR, 'NOT_FOUND');
  const device = (await listDevices(ctx)).find((d) => d.deviceId === id);
  if (!device) throw unknown();
  if (device.current || id === ctx.session.deviceId) throw new UsageError('that is this device: use `coffer logout` to log it out and remove it');
  // The server ends the device's sessions with it: that client has to log in again.
  await ctx.api.json('DELETE', `/api/devices/${id}`).catch((err: unknown) => {
    throw err instanceof ApiError && err.status === 404 ? unknown() : err; // removed meanwhile
  });
  const name = device.name ?? `device ${id} ${UNREADABLE}`;
  emit(inv, { ok: true, deviceId: id, name: device.name }, `removed ${name}; its sessions are ended`);
};

interface SessionRow { id: string; client: string; createdAt: string; lastSeenAt: string; endsAt?: string; current: boolean; deviceId?: string | null }

const cmdSessions: Run = async (inv) => {
  const ctx = await openContext();
  const { sessions } = await ctx.api.json<{ sessions: SessionRow[] }>('GET', '/api/auth/sessions');
  // Only a session that registered a device names one (a web vault log-in may not; an older server never does).
  const names = sessions.some((x) => x.deviceId) ? await deviceNames(ctx) : new Map<string, string | null>();
  const rows = sessions.map((x) => ({ ...x, deviceName: x.deviceId ? names.get(x.deviceId) ?? null : null }));
  const kind = (c: string) => (c === 'web' ? 'web vault' : c === 'cli' ? 'cli/agent' : c);
  emit(inv, { ok: true, sessions: rows }, rows.map((x) =>
    `${x.id}  ${kind(x.client).padEnd(9)}  logged in ${fmtTime(x.createdAt)}  last used ${fmtTime(x.lastSeenAt)}${x.endsAt ? `  ends ${fmtTime(x.endsAt)}` : ''}${x.deviceId && names.has(x.deviceId) ? `  ${x.deviceName ?? UNREADABLE}` : ''}${x.current ? '  (this one)' : ''}`));
};

const cmdEndSession: Run = async (inv) => {
  const ctx = await openContext();
  const id = inv.positionals[0]!.toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(id)) throw new UsageError('end-session needs a session id (32 hex digits, see `coffer sessions`)');
  const { sessions } = await ctx.api.json<{ sessions: SessionRow[] }>('GET', '/api/auth/sessions');
  if (sessions.some((x) => x.id === id && x.current)) throw new UsageError('that is this session: use `coffer logout` to end it');
  if (!sessions.some((x) => x.id === id)) throw new CliError(`the account has no session ${id} (\`coffer sessions\` lists them; an ended one is gone)`, EXIT.ERROR, 'NOT_FOUND');
  await ctx.api.json('DELETE', `/api/auth/sessions/${id}`);
  emit(inv, { ok: true, sessionId: id }, `session ${id} ended`);
};

// ---------------------------------------------------------------- tree

const cmdLs: Run = async (inv) => {
  const ctx = await openContext();
  const path = inv.positionals[0] ?? '/';
  const node = await ctx.tree.mustResolve(path);
  const listed = node.kind === 'folder' ? await ctx.tree.children(node) : [node];
  const rows = await Promise.all(
    listed.map(async (n) => {
      const m = await ctx.tree.meta(n);
      return { name: m.name, kind: n.kind, size: m.size, mtime: m.mtime, version: n.version, id: n.id };
    }),
  );
  rows.sort((a, b) => (a.kind === b.kind ? (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) : a.kind === 'folder' ? -1 : 1));
  emit(inv, { ok: true, path: displayPath(path), items: rows }, rows.map((r) =>
    `${r.kind === 'folder' ? 'd' : '-'} ${(r.kind === 'folder' ? '' : formatBytes(r.size)).padStart(10)}  ${fmtTime(r.mtime)}  ${r.kind === 'file' ? `v${r.version}`.padEnd(4) : '    '}  ${r.name}${r.kind === 'folder' ? '/' : ''}`));
};

const cmdMkdir: Run = async (inv) => {
  const names = splitPath(inv.positionals[0]!);
  if (names.length === 0) throw new UsageError('mkdir needs a folder name');
  const ctx = await openContext();
  const node = await ensureFolder(ctx, names);
  emit(inv, { ok: true, path: '/' + names.join('/'), id: node.id }, `/${names.join('/')}`);
};

const FILES_IN_FLIGHT = 4;           // small files of a folder put or get moved at once
const SMALL_FILE = 4 * 1024 * 1024;  // larger files move alone (they have chunks in flight)

/**
 * Runs `work` over `jobs` in order: up to FILES_IN_FLIGHT small ones at once, a large one alone.
 * After a failure no job starts; the ones in flight end, then the first failure is thrown.
 */
async function eachFile<J extends { size: number }>(jobs: J[], work: (job: J) => Promise<void>): Promise<void> {
  const running = new Set<Promise<void>>();
  let failure: unknown = null;
  for (const job of jobs) {
    const alone = job.size > SMALL_FILE;
    while (running.size > 0 && (alone || running.size >= FILES_IN_FLIGHT) && !failure) await Promise.race(running);
    if (failure) break;
    const p: Promise<void> = work(job).catch((err) => void (failure ??= err)).finally(() => running.delete(p));
    running.add(p);
    if (alone) await p;
  }
  await Promise.all(running);
  if (failure) throw failure;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

const cmdPut: Run = async (inv) => {
  const local = inv.positionals[0]!;
  const st = await stat(local).catch(() => {
    throw new CliError(`no such local file or folder: ${local}`);
  });
  // The real name of what is put: `put .` puts the current folder under its own name.
  const localName = basename(resolve(local)).normalize('NFC');
  const remoteArg = inv.positionals[1] ?? '/';
  let names = splitPath(remoteArg);
  if (remoteArg.endsWith('/') || names.length === 0) checkName(localName);
  const progressOn = !inv.json && !inv.quiet;

  // A folder is read first, whole: its folders, then its files, which go up several at a time (a
  // small file is mostly round trips), a large one alone (it has chunks in flight of its own).
  // Entries that cannot be put (a name that is not UTF-8, one that vanished) are skipped with a
  // warning and make the put end with 1; symlinks and other special files are skipped as documented.
  interface Job { path: string; parentNames: string[]; name: string; size: number }
  const jobs: Job[] = [];
  const folders: string[][] = [];
  const skipped: Array<{ path: string; reason: string }> = [];
  const failed: Array<{ path: string; code: string; error: string }> = [];
  let folderBar: Progress | null = null; // one bar for a whole folder, made once its size is known
  const warn = (text: string) => (folderBar ? folderBar.above(process.stderr, text) : process.stderr.write(text + '\n'));
  const skip = (path: string, reason: string) => {
    skipped.push({ path, reason });
    warn(`coffer: skipping ${path}: ${reason}`);
  };
  const walk = async (dir: string, remote: string[]) => {
    let entries: Dirent<Buffer>[];
    try {
      entries = await readdir(dir, { withFileTypes: true, encoding: 'buffer' });
    } catch (err) {
      if (dir === local) throw err;
      return skip(dir, `cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    folders.push(remote);
    const named: Array<{ e: Dirent<Buffer>; name: string }> = [];
    for (const e of entries) {
      let name: string;
      try {
        name = utf8.decode(e.name);
      } catch {
        skip(join(dir, e.name.toString()), 'its name is not valid UTF-8, which a name in the vault must be');
        continue;
      }
      named.push({ e, name });
    }
    named.sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const { e, name: raw } of named) {
      const path = join(dir, raw); // valid UTF-8 encodes back to the same bytes
      let name: string;
      try {
        name = checkName(raw);
      } catch (err) {
        skip(path, (err as Error).message);
        continue;
      }
      if (e.isDirectory()) await walk(path, [...remote, name]);
      else if (e.isFile()) {
        const size = await stat(path).then((f) => f.size, () => null);
        if (size === null) skip(path, 'it vanished while the folder was read');
        else jobs.push({ path, parentNames: remote, name, size });
      } else note(inv, `coffer: skipping ${path} (${e.isSymbolicLink() ? 'a symbolic link: links are not followed, put what it points at by its own path' : 'not a regular file or folder'})`);
    }
  };
  if (!st.isDirectory() && !st.isFile()) throw new CliError(`${local} is not a regular file or folder`);

  const ctx = await openContext();
  const existing = await ctx.tree.resolve(names);
  if (remoteArg.endsWith('/') || names.length === 0 || existing?.kind === 'folder') names = [...names, checkName(localName)];
  if (st.isDirectory()) {
    await walk(local, names);
    folderBar = new Progress(localName, jobs.reduce((sum, j) => sum + j.size, 0), progressOn);
    for (const f of folders) await ensureFolder(ctx, f);
  } else {
    jobs.push({ path: local, parentNames: names.slice(0, -1), name: names[names.length - 1]!, size: st.size });
  }

  const results: PutResult[] = [];
  const say = (text: string, err = false) => {
    if (inv.quiet && err) return;
    if (folderBar) folderBar.above(err ? process.stderr : process.stdout, text);
    else (err ? process.stderr : process.stdout).write(text + '\n');
  };
  const putOne = async (job: Job) => {
    const remotePath = '/' + [...job.parentNames, job.name].join('/');
    const parent = await ensureFolder(ctx, job.parentNames);
    const progress = folderBar ?? new Progress(job.name, job.size, progressOn);
    let r: PutResult;
    try {
      r = await putFile(ctx, job.path, parent, job.name, { progress, remotePath });
    } catch (err) {
      // In a folder, a file written to while it was read fails alone; the others go on.
      if (!(folderBar && err instanceof CliError && err.code === 'FILE_CHANGED')) throw err;
      failed.push({ path: job.path, code: err.code, error: err.message });
      warn(`coffer: ${job.path} changed while it was being uploaded; it was not committed, the other files go on`);
      return;
    }
    if (!folderBar) progress.finish();
    results.push(r);
    if (r.conflictCopy && !inv.json) say(`coffer: ${remotePath} changed on the server meanwhile; uploaded as ${r.conflictCopy}`, true);
    if (!inv.json && r.unchanged) say(`${r.path}  v${r.version}  ${formatBytes(r.size)}, unchanged`);
    else if (!inv.json) say(`${r.conflictCopy ?? r.path}  v${r.version}  ${formatBytes(r.size)}, sent ${formatBytes(r.bytesSent)} (${r.chunksSent}/${r.chunks} chunks new)${r.resumed ? `, resumed${r.resumedFrom ? ` after the first ${formatBytes(r.resumedFrom)}` : ''}` : ''}`);
  };

  try {
    await eachFile(jobs, putOne);
  } finally {
    folderBar?.finish();
  }
  results.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const total = results.reduce((a, r) => ({ size: a.size + r.size, sent: a.sent + r.bytesSent, chunks: a.chunks + r.chunks, chunksSent: a.chunksSent + r.chunksSent }), { size: 0, sent: 0, chunks: 0, chunksSent: 0 });
  const problems = failed.length + skipped.length;
  if (inv.json) emit(inv, { ok: problems === 0, files: results, totalBytes: total.size, bytesSent: total.sent, chunks: total.chunks, chunksSent: total.chunksSent, failed, skipped }, '');
  if (problems) {
    const parts = [
      failed.length ? `${failed.length} file${failed.length === 1 ? '' : 's'} changed while being uploaded and ${failed.length === 1 ? 'was' : 'were'} not committed` : '',
      skipped.length ? `${skipped.length} entr${skipped.length === 1 ? 'y was' : 'ies were'} skipped` : '',
    ].filter(Boolean);
    process.stderr.write(`coffer: ${parts.join('; ')} (see above). The other files were put; run the same command again to retry${failed.length ? ' once nothing writes to them' : ''}.\n`);
    process.exitCode = EXIT.ERROR;
  }
};

/**
 * Downloads a file, or a folder with everything in it: its folders are made first, then its files
 * come down as a folder put sends them (eachFile), under one progress bar.
 */
async function getTree(inv: Invocation, tree: Tree, node: RemoteNode, dest: string, results: GetResult[]): Promise<void> {
  const progressOn = !inv.json && !inv.quiet;
  if (node.kind === 'file') {
    const meta = await tree.meta(node);
    const progress = new Progress(meta.name, meta.size, progressOn);
    results.push(await getFile(tree, node, dest, { progress }));
    progress.finish();
    return;
  }
  const jobs: Array<{ node: RemoteNode; dest: string; size: number }> = [];
  const walk = async (folder: RemoteNode, into: string) => {
    await mkdir(into, { recursive: true });
    for (const child of await tree.children(folder)) {
      const meta = await tree.meta(child);
      const path = join(into, cc.validateName(meta.name));
      await mustFit(child.kind, path);
      if (child.kind === 'folder') await walk(child, path);
      else jobs.push({ node: child, dest: path, size: meta.size });
    }
  };
  await walk(node, dest);
  const bar = new Progress(basename(dest), jobs.reduce((sum, j) => sum + j.size, 0), progressOn);
  // getFile sets its own count once (the bytes of a resumed file), then adds: both add here.
  const progress = { add: (n: number) => bar.add(n), set: (n: number) => bar.add(n) };
  try {
    await eachFile(jobs, async (job) => void results.push(await getFile(tree, job.node, job.dest, { progress })));
  } finally {
    bar.finish();
  }
}

/** Refuses, before anything is downloaded, a local path where the other kind of thing already is. */
async function mustFit(kind: 'file' | 'folder', path: string): Promise<void> {
  const st = await stat(path).catch(() => null);
  if (kind === 'file' && st?.isDirectory()) throw new UsageError(`${path} is a folder: the file cannot be written there (give another LOCAL, or move the folder away)`);
  if (kind === 'folder' && st && !st.isDirectory()) throw new UsageError(`${path} is a file: the folder cannot be written there (give another LOCAL, or move the file away)`);
}

/**
 * Where a get or fetch writes a file or folder called `name`: ./NAME by default; a `requested`
 * path that is an existing folder, or ends in "/" (made if missing), receives NAME inside it, a
 * folder as a file (like cp -r); any other is the path itself. An existing file there is replaced.
 */
async function localDest(kind: 'file' | 'folder', name: string, requested: string | undefined): Promise<string> {
  const clean = cc.validateName(name);
  let dest = join('.', clean);
  if (requested !== undefined) {
    const st = await stat(requested).catch(() => null);
    if (st?.isDirectory()) {
      dest = join(requested, clean);
    } else if (requested.endsWith('/') || requested.endsWith(sep)) {
      if (st) throw new UsageError(`${requested} is a file, not a folder`);
      await mkdir(requested, { recursive: true });
      dest = join(requested, clean);
    } else {
      dest = requested;
    }
  }
  await mustFit(kind, dest);
  return dest;
}

/**
 * What a get or fetch reports of the files it wrote into `dest`: counts for --json (`unchanged`
 * files were already there, byte for byte) and the line for a person.
 */
function downloadReport(dest: string, results: readonly GetResult[]): { counts: { files: number; bytes: number; resumed: boolean; unchanged: number }; line: string } {
  const bytes = results.reduce((a, r) => a + r.size, 0);
  const unchanged = results.filter((r) => r.unchanged).length;
  const there = unchanged === 0 ? '' : results.length === 1 ? ', already there (unchanged)' : `, ${unchanged} already there (unchanged)`;
  return {
    counts: { files: results.length, bytes, resumed: results.some((r) => r.resumed), unchanged },
    line: `${dest}  ${results.length} file${results.length === 1 ? '' : 's'}, ${formatBytes(bytes)}${there}`,
  };
}

const cmdGet: Run = async (inv) => {
  const ctx = await openContext();
  const node = await ctx.tree.mustResolve(inv.positionals[0]!);
  const name = node.id === ctx.tree.anchorId && node.parentId === null ? 'coffer' : (await ctx.tree.meta(node)).name;
  const [remote, requested] = [inv.positionals[0]!, inv.positionals[1]];
  // "FOLDER/ LOCAL" (as rsync): the folder's contents go into LOCAL itself, existing or not; the
  // way to continue an interrupted get into a LOCAL that the first run made.
  const contents = node.kind === 'folder' && remote.endsWith('/') && requested !== undefined;
  const dest = contents ? (await mustFit('folder', requested), requested) : await localDest(node.kind, name, requested);
  const results: GetResult[] = [];
  await getTree(inv, ctx.tree, node, dest, results);
  const { counts, line } = downloadReport(dest, results);
  emit(inv, { ok: true, path: dest, ...counts }, line);
};

const cmdMv: Run = async (inv) => {
  const ctx = await openContext();
  const [from, to] = inv.positionals as [string, string];
  const node = await ctx.tree.mustResolve(from);
  if (!node.parentId) throw new CliError('cannot move the vault root');
  const meta = await ctx.tree.meta(node);
  let toNames = splitPath(to);
  const target = await ctx.tree.resolve(toNames);
  if (to.endsWith('/') || toNames.length === 0 || target?.kind === 'folder') toNames = [...toNames, meta.name];
  else if (target) throw new CliError(`${displayPath(to)} already exists`);
  const newName = cc.validateName(toNames[toNames.length - 1]!);
  const newParent = await ctx.tree.resolve(toNames.slice(0, -1));
  if (!newParent || newParent.kind !== 'folder') throw new CliError(`no such folder: /${toNames.slice(0, -1).join('/')}`);
  const oldParent = await ctx.tree.node(node.parentId);
  const keys = await ctx.tree.keysOf(node);
  const newParentKeys = await ctx.tree.keysOf(newParent);
  const body: Record<string, unknown> = { nameHash: await cc.nameHash(newParentKeys, newName) };
  if (newParent.id !== oldParent.id) {
    const secret = await guard(cc.unwrapNodeSecret(unb64(node.wrappedKey), node.id, await ctx.tree.keysOf(oldParent), ctx.vault), 'node key');
    body.parentId = newParent.id;
    body.wrappedKey = b64(await cc.wrapNodeSecret(secret, node.id, newParentKeys, ctx.vault));
  }
  if (newName !== meta.name) body.metadata = b64(await cc.sealMetadata(keys, { ...meta, name: newName }));
  try {
    await ctx.api.json('PATCH', `/api/nodes/${node.id}`, { body });
  } catch (err) {
    if (err instanceof ApiError && err.code === 'NAME_TAKEN') throw new CliError(`${'/' + toNames.join('/')} already exists`, EXIT.ERROR, err.code);
    if (err instanceof ApiError && err.code === 'MOVE_CYCLE') throw new CliError('cannot move a folder into itself', EXIT.ERROR, err.code);
    throw err;
  }
  emit(inv, { ok: true, from: displayPath(from), to: '/' + toNames.join('/') }, `${displayPath(from)} -> /${toNames.join('/')}`);
};

const cmdRm: Run = async (inv) => {
  const ctx = await openContext();
  const path = inv.positionals[0]!;
  const node = await ctx.tree.mustResolve(path);
  if (!node.parentId) throw new CliError('cannot remove the vault root');
  await ctx.api.json('POST', `/api/nodes/${node.id}/trash`);
  emit(inv, { ok: true, path: displayPath(path), id: node.id }, `${displayPath(path)} moved to the trash`);
};

interface TrashItem { id: string; path: string; kind: string; size: number; trashedAt: string | null }

async function listTrash(ctx: Context): Promise<TrashItem[]> {
  const items: TrashItem[] = [];
  let after: string | null = null;
  do {
    const page: { items: RemoteNode[]; next: string | null } = await ctx.api.json('GET', `/api/trash?limit=1000${after ? `&after=${after}` : ''}`);
    for (const n of page.items) {
      ctx.tree.remember(n);
      const meta = await ctx.tree.meta(n);
      items.push({ id: n.id, path: await ctx.tree.pathOf(n), kind: n.kind, size: meta.size, trashedAt: n.trashedAt ?? null });
    }
    after = page.next;
  } while (after);
  return items;
}

const cmdTrash: Run = async (inv) => {
  const ctx = await openContext();
  const items = await listTrash(ctx);
  emit(inv, { ok: true, items }, items.length === 0 ? 'The trash is empty.' : items.map((i) =>
    `${i.kind === 'folder' ? 'd' : '-'} ${(i.kind === 'folder' ? '' : formatBytes(i.size)).padStart(10)}  ${fmtTime(i.trashedAt)}  ${i.path}${i.kind === 'folder' ? '/' : ''}`));
};

const cmdRestoreTrash: Run = async (inv) => {
  const ctx = await openContext();
  const want = displayPath(inv.positionals[0]!);
  const trash = await listTrash(ctx);
  const items = trash.filter((i) => i.path === want);
  if (items.length === 0) throw new CliError(`nothing in the trash at ${want}`, EXIT.ERROR, 'NOT_FOUND');
  items.sort((a, b) => String(b.trashedAt).localeCompare(String(a.trashedAt)));
  const item = items[0]!;
  try {
    await ctx.api.json('POST', `/api/nodes/${item.id}/restore`, { body: {} });
  } catch (err) {
    if (err instanceof ApiError && err.code === 'NAME_TAKEN') throw new CliError(`${want} exists again; move it away first`, EXIT.ERROR, err.code);
    if (err instanceof ApiError && err.code === 'PARENT_TRASHED') {
      const folder = trash.find((i) => i.id === err.body.folderId)?.path ?? 'the folder above it';
      throw new CliError(`${folder} is in the trash too: restore it first (coffer restore-trash ${folder})`, EXIT.ERROR, err.code);
    }
    throw err;
  }
  emit(inv, { ok: true, path: want, id: item.id }, `${want} restored`);
};

// ---------------------------------------------------------------- versions

interface VersionRow { version: number; createdAt?: string; deviceId?: string | null; storedSize?: number }

const cmdVersions: Run = async (inv) => {
  const ctx = await openContext();
  const node = await ctx.tree.mustResolve(inv.positionals[0]!);
  if (node.kind !== 'file') throw new CliError(`${displayPath(inv.positionals[0]!)} is a folder`);
  const { versions } = await ctx.api.json<{ versions: VersionRow[] }>('GET', `/api/nodes/${node.id}/versions`);
  versions.sort((a, b) => b.version - a.version);
  const names = await deviceNames(ctx);
  // A version names the device that made it when its client recorded one (this command line does).
  const device = (id?: string | null) => {
    if (!id) return null;
    return names.has(id) ? names.get(id) ?? `device ${id.slice(0, 8)} ${UNREADABLE}` : `removed device ${id.slice(0, 8)}`;
  };
  const rows = versions.map((v) => ({ ...v, device: device(v.deviceId) }));
  emit(inv, { ok: true, path: displayPath(inv.positionals[0]!), current: node.version, versions: rows }, rows.map((v) =>
    `v${String(v.version).padEnd(4)} ${fmtTime(v.createdAt)}  ${formatBytes(v.storedSize ?? 0).padStart(10)} stored  ${v.device ?? '-'}${v.version === node.version ? '  (current)' : ''}`));
};

/** A whole number written in plain decimal digits (not 1e0, 0x1, " 1"), or NaN. */
function wholeNumber(s: string | undefined): number {
  return s !== undefined && /^[0-9]{1,15}$/.test(s) ? Number(s) : NaN;
}

const cmdRestore: Run = async (inv) => {
  const wanted = wholeNumber(str(inv, 'version'));
  if (!(wanted >= 1)) throw new UsageError('restore needs --version N (a version number from `coffer versions`)');
  const ctx = await openContext();
  const path = inv.positionals[0]!;
  const node = await ctx.tree.mustResolve(path);
  if (node.kind !== 'file') throw new CliError(`${displayPath(path)} is a folder`);
  const keys = await ctx.tree.keysOf(node);
  const meta = await ctx.tree.meta(node);
  const old = await ctx.tree.version(node, wanted).catch((err: unknown) => {
    if (err instanceof ApiError && err.status === 404) {
      throw new CliError(`${displayPath(path)} has no version ${wanted} (any more); \`coffer versions ${displayPath(path)}\` lists the versions kept`, EXIT.ERROR, 'VERSION_NOT_FOUND');
    }
    throw err;
  });
  const manifest = await guard(cc.openManifest(keys, wanted, unb64(old.manifest)), `the manifest of version ${wanted}`);
  // format §7: restoring version k re-seals manifest k's plaintext as version n + 1; chunks are shared.
  const up = await ctx.api.json<{ uploadId: string }>('POST', '/api/uploads', { body: { nodeId: node.id } });
  const ids = [...new Set(manifest.chunks.map((c) => c.chunkId))];
  for (let i = 0; i < ids.length; i += 1000) {
    const { missing } = await ctx.api.json<{ missing: string[] }>('POST', '/api/chunks/check', { body: { uploadId: up.uploadId, ids: ids.slice(i, i + 1000) } });
    if (missing.length) throw new CliError(`version ${wanted} lacks ${missing.length} chunk(s) on the server; it cannot be restored`);
  }
  const next = node.version + 1;
  const res = await ctx.api.json<{ version: number }>('POST', `/api/nodes/${node.id}/versions`, {
    body: {
      uploadId: up.uploadId,
      baseVersion: node.version,
      manifest: b64(await cc.sealManifest(keys, next, manifest)),
      chunkIds: ids,
      metadata: b64(await cc.sealMetadata(keys, { ...meta, size: manifest.size, mtime: Date.now() })),
      deviceId: ctx.session.deviceId,
    },
  });
  emit(inv, { ok: true, path: displayPath(path), restored: wanted, version: res.version ?? next }, `${displayPath(path)}: version ${wanted} restored as version ${res.version ?? next}`);
};

// ---------------------------------------------------------------- sharing

const MAX_EXPIRY_MS = 10 * 365 * 24 * 3600 * 1000; // the server's limit for a link's lifetime
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})?)?$/;

/**
 * --expires: a duration (90s, 30m, 12h, 7d, 2w) or an ISO 8601 date or time (a time without an
 * offset is local), in the future and at most ten years ahead. Nothing else: "3600" is not a year.
 */
export function parseExpiry(s: string, now = Date.now()): Date {
  const forms = 'a duration (90s, 30m, 12h, 7d, 2w) or an ISO date (2027-01-31, 2027-01-31T18:00Z)';
  const m = /^([0-9]{1,15})(s|m|h|d|w)$/.exec(s);
  const iso = ISO_DATE.exec(s);
  let at: number;
  if (m) {
    at = now + Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m[2] as 's' | 'm' | 'h' | 'd' | 'w'] * 1000;
  } else if (iso) {
    // Date.parse rolls 2027-02-30 over into March: the day must exist.
    const [y, mo, d] = [Number(iso[1]), Number(iso[2]), Number(iso[3])];
    const day = new Date(Date.UTC(y, mo - 1, d));
    at = day.getUTCMonth() === mo - 1 && day.getUTCDate() === d ? Date.parse(s) : NaN;
    if (!Number.isFinite(at)) throw new UsageError(`--expires: ${s} is not a date that exists`);
  } else {
    throw new UsageError(`--expires: not ${forms}: ${JSON.stringify(s)}`);
  }
  if (at <= now) throw new UsageError(`--expires: ${s} is not in the future`);
  if (at > now + MAX_EXPIRY_MS) throw new UsageError(`--expires: ${s} is more than 10 years ahead, the longest a link can live`);
  return new Date(at);
}

const MAX_DOWNLOADS = 1_000_000; // the server's limit

const cmdShare: Run = async (inv) => {
  const expires = str(inv, 'expires') !== undefined ? parseExpiry(str(inv, 'expires')!) : undefined;
  const maxStr = str(inv, 'max-downloads');
  const maxDownloads = maxStr === undefined ? undefined : wholeNumber(maxStr);
  if (maxDownloads !== undefined && !(maxDownloads >= 1 && maxDownloads <= MAX_DOWNLOADS)) throw new UsageError(`--max-downloads needs a whole number from 1 to ${MAX_DOWNLOADS}`);
  const ctx = await openContext();
  const path = inv.positionals[0]!;
  const node = await ctx.tree.mustResolve(path);
  const password = inv.values.password ? (await readSecret('COFFER_LINK_PASSWORD', 'Link password:', { confirm: true })).normalize('NFC') : undefined;
  const keys = await ctx.tree.keysOf(node);
  const link = await cc.createLink({ nodeId: node.id, secret: keys.secret }, password);
  const body: Record<string, unknown> = { linkId: link.linkId, nodeId: node.id, payload: b64(link.payload) };
  if (link.kdf) body.kdf = cc.encodeKdfParams(link.kdf);
  if (link.authKey) body.authKey = b64(link.authKey);
  if (expires) body.expiresAt = expires.toISOString();
  if (maxDownloads !== undefined) body.maxDownloads = maxDownloads;
  await ctx.api.json('POST', '/api/links', { body });
  const url = `${ctx.session.server}/s/${link.linkId}#${link.secret}`;
  emit(inv, { ok: true, url, linkId: link.linkId, path: displayPath(path), expiresAt: expires?.toISOString() ?? null, maxDownloads: maxDownloads ?? null, hasPassword: Boolean(password) }, url);
};

interface LinkRow { linkId: string; nodeId: string; createdAt?: string; expiresAt?: string | null; maxDownloads?: number | null; downloads?: number; revokedAt?: string | null; hasPassword?: boolean }

const cmdLinks: Run = async (inv) => {
  const ctx = await openContext();
  const { links } = await ctx.api.json<{ links: LinkRow[] }>('GET', '/api/links');
  const rows = await Promise.all(links.map(async (l) => {
    let path: string | null = null;
    try {
      path = await ctx.tree.pathOf(await ctx.tree.node(l.nodeId));
    } catch {
      path = null;
    }
    const now = Date.now();
    const state = l.revokedAt ? 'revoked'
      : l.expiresAt && Date.parse(l.expiresAt) <= now ? 'expired'
      : l.maxDownloads != null && (l.downloads ?? 0) >= l.maxDownloads ? 'exhausted' : 'active';
    return { ...l, path, state };
  }));
  emit(inv, { ok: true, links: rows }, rows.length === 0 ? 'No share links.' : rows.map((r) =>
    `${r.linkId}  ${r.state.padEnd(9)} ${String(r.downloads ?? 0)}${r.maxDownloads != null ? `/${r.maxDownloads}` : ''} opens  ${r.hasPassword ? 'password  ' : ''}${r.expiresAt ? `expires ${fmtTime(r.expiresAt)}  ` : ''}${r.path ?? r.nodeId}`));
};

const cmdUnshare: Run = async (inv) => {
  const ctx = await openContext();
  const id = inv.positionals[0]!.toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(id)) throw new UsageError('unshare needs a link id (32 hex digits, see `coffer links`)');
  await ctx.api.json('DELETE', `/api/links/${id}`).catch((err: unknown) => {
    if (err instanceof ApiError && err.code === 'LINK_NOT_FOUND') {
      throw new CliError(`you have no link ${id} (\`coffer links\` lists yours)`, EXIT.ERROR, err.code);
    }
    throw err;
  });
  emit(inv, { ok: true, linkId: id }, `link ${id} revoked`);
};

const LINK_SECRET_CHARS = 43;

export function parseLink(link: string): { origin: string; linkId: string; secret: string } {
  let url: URL;
  try {
    url = new URL(link.trim());
  } catch {
    throw new UsageError('not a share link (expected URL/s/ID#SECRET)');
  }
  const m = /^(.*)\/s\/([0-9a-f]{32})\/?$/.exec(url.pathname);
  const secret = url.hash.replace(/^#/, '');
  if (!m || !secret) throw new UsageError('not a share link (expected URL/s/ID#SECRET)');
  // The secret is 32 bytes in base64url (format §8): 43 characters of A-Z a-z 0-9 - _.
  if (secret.length !== LINK_SECRET_CHARS) throw new UsageError(`the link is incomplete: the part after # must be ${LINK_SECRET_CHARS} characters (it has ${secret.length}); copy the whole link again`);
  if (!/^[A-Za-z0-9_-]+$/.test(secret)) throw new UsageError('the link is damaged: the part after # holds characters a link never has; copy the whole link again');
  return { origin: url.origin + m[1]!, linkId: m[2]!, secret };
}

const LINK_MESSAGES: Record<string, string> = {
  LINK_NOT_FOUND: 'this share link does not exist',
  LINK_EXPIRED: 'this share link has expired',
  LINK_EXHAUSTED: 'this share link has reached its download limit',
  LINK_REVOKED: 'this share link was revoked by its owner',
  PASSWORD_WRONG: 'wrong link password',
  PASSWORD_REQUIRED: 'this link needs a password',
};

async function linkCall<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    if (err instanceof ApiError && err.code && err.code in LINK_MESSAGES) {
      throw new CliError(LINK_MESSAGES[err.code]!, err.status === 401 ? EXIT.AUTH : EXIT.ERROR, err.code);
    }
    throw err;
  }
}

const cmdFetch: Run = async (inv) => {
  const raw = inv.positionals[0] ?? process.env.COFFER_LINK;
  if (!raw) throw new UsageError('fetch needs a link (argument or COFFER_LINK)');
  const { origin, linkId, secret } = parseLink(raw);
  const api = new Api(origin);
  const info = await linkCall(() => api.json<{ hasPassword: boolean; kdf?: string; challenge?: string }>('GET', `/api/public/links/${linkId}`));
  let keys: { linkKey: Uint8Array; authKey?: Uint8Array };
  let openBody: Record<string, unknown> = {};
  if (info.hasPassword) {
    if (!info.kdf || !info.challenge) throw new CliError('the server sent no password parameters for this link');
    const password = (await readSecret('COFFER_LINK_PASSWORD', 'Link password:')).normalize('NFC');
    keys = await cc.linkKeys(linkId, secret, password, cc.decodeKdfParams(info.kdf));
    const response = await cc.linkChallengeResponse(keys.authKey!, linkId, unb64(info.challenge));
    openBody = { challenge: info.challenge, response: b64(response) };
  } else {
    keys = await cc.linkKeys(linkId, secret).catch((err: unknown) => {
      // 43 characters whose last one sets bits a 32-byte secret does not have.
      if ((err as { code?: string }).code === 'INVALID_ENCODING') throw new UsageError('the link is damaged: the part after # is not a link secret; copy the whole link again');
      throw err;
    });
  }
  const opened = await linkCall(() => api.json<{ accessToken: string; payload: string; node: RemoteNode }>('POST', `/api/public/links/${linkId}/open`, { body: openBody }));
  api.setHeader('x-link-access', opened.accessToken);
  // A secret that does not open the payload: mistyped or cut (the likely case), or a payload the
  // server altered. The CLI cannot tell them apart, so the exit stays the integrity failure (4): the
  // data did not verify with the key given.
  const target = await cc.openLinkPayload(linkId, keys.linkKey, unb64(opened.payload)).catch((err: unknown) => {
    if ((err as { code?: string }).code === 'AUTH_FAILED') {
      throw new CliError('the link\'s secret (the part after #) does not open it: the link was probably copied incompletely or wrongly; copy the whole link again', EXIT.INTEGRITY, 'LINK_SECRET_WRONG');
    }
    return guard(Promise.reject(err), 'the link payload');
  });
  if (target.nodeId !== opened.node.id) throw new CliError('the server returned another node than the link names', EXIT.INTEGRITY);
  const nodeKeys = await cc.nodeKeys(target.nodeId, target.secret);
  const tree = new Tree(api, linkSource(linkId), null, target.nodeId, nodeKeys);
  tree.remember({ ...opened.node, parentId: opened.node.parentId ?? null });
  const meta = await tree.meta(opened.node);
  const name = cc.validateName(meta.name);
  const dest = await localDest(opened.node.kind, name, str(inv, 'output'));
  const results: GetResult[] = [];
  await getTree(inv, tree, opened.node, dest, results);
  const { counts, line } = downloadReport(dest, results);
  emit(inv, { ok: true, path: dest, name, kind: opened.node.kind, ...counts }, line);
};

const COMMAND_RUNS: Record<string, Run> = {
  signup: cmdSignup, login: cmdLogin, logout: cmdLogout, status: cmdStatus,
  sessions: cmdSessions, 'end-session': cmdEndSession, devices: cmdDevices, 'remove-device': cmdRemoveDevice,
  ls: cmdLs, mkdir: cmdMkdir, put: cmdPut, get: cmdGet, mv: cmdMv, rm: cmdRm, trash: cmdTrash,
  'restore-trash': cmdRestoreTrash, versions: cmdVersions, restore: cmdRestore,
  share: cmdShare, links: cmdLinks, unshare: cmdUnshare, fetch: cmdFetch,
};

/** Commands that continue where they stopped when run again (put-journal.ts, getFile's sidecar). */
const RESUMABLE = new Set(['put', 'get', 'fetch']);

export async function run(name: string, inv: Invocation): Promise<void> {
  const f = COMMAND_RUNS[name];
  if (!f) throw new UsageError(`unknown command "${name}"`);
  try {
    await f(inv);
  } catch (err) {
    // The server stayed out of reach through every retry, or failed: what was done is kept.
    const lost = err instanceof CliError && (NETWORK_CODES.has(err.code ?? '') || (err instanceof ApiError && err.status >= 500));
    if (lost && RESUMABLE.has(name)) throw new CliError(`${err.message}; run the same command again to continue where it stopped`, err.exitCode, err.code);
    throw err;
  }
}
