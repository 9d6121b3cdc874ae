// The commands themselves. Each writes human output to stdout (progress and notes to stderr),
// or one JSON document to stdout with --json.
import * as cc from '@coffer/crypto-core';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { login, logout, openContext, signup, type Context } from './account.ts';
import { ApiError, CliError, EXIT, UsageError } from './errors.ts';
import { Api } from './http.ts';
import type { Invocation } from './main.ts';
import { formatBytes, Progress } from './progress.ts';
import { readSecret } from './secrets.ts';
import { createNode, getFile, putFile, type GetResult, type PutResult } from './transfer.ts';
import { b64, displayPath, guard, linkSource, splitPath, Tree, unb64, type RemoteNode } from './tree.ts';

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
  const devices: Array<{ id: string; name: string | null; current: boolean }> = [];
  try {
    const list = await ctx.api.json<{ devices: Array<{ deviceId: string; name: string }> }>('GET', '/api/devices');
    for (const d of list.devices) {
      const name = await cc.openDeviceName(ctx.vault, d.deviceId, unb64(d.name)).catch(() => null);
      devices.push({ id: d.deviceId, name, current: d.deviceId === ctx.session.deviceId });
    }
  } catch {
    /* an older server without devices */
  }
  emit(inv, { ok: true, server: ctx.session.server, email: acc.email, accountId: ctx.session.accountId, deviceId: ctx.session.deviceId, usedBytes: acc.usedBytes ?? null, quotaBytes: acc.quotaBytes ?? null, devices }, [
    `server:   ${ctx.session.server}`,
    `account:  ${acc.email} (${ctx.session.accountId})`,
    `device:   ${ctx.session.deviceId}`,
    `storage:  ${formatBytes(acc.usedBytes ?? 0)} used${acc.quotaBytes ? ` of ${formatBytes(acc.quotaBytes)}` : ''}`,
    ...devices.map((d) => `devices:  ${d.id}  ${d.name ?? '(name does not open)'}${d.current ? '  (this one)' : ''}`),
  ]);
};

interface SessionRow { id: string; client: string; createdAt: string; lastSeenAt: string; endsAt?: string; current: boolean }

const cmdSessions: Run = async (inv) => {
  const ctx = await openContext();
  const { sessions } = await ctx.api.json<{ sessions: SessionRow[] }>('GET', '/api/auth/sessions');
  const kind = (c: string) => (c === 'web' ? 'web vault' : c === 'cli' ? 'cli/agent' : c);
  emit(inv, { ok: true, sessions }, sessions.map((x) =>
    `${x.id}  ${kind(x.client).padEnd(9)}  logged in ${fmtTime(x.createdAt)}  last used ${fmtTime(x.lastSeenAt)}${x.endsAt ? `  ends ${fmtTime(x.endsAt)}` : ''}${x.current ? '  (this one)' : ''}`));
};

const cmdEndSession: Run = async (inv) => {
  const ctx = await openContext();
  const id = inv.positionals[0]!.toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(id)) throw new UsageError('end-session needs a session id (32 hex digits, see `coffer sessions`)');
  const { sessions } = await ctx.api.json<{ sessions: SessionRow[] }>('GET', '/api/auth/sessions');
  if (sessions.some((x) => x.id === id && x.current)) throw new UsageError('that is this session: use `coffer logout` to end it');
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
  const ctx = await openContext();
  const names = splitPath(inv.positionals[0]!);
  if (names.length === 0) throw new UsageError('mkdir needs a folder name');
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

const cmdPut: Run = async (inv) => {
  const ctx = await openContext();
  const local = inv.positionals[0]!;
  const st = await stat(local).catch(() => {
    throw new CliError(`no such local file or folder: ${local}`);
  });
  const localName = basename(local.replace(/\/+$/, '')).normalize('NFC');
  const remoteArg = inv.positionals[1] ?? '/';
  let names = splitPath(remoteArg);
  const existing = await ctx.tree.resolve(names);
  if (remoteArg.endsWith('/') || names.length === 0 || existing?.kind === 'folder') names = [...names, localName];
  const results: PutResult[] = [];
  const progressOn = !inv.json && !inv.quiet;

  // A folder: its folders are made first, in order; then its files go up several at a time (a
  // small file is mostly round trips), a large one alone (it has chunks in flight of its own).
  // One progress bar for the whole folder; a line per file as it completes.
  interface Job { path: string; parentNames: string[]; name: string; size: number }
  const jobs: Job[] = [];
  const walk = async (dir: string, remote: string[]) => {
    await ensureFolder(ctx, remote);
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const e of entries) {
      const name = e.name.normalize('NFC');
      const path = join(dir, e.name);
      if (e.isDirectory()) await walk(path, [...remote, name]);
      else if (e.isFile()) jobs.push({ path, parentNames: remote, name, size: (await stat(path)).size });
      else note(inv, `coffer: skipping ${path} (not a regular file or folder)`);
    }
  };
  if (st.isDirectory()) await walk(local, names);
  else if (st.isFile()) jobs.push({ path: local, parentNames: names.slice(0, -1), name: names[names.length - 1]!, size: st.size });
  else throw new CliError(`${local} is not a regular file or folder`);

  const folderBar = st.isDirectory()
    ? new Progress(localName, jobs.reduce((sum, j) => sum + j.size, 0), progressOn)
    : null;
  const say = (text: string, err = false) => {
    if (inv.quiet && err) return;
    if (folderBar) folderBar.above(err ? process.stderr : process.stdout, text);
    else (err ? process.stderr : process.stdout).write(text + '\n');
  };
  const putOne = async (job: Job) => {
    const remotePath = '/' + [...job.parentNames, job.name].join('/');
    const parent = await ensureFolder(ctx, job.parentNames);
    const progress = folderBar ?? new Progress(job.name, job.size, progressOn);
    const r = await putFile(ctx, job.path, parent, job.name, { progress, remotePath });
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
  if (inv.json) emit(inv, { ok: true, files: results, totalBytes: total.size, bytesSent: total.sent, chunks: total.chunks, chunksSent: total.chunksSent }, '');
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

async function localDest(node: RemoteNode, tree: Tree, requested: string | undefined): Promise<string> {
  const name = node.id === tree.anchorId && node.parentId === null ? 'coffer' : (await tree.meta(node)).name;
  if (!requested) return join('.', cc.validateName(name));
  const st = await stat(requested).catch(() => null);
  if (st?.isDirectory() && node.kind === 'file') return join(requested, cc.validateName(name));
  return requested;
}

const cmdGet: Run = async (inv) => {
  const ctx = await openContext();
  const node = await ctx.tree.mustResolve(inv.positionals[0]!);
  const dest = await localDest(node, ctx.tree, inv.positionals[1]);
  const results: GetResult[] = [];
  await getTree(inv, ctx.tree, node, dest, results);
  const bytes = results.reduce((a, r) => a + r.size, 0);
  emit(inv, { ok: true, path: dest, files: results.length, bytes, resumed: results.some((r) => r.resumed) }, `${dest}  ${results.length} file${results.length === 1 ? '' : 's'}, ${formatBytes(bytes)}`);
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
  const items = (await listTrash(ctx)).filter((i) => i.path === want);
  if (items.length === 0) throw new CliError(`nothing in the trash at ${want}`, EXIT.ERROR, 'NOT_FOUND');
  items.sort((a, b) => String(b.trashedAt).localeCompare(String(a.trashedAt)));
  const item = items[0]!;
  try {
    await ctx.api.json('POST', `/api/nodes/${item.id}/restore`, { body: {} });
  } catch (err) {
    if (err instanceof ApiError && err.code === 'NAME_TAKEN') throw new CliError(`${want} exists again; move it away first`, EXIT.ERROR, err.code);
    throw err;
  }
  emit(inv, { ok: true, path: want, id: item.id }, `${want} restored`);
};

// ---------------------------------------------------------------- versions

interface VersionRow { version: number; createdAt?: string; deviceId?: string; storedSize?: number }

const cmdVersions: Run = async (inv) => {
  const ctx = await openContext();
  const node = await ctx.tree.mustResolve(inv.positionals[0]!);
  if (node.kind !== 'file') throw new CliError(`${displayPath(inv.positionals[0]!)} is a folder`);
  const { versions } = await ctx.api.json<{ versions: VersionRow[] }>('GET', `/api/nodes/${node.id}/versions`);
  versions.sort((a, b) => b.version - a.version);
  emit(inv, { ok: true, path: displayPath(inv.positionals[0]!), current: node.version, versions }, versions.map((v) =>
    `v${String(v.version).padEnd(4)} ${fmtTime(v.createdAt)}  ${formatBytes(v.storedSize ?? 0).padStart(10)} stored${v.version === node.version ? '  (current)' : ''}`));
};

const cmdRestore: Run = async (inv) => {
  const ctx = await openContext();
  const wanted = Number(str(inv, 'version'));
  if (!Number.isInteger(wanted) || wanted < 1) throw new UsageError('restore needs --version N (a version number from `coffer versions`)');
  const path = inv.positionals[0]!;
  const node = await ctx.tree.mustResolve(path);
  if (node.kind !== 'file') throw new CliError(`${displayPath(path)} is a folder`);
  const keys = await ctx.tree.keysOf(node);
  const meta = await ctx.tree.meta(node);
  const old = await ctx.tree.version(node, wanted);
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
    },
  });
  emit(inv, { ok: true, path: displayPath(path), restored: wanted, version: res.version ?? next }, `${displayPath(path)}: version ${wanted} restored as version ${res.version ?? next}`);
};

// ---------------------------------------------------------------- sharing

export function parseExpiry(s: string, now = Date.now()): Date {
  const m = /^(\d+)\s*(s|m|h|d|w)$/.exec(s.trim());
  if (m) {
    const unit = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m[2] as 's' | 'm' | 'h' | 'd' | 'w'];
    return new Date(now + Number(m[1]) * unit * 1000);
  }
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) throw new UsageError(`--expires: not a duration (30m, 12h, 7d, 2w) or a date: ${s}`);
  return d;
}

const cmdShare: Run = async (inv) => {
  const ctx = await openContext();
  const path = inv.positionals[0]!;
  const node = await ctx.tree.mustResolve(path);
  const expires = str(inv, 'expires') ? parseExpiry(str(inv, 'expires')!) : undefined;
  const maxStr = str(inv, 'max-downloads');
  const maxDownloads = maxStr === undefined ? undefined : Number(maxStr);
  if (maxDownloads !== undefined && (!Number.isInteger(maxDownloads) || maxDownloads < 1)) throw new UsageError('--max-downloads needs a whole number ≥ 1');
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
  await ctx.api.json('DELETE', `/api/links/${id}`);
  emit(inv, { ok: true, linkId: id }, `link ${id} revoked`);
};

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
    keys = await cc.linkKeys(linkId, secret);
  }
  const opened = await linkCall(() => api.json<{ accessToken: string; payload: string; node: RemoteNode }>('POST', `/api/public/links/${linkId}/open`, { body: openBody }));
  api.setHeader('x-link-access', opened.accessToken);
  const target = await guard(cc.openLinkPayload(linkId, keys.linkKey, unb64(opened.payload)), 'the link payload');
  if (target.nodeId !== opened.node.id) throw new CliError('the server returned another node than the link names', EXIT.INTEGRITY);
  const nodeKeys = await cc.nodeKeys(target.nodeId, target.secret);
  const tree = new Tree(api, linkSource(linkId), null, target.nodeId, nodeKeys);
  tree.remember({ ...opened.node, parentId: opened.node.parentId ?? null });
  const meta = await tree.meta(opened.node);
  const name = cc.validateName(meta.name);
  let dest = str(inv, 'output') ?? join('.', name);
  const st = await stat(dest).catch(() => null);
  if (st?.isDirectory() && opened.node.kind === 'file') dest = join(dest, name);
  const results: GetResult[] = [];
  await getTree(inv, tree, opened.node, dest, results);
  const bytes = results.reduce((a, r) => a + r.size, 0);
  emit(inv, { ok: true, path: dest, name, kind: opened.node.kind, files: results.length, bytes }, `${dest}  ${results.length} file${results.length === 1 ? '' : 's'}, ${formatBytes(bytes)}`);
};

const COMMAND_RUNS: Record<string, Run> = {
  signup: cmdSignup, login: cmdLogin, logout: cmdLogout, status: cmdStatus,
  sessions: cmdSessions, 'end-session': cmdEndSession,
  ls: cmdLs, mkdir: cmdMkdir, put: cmdPut, get: cmdGet, mv: cmdMv, rm: cmdRm, trash: cmdTrash,
  'restore-trash': cmdRestoreTrash, versions: cmdVersions, restore: cmdRestore,
  share: cmdShare, links: cmdLinks, unshare: cmdUnshare, fetch: cmdFetch,
};

export async function run(name: string, inv: Invocation): Promise<void> {
  const f = COMMAND_RUNS[name];
  if (!f) throw new UsageError(`unknown command "${name}"`);
  await f(inv);
}
