// The end-to-end suite of the `coffer` CLI, run against one backend: real server process, real
// CLI processes, each with its own temporary COFFER_HOME. Tests in a file run in order and share
// one account; every file gets its own server.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { link, mkdir, readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fromBase64Url, storedLengthOf } from '@coffer/crypto-core';
import { journalLine } from '../src/put-journal.ts';
import { coffer, fileMode, listFiles, readAllBlobs, seededBytes, tempDir, type Backend, type RunResult } from './helpers.ts';
import { rm } from 'node:fs/promises';

const EXIT = { OK: 0, ERROR: 1, USAGE: 2, AUTH: 3, INTEGRITY: 4 };

function ok(r: RunResult): RunResult {
  if (r.code !== 0) throw new Error(`coffer exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

function json<T = Record<string, unknown>>(r: RunResult): T {
  return JSON.parse(ok(r).stdout) as T;
}

export function defineCliSuite(start: () => Promise<Backend>): void {
  let backend: Backend;
  let work: string;
  let homeA: string;
  let homeB: string;
  const passphrase = 'correct horse battery staple ✓ ' + Math.random().toString(36).slice(2);
  const linkPassword = 'link-pässword-' + Math.random().toString(36).slice(2);
  const email = `cli-${Math.random().toString(36).slice(2)}@example.test`;
  let recoveryCode = '';
  // Names and contents the server must never see in clear (checked at the end).
  const secretNames: string[] = [];
  const secretContents: Buffer[] = [];
  const tempDirs: string[] = [];

  const tmp = async (p: string) => {
    const d = await tempDir(p);
    tempDirs.push(d);
    return d;
  };
  const as = (home: string, extra: Record<string, string> = {}) => ({
    COFFER_HOME: home,
    ...extra,
  });
  const A = (args: string[], extra: Record<string, string> = {}) => coffer(args, as(homeA, extra), { cwd: work });
  const B = (args: string[], extra: Record<string, string> = {}) => coffer(args, as(homeB, extra), { cwd: work });

  /** Writes a local file with content the server must not learn. */
  const localFile = async (name: string, data: Buffer): Promise<string> => {
    const p = join(work, name);
    await writeFile(p, data);
    if (data.length >= 64) secretContents.push(data.subarray(0, 64), data.subarray(data.length - 64));
    else if (data.length >= 8) secretContents.push(data);
    return p;
  };

  beforeAll(async () => {
    backend = await start();
    work = await tmp('work');
    homeA = await tmp('homeA');
    homeB = await tmp('homeB');
  });

  afterAll(async () => {
    await backend?.cleanup();
    for (const d of tempDirs) await rm(d, { recursive: true, force: true });
  });

  it('refuses to ask for a passphrase without a terminal, naming the variable', async () => {
    const r = await coffer(['signup', '--server', backend.server.url, '--email', email], as(homeA));
    expect(r.code).toBe(EXIT.USAGE);
    expect(r.stderr).toContain('COFFER_PASSPHRASE');
  });

  it('signs up, prints the recovery code once and keeps keys in private files', async () => {
    const r = json<{ recoveryCode: string; accountId: string }>(
      await coffer(['signup', '--json', '--server', backend.server.url, '--email', email], as(homeA, { COFFER_PASSPHRASE: passphrase })),
    );
    expect(r.recoveryCode).toMatch(/^[0-9A-Z]{4}(-[0-9A-Z]{4}){7}$/);
    recoveryCode = r.recoveryCode;
    expect(await fileMode(homeA)).toBe(0o700);
    const files = await listFiles(homeA);
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      expect(await fileMode(f)).toBe(0o600);
      const text = await readFile(f, 'utf8');
      expect(text).not.toContain(passphrase);
      expect(text).not.toContain(recoveryCode);
    }
    const status = json<{ email: string }>(await A(['status', '--json']));
    expect(status.email).toBe(email);
  });

  it('rejects a wrong passphrase with exit 3 and logs in from a second, empty COFFER_HOME', async () => {
    const bad = await coffer(['login', '--server', backend.server.url, '--email', email], as(homeB, { COFFER_PASSPHRASE: 'wrong passphrase' }));
    expect(bad.code).toBe(EXIT.AUTH);
    expect(bad.stderr).not.toContain('wrong passphrase');
    ok(await coffer(['login'], as(homeB, { COFFER_PASSPHRASE: passphrase, COFFER_SERVER: backend.server.url, COFFER_EMAIL: email })));
    const status = json<{ email: string; deviceId: string; devices: Array<{ id: string; name: string; current: boolean }> }>(await B(['status', '--json']));
    expect(status.email).toBe(email);
    // Both devices are registered with sealed names that open with the account key.
    expect(status.devices).toHaveLength(2);
    expect(status.devices.find((d) => d.current)?.id).toBe(status.deviceId);
    for (const d of status.devices) expect(d.name).toMatch(/^coffer CLI on /);
  });

  it('puts and gets files of 0 bytes, 1 byte and several chunks, and of zeros (chunks of the maximum size), across devices', async () => {
    const sizes: Array<[string, number]> = [
      ['empty-Ωmega.bin', 0], ['one-byte-Ωmega.bin', 1], ['several-chunks-Ωmega.bin', 5 * 1024 * 1024 + 12345],
      ['zeros-Ωmega.bin', 9 * 1024 * 1024 + 5], // no cut point in zeros: two 4 MiB chunks, whose records are the largest
    ];
    await A(['mkdir', '/files-Ωmega']).then(ok);
    secretNames.push('files-Ωmega', ...sizes.map(([n]) => n));
    for (const [name, size] of sizes) {
      const data = name.startsWith('zeros') ? Buffer.alloc(size) : seededBytes(name, size);
      const local = await localFile(name, data);
      const put = json<{ files: Array<{ chunks: number; size: number }> }>(await A(['put', '--json', local, '/files-Ωmega/']));
      expect(put.files[0]!.size).toBe(size);
      if (size > 4 * 1024 * 1024) expect(put.files[0]!.chunks).toBeGreaterThan(1);
      if (name.startsWith('zeros')) expect(put.files[0]!.chunks).toBe(3);
      const out = join(work, `got-${name}`);
      ok(await B(['get', '--quiet', `/files-Ωmega/${name}`, out]));
      expect((await readFile(out)).equals(data)).toBe(true);
      expect(existsSync(`${out}.coffer-partial`)).toBe(false);
    }
    const ls = json<{ items: Array<{ name: string; size: number; kind: string }> }>(await B(['ls', '--json', '/files-Ωmega']));
    expect(ls.items.map((i) => [i.name, i.size])).toEqual(sizes.sort((a, b) => (a[0] < b[0] ? -1 : 1)));
  });

  it('sends almost nothing when the same data is put again', async () => {
    const name = 'dedup-Ωmega.bin';
    const local = await localFile(name, seededBytes(name, 3 * 1024 * 1024));
    secretNames.push(name);
    const first = json<{ bytesSent: number; chunksSent: number; chunks: number }>(await A(['put', '--json', local, `/${name}`]));
    expect(first.chunksSent).toBe(first.chunks);
    const again = json<{ bytesSent: number; chunksSent: number; files: Array<{ unchanged?: boolean; version: number }> }>(
      await B(['put', '--json', local, `/${name}`]));
    expect(again.chunksSent).toBe(0);
    expect(again.bytesSent).toBe(0);
    // The same bytes make no new version (daily re-puts would push real history out of retention).
    expect(again.files[0]).toMatchObject({ unchanged: true, version: 1 });
    expect(json<{ versions: unknown[] }>(await A(['versions', '--json', `/${name}`])).versions.length).toBe(1);
    // One changed byte does.
    const edited = seededBytes(name, 3 * 1024 * 1024);
    edited[1_000_000] = edited[1_000_000]! ^ 1;
    await writeFile(local, edited);
    const third = json<{ files: Array<{ unchanged?: boolean; version: number }> }>(await B(['put', '--json', local, `/${name}`]));
    expect(third.files[0]).toMatchObject({ version: 2 });
    expect(third.files[0]!.unchanged).toBeUndefined();
    expect(json<{ versions: unknown[] }>(await A(['versions', '--json', `/${name}`])).versions.length).toBe(2);
  });

  it('sends new data without asking the server first, and asks again once the data is familiar', async () => {
    const MiB = 1024 * 1024;
    const checks = async () => {
      const text = await (await fetch(`${backend.server.url}/metrics`)).text();
      return Number(/coffer_http_requests_total\{method="POST",route="\/api\/chunks\/check",status="200"\} (\d+)/.exec(text)?.[1] ?? 0);
    };
    const name = 'fresh-Ωmega.bin';
    const fresh = seededBytes(name, 40 * MiB);
    const local = await localFile(name, fresh);
    secretNames.push(name);
    let before = await checks();
    const first = json<{ chunks: number; chunksSent: number }>(await A(['put', '--json', local, `/${name}`]));
    expect(first.chunks).toBeGreaterThan(4 * 8); // more than four batches of eight
    expect(first.chunksSent).toBe(first.chunks);
    // Two checks find every chunk missing; the other batches go unchecked.
    expect((await checks()) - before).toBe(2);

    // 16 MiB of new bytes, then the file above: once the batches sent unchecked come back as held,
    // checks resume and the rest of the familiar part is not sent.
    const name2 = 'familiar-Ωmega.bin';
    const local2 = await localFile(name2, Buffer.concat([seededBytes(name2, 16 * MiB), fresh]));
    secretNames.push(name2);
    before = await checks();
    const second = json<{ chunks: number; chunksSent: number; bytesSent: number }>(await A(['put', '--json', local2, `/${name2}`]));
    expect((await checks()) - before).toBeGreaterThan(2);
    expect(second.bytesSent).toBeLessThan(36 * MiB);
    const out = join(work, 'got-familiar');
    ok(await B(['get', '--quiet', `/${name2}`, out]));
    expect((await readFile(out)).equals(await readFile(local2))).toBe(true);
  });

  it('round-trips nested folders with unicode names', async () => {
    const root = join(work, 'Ünïcødé-tree');
    const files: Record<string, Buffer> = {
      'naïve café.txt': Buffer.from('crème brûlée at the café, confidential-' + email),
      '子フォルダ/日本語のファイル.md': Buffer.from('# 秘密の内容 ' + 'x'.repeat(100)),
      '子フォルダ/deeper 🚀/emoji 🚀 file.bin': seededBytes('emoji', 300_000),
      'empty-dir-Ωmega/.keep': Buffer.alloc(0),
    };
    secretNames.push('Ünïcødé-tree', 'naïve café.txt', '子フォルダ', '日本語のファイル.md', 'deeper 🚀', 'emoji 🚀 file.bin');
    for (const [rel, data] of Object.entries(files)) {
      await mkdir(join(root, rel, '..'), { recursive: true });
      await writeFile(join(root, rel), data);
      if (data.length >= 16) secretContents.push(data.subarray(0, 16));
    }
    ok(await A(['put', '--quiet', root]));
    const ls = json<{ items: Array<{ name: string; kind: string }> }>(await B(['ls', '--json', '/Ünïcødé-tree/子フォルダ']));
    expect(ls.items).toEqual(expect.arrayContaining([
      expect.objectContaining({ name: 'deeper 🚀', kind: 'folder' }),
      expect.objectContaining({ name: '日本語のファイル.md', kind: 'file' }),
    ]));
    const dest = join(work, 'tree-copy');
    ok(await B(['get', '--quiet', '/Ünïcødé-tree', dest]));
    for (const [rel, data] of Object.entries(files)) expect((await readFile(join(dest, rel))).equals(data)).toBe(true);
  });

  it('puts a folder of many files, several at a time and a large one alone, and reports each', async () => {
    const root = join(work, 'many-Ωmega');
    const files: Record<string, Buffer> = {
      ...Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`small-${i}.txt`, seededBytes(`small-${i}`, 100 + i * 997)])),
      'sub/large.bin': seededBytes('large', 5 * 1024 * 1024 + 3),
    };
    secretNames.push('many-Ωmega');
    for (const [rel, data] of Object.entries(files)) {
      await mkdir(join(root, rel, '..'), { recursive: true });
      await writeFile(join(root, rel), data);
      secretContents.push(data.subarray(0, 16));
    }
    const put = json<{ files: Array<{ path: string; size: number }> }>(await A(['put', '--json', root]));
    expect(put.files.map((f) => f.path)).toEqual(Object.keys(files).map((rel) => `/many-Ωmega/${rel}`).sort());
    const dest = join(work, 'many-copy');
    ok(await B(['get', '--quiet', '/many-Ωmega', dest]));
    for (const [rel, data] of Object.entries(files)) expect((await readFile(join(dest, rel))).equals(data)).toBe(true);

    // Run again into the same place (as after an interrupted get): the files already there are
    // checked against their chunk ids instead of downloaded again; a changed one is replaced.
    const large = await readFile(join(dest, 'sub/large.bin'));
    large[4_000_000]! ^= 0x01;
    await writeFile(join(dest, 'sub/large.bin'), large);
    const rerun = await B(['get', '--json', '/many-Ωmega/', dest]);
    expect(json<{ files: number; unchanged: number }>(rerun)).toMatchObject({ files: 10, unchanged: 9 });
    for (const [rel, data] of Object.entries(files)) expect((await readFile(join(dest, rel))).equals(data)).toBe(true);
    expect((await B(['get', '/many-Ωmega/sub/large.bin', join(dest, 'sub')])).stdout).toContain('already there (unchanged)');
  });

  it('moves, renames, trashes and restores from the trash', async () => {
    const local = await localFile('movable.txt', Buffer.from('movable contents that are secret ' + 'm'.repeat(64)));
    secretNames.push('Verschiebbar-Ωmega', 'renamed-Ωmega.txt');
    ok(await A(['mkdir', '/Verschiebbar-Ωmega']));
    ok(await A(['put', '--quiet', local, '/movable.txt']));
    ok(await A(['mv', '/movable.txt', '/Verschiebbar-Ωmega/']));
    expect((await A(['ls', '/movable.txt'])).code).toBe(EXIT.ERROR);
    ok(await A(['mv', '/Verschiebbar-Ωmega/movable.txt', '/Verschiebbar-Ωmega/renamed-Ωmega.txt']));
    const out = join(work, 'moved.txt');
    ok(await B(['get', '/Verschiebbar-Ωmega/renamed-Ωmega.txt', out]));
    expect(await readFile(out, 'utf8')).toContain('movable contents');

    ok(await A(['rm', '/Verschiebbar-Ωmega/renamed-Ωmega.txt']));
    expect(json<{ items: unknown[] }>(await A(['ls', '--json', '/Verschiebbar-Ωmega'])).items).toEqual([]);
    const trash = json<{ items: Array<{ path: string }> }>(await B(['trash', '--json']));
    expect(trash.items.map((i) => i.path)).toContain('/Verschiebbar-Ωmega/renamed-Ωmega.txt');
    ok(await B(['restore-trash', '/Verschiebbar-Ωmega/renamed-Ωmega.txt']));
    expect(json<{ items: Array<{ name: string }> }>(await A(['ls', '--json', '/Verschiebbar-Ωmega'])).items.map((i) => i.name)).toEqual(['renamed-Ωmega.txt']);
    expect(json<{ items: unknown[] }>(await A(['trash', '--json'])).items).toEqual([]);

    // A file whose folder went to the trash after it comes back only with the folder.
    ok(await A(['rm', '/Verschiebbar-Ωmega/renamed-Ωmega.txt']));
    ok(await A(['rm', '/Verschiebbar-Ωmega']));
    const early = await A(['restore-trash', '/Verschiebbar-Ωmega/renamed-Ωmega.txt']);
    expect(early.code).toBe(EXIT.ERROR);
    expect(early.stderr).toContain('/Verschiebbar-Ωmega is in the trash too: restore it first');
    ok(await A(['restore-trash', '/Verschiebbar-Ωmega']));
    ok(await A(['restore-trash', '/Verschiebbar-Ωmega/renamed-Ωmega.txt']));
    expect(json<{ items: unknown[] }>(await A(['trash', '--json'])).items).toEqual([]);
  });

  it('lists versions and restores an old one as a new version', async () => {
    const name = 'versioned-Ωmega.txt';
    secretNames.push(name);
    const v1 = Buffer.from('version one of the versioned secret file ' + '1'.repeat(80));
    const v2 = Buffer.from('version two of the versioned secret file ' + '2'.repeat(120));
    ok(await A(['put', await localFile('v1.txt', v1), `/${name}`]));
    ok(await A(['put', await localFile('v2.txt', v2), `/${name}`]));
    const list = json<{ current: number; versions: Array<{ version: number }> }>(await B(['versions', '--json', `/${name}`]));
    expect(list.current).toBe(2);
    expect(list.versions.map((v) => v.version)).toEqual([2, 1]);
    // Each names the device that made it (A's), as A registered it.
    expect((list.versions as Array<{ device?: string }>).map((v) => v.device)).toEqual(Array(2).fill(`coffer CLI on ${hostname().split('.')[0] || 'cli'}`));
    expect((await B(['restore', `/${name}`])).code).toBe(EXIT.USAGE);
    const none = await B(['restore', '--json', `/${name}`, '--version', '9']);
    expect(none.code).toBe(EXIT.ERROR);
    expect(JSON.parse(none.stdout)).toMatchObject({ code: 'VERSION_NOT_FOUND' });
    expect(none.stderr).toContain(`has no version 9 (any more); \`coffer versions /${name}\` lists`);
    const restored = json<{ version: number }>(await B(['restore', '--json', `/${name}`, '--version', '1']));
    expect(restored.version).toBe(3);
    const out = join(work, 'restored.txt');
    ok(await A(['get', `/${name}`, out]));
    expect((await readFile(out)).equals(v1)).toBe(true);
  });

  it('shares a file without a password; a fresh COFFER_HOME fetches it', async () => {
    const name = 'shared-Ωmega.bin';
    secretNames.push(name);
    const data = seededBytes(name, 2 * 1024 * 1024 + 7);
    ok(await A(['put', '--quiet', await localFile(name, data), `/${name}`]));
    const share = json<{ url: string; linkId: string }>(await A(['share', '--json', `/${name}`]));
    expect(share.url).toMatch(new RegExp(`^${backend.server.url}/s/[0-9a-f]{32}#[A-Za-z0-9_-]+$`));
    const fresh = await tmp('fetcher');
    const out = join(fresh, 'out.bin');
    ok(await coffer(['fetch', '--quiet', '-o', out], { COFFER_HOME: join(fresh, 'home'), COFFER_LINK: share.url }));
    expect((await readFile(out)).equals(data)).toBe(true);
    // The link and its secret work given as an argument too; the output defaults to ./NAME.
    ok(await coffer(['fetch', '--quiet', share.url], { COFFER_HOME: join(fresh, 'home') }, { cwd: fresh }));
    expect((await readFile(join(fresh, name))).equals(data)).toBe(true);
    const links = json<{ links: Array<{ linkId: string; path: string; downloads: number }> }>(await A(['links', '--json']));
    expect(links.links.find((l) => l.linkId === share.linkId)).toMatchObject({ path: `/${name}`, downloads: 2 });
  });

  it('shares a folder with a password; a wrong password exits 3', async () => {
    const share = json<{ url: string }>(await A(['share', '--json', '--password', '/Ünïcødé-tree'], { COFFER_LINK_PASSWORD: linkPassword }));
    const fresh = await tmp('fetcher-pw');
    const noPw = await coffer(['fetch', '-o', join(fresh, 'x')], { COFFER_HOME: join(fresh, 'home'), COFFER_LINK: share.url });
    expect(noPw.code).toBe(EXIT.USAGE);
    expect(noPw.stderr).toContain('COFFER_LINK_PASSWORD');
    const wrong = await coffer(['fetch', '-o', join(fresh, 'x')], { COFFER_HOME: join(fresh, 'home'), COFFER_LINK: share.url, COFFER_LINK_PASSWORD: 'not it' });
    expect(wrong.code).toBe(EXIT.AUTH);
    expect(existsSync(join(fresh, 'x'))).toBe(false);
    ok(await coffer(['fetch', '--quiet', '-o', join(fresh, 'tree')], { COFFER_HOME: join(fresh, 'home'), COFFER_LINK: share.url, COFFER_LINK_PASSWORD: linkPassword }));
    expect(await readFile(join(fresh, 'tree', '子フォルダ', '日本語のファイル.md'), 'utf8')).toContain('秘密の内容');
    expect((await readdir(join(fresh, 'tree'))).sort()).toEqual(['empty-dir-Ωmega', 'naïve café.txt', '子フォルダ'].sort());
  });

  it('refuses expired, exhausted and revoked links', async () => {
    const fresh = await tmp('fetcher-limits');
    const fetchLink = (url: string, out: string) => coffer(['fetch', '--quiet', '-o', join(fresh, out)], { COFFER_HOME: join(fresh, 'home'), COFFER_LINK: url });

    const once = json<{ url: string }>(await A(['share', '--json', '--max-downloads', '1', '/versioned-Ωmega.txt']));
    ok(await fetchLink(once.url, 'once-1'));
    const twice = await fetchLink(once.url, 'once-2');
    expect(twice.code).toBe(EXIT.ERROR);
    expect(twice.stderr).toMatch(/download limit/);

    const revoked = json<{ url: string; linkId: string }>(await A(['share', '--json', '/versioned-Ωmega.txt']));
    ok(await A(['unshare', revoked.linkId]));
    const unknown = await A(['unshare', '0'.repeat(32)]);
    expect(unknown.code).toBe(EXIT.ERROR);
    expect(unknown.stderr).toContain(`you have no link ${'0'.repeat(32)} (\`coffer links\` lists yours)`);
    const r = await fetchLink(revoked.url, 'revoked');
    expect(r.code).toBe(EXIT.ERROR);
    expect(r.stderr).toMatch(/revoked/);

    const expiring = json<{ url: string; expiresAt: string }>(await A(['share', '--json', '--expires', '2s', '/versioned-Ωmega.txt']));
    while (Date.now() <= Date.parse(expiring.expiresAt) + 500) await new Promise((res) => setTimeout(res, 250));
    const e = await fetchLink(expiring.url, 'expired');
    expect(e.code).toBe(EXIT.ERROR);
    expect(e.stderr).toMatch(/expired/);
    for (const out of ['once-2', 'revoked', 'expired']) expect(existsSync(join(fresh, out))).toBe(false);
  });

  it('resumes an interrupted put after the chunks it sent, and sends only what is missing', async () => {
    const name = 'resumable-Ωmega.bin';
    secretNames.push(name);
    const local = await localFile(name, seededBytes(name, 6 * 1024 * 1024));
    const cut = await A(['put', '--json', local, `/${name}`], { COFFER_DEBUG_ABORT_AFTER_CHUNKS: '2' });
    expect(cut.code).toBe(EXIT.ERROR);
    const kept = (await listFiles(join(homeA, 'uploads'))).map((f) => f.replace(/^.*\//, '')).sort();
    expect(kept).toHaveLength(2);
    expect(kept[0]!.replace(/\.chunks$/, '')).toBe(kept[1]!.replace(/\.json$/, ''));
    // The journal names the first chunks in order; the re-run reads the file only after them.
    const journal = (await readFile(join(homeA, 'uploads', kept[0]!), 'utf8')).trim().split('\n').slice(1);
    expect(journal.length).toBeGreaterThanOrEqual(2);
    const journaled = journal.reduce((sum, line) => sum + Number(line.split(' ')[2]), 0);
    const res = json<{ files: Array<{ resumed: boolean; resumedFrom: number; chunks: number; chunksSent: number }> }>(await A(['put', '--json', local, `/${name}`]));
    expect(res.files[0]!.resumed).toBe(true);
    expect(res.files[0]!.resumedFrom).toBe(journaled);
    expect(res.files[0]!.chunksSent).toBeLessThan(res.files[0]!.chunks - journal.length + 1);
    expect(await listFiles(join(homeA, 'uploads'))).toEqual([]);
    const out = join(work, 'resumed.bin');
    ok(await B(['get', `/${name}`, out]));
    expect((await readFile(out)).equals(await readFile(local))).toBe(true);
  });

  it('sends the whole file again when its journal names a chunk the upload lacks', async () => {
    const name = 'journal-Ωmega.bin';
    secretNames.push(name);
    const local = await localFile(name, seededBytes(name, 5 * 1024 * 1024));
    expect((await A(['put', '--json', local, `/${name}`], { COFFER_DEBUG_ABORT_AFTER_CHUNKS: '2' })).code).toBe(EXIT.ERROR);
    const journalFile = (await listFiles(join(homeA, 'uploads'))).find((f) => f.endsWith('.chunks'))!;
    const [header, first, ...rest] = (await readFile(journalFile, 'utf8')).split('\n');
    // A well-formed first line whose chunk the server never got: only the commit can notice.
    const [, key, length] = first!.split(' ');
    const uploadId = header!.split(' ').pop()!;
    const stranger = { chunkId: 'f'.repeat(64), chunkKey: fromBase64Url(key!), plainLength: Number(length), storedLength: storedLengthOf(Number(length)) };
    await writeFile(journalFile, [header, journalLine(uploadId, 0, stranger).trimEnd(), ...rest].join('\n'));

    const res = json<{ files: Array<{ resumed: boolean; resumedFrom: number }> }>(await A(['put', '--json', local, `/${name}`]));
    expect(res.files[0]!.resumedFrom).toBe(0); // the fresh upload after the refused commit
    expect(await listFiles(join(homeA, 'uploads'))).toEqual([]);
    const out = join(work, 'journal.bin');
    ok(await B(['get', `/${name}`, out]));
    expect((await readFile(out)).equals(await readFile(local))).toBe(true);
  });

  it('resumes an interrupted get from its verified chunks and renames only when complete', async () => {
    const name = 'resumable-Ωmega.bin';
    const out = join(work, 'resumed-get.bin');
    const cut = await B(['get', '--json', `/${name}`, out], { COFFER_DEBUG_ABORT_AFTER_CHUNKS: '2' });
    expect(cut.code).toBe(EXIT.ERROR);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(`${out}.coffer-partial`)).toBe(true);
    const res = json<{ resumed: boolean; bytes: number }>(await B(['get', '--json', `/${name}`, out]));
    expect(res.resumed).toBe(true);
    expect((await readFile(out)).equals(await readFile(join(work, name)))).toBe(true);
    expect(existsSync(`${out}.coffer-partial`)).toBe(false);
    expect(existsSync(`${out}.coffer-partial.json`)).toBe(false);

    // A partial file changed between the runs is checked again: the run goes on from the first
    // chunk that no longer matches its id, and the file comes out right.
    const again = join(work, 'resumed-get-2.bin');
    expect((await B(['get', '--json', `/${name}`, again], { COFFER_DEBUG_ABORT_AFTER_CHUNKS: '2' })).code).toBe(EXIT.ERROR);
    const partial = await readFile(`${again}.coffer-partial`);
    partial[partial.length - 10]! ^= 0x01; // in the second chunk
    await writeFile(`${again}.coffer-partial`, partial);
    const redone = await B(['get', '--json', `/${name}`, again]);
    ok(redone);
    expect(redone.stderr).toContain('changed since the last run');
    expect(json<{ resumed: boolean }>(redone).resumed).toBe(true); // the first chunk was kept
    expect((await readFile(again)).equals(await readFile(join(work, name)))).toBe(true);
  });

  it('checks a fetch\'s partial file before resuming it, and leaves a file already there alone', async () => {
    const name = 'resumable-Ωmega.bin';
    const original = await readFile(join(work, name));
    const share = json<{ url: string }>(await A(['share', '--json', `/${name}`]));
    const fresh = await tmp('fetcher-resume');
    const fetchTo = (out: string, extra: Record<string, string> = {}) =>
      coffer(['fetch', '--json', '-o', out], { COFFER_HOME: join(fresh, 'home'), COFFER_LINK: share.url, ...extra });
    const chunkGets = async () => {
      const text = await (await fetch(`${backend.server.url}/metrics`)).text();
      return [...text.matchAll(/coffer_http_requests_total\{method="GET",route="\/api\/public\/links\/:linkId\/chunks\/:chunkId",status="\d+"\} (\d+)/g)]
        .reduce((sum, m) => sum + Number(m[1]), 0);
    };
    type Fetched = { files: number; resumed: boolean; unchanged: number };

    // A share link's chunk ids cannot be computed without the sharer's key: what the first run
    // wrote is checked against what it recorded, and the run goes on from the first changed chunk.
    const out = join(fresh, 'x.bin');
    expect((await fetchTo(out, { COFFER_DEBUG_ABORT_AFTER_CHUNKS: '2' })).code).toBe(EXIT.ERROR);
    const partial = await readFile(`${out}.coffer-partial`);
    partial[partial.length - 10]! ^= 0x01; // in the second chunk
    await writeFile(`${out}.coffer-partial`, partial);
    const redone = ok(await fetchTo(out));
    expect((await readFile(out)).equals(original)).toBe(true);
    expect(redone.stderr).toContain('changed since the last run');
    expect(json<Fetched>(redone)).toMatchObject({ files: 1, resumed: true, unchanged: 0 }); // the first chunk was kept
    expect(existsSync(`${out}.coffer-partial`)).toBe(false);
    // The finished file's tags are kept in COFFER_HOME/fetched, privately (format §4.5).
    const fetchedDir = join(fresh, 'home', 'fetched');
    const record = join(fetchedDir, `${createHash('sha256').update(out).digest('hex').slice(0, 32)}.json`);
    expect(await fileMode(fetchedDir)).toBe(0o700);
    expect(await fileMode(record)).toBe(0o600);

    // The folder keeps the 1,000 most recently used records of other paths, and those a fetch uses.
    // Planted: 1,000 used a day ago (links to one file: making a thousand files takes a second on
    // some machines), one two days ago, and this path's record, three days ago.
    const daysAgo = (n: number) => new Date(Date.now() - n * 24 * 3600 * 1000);
    const planted = Array.from({ length: 1000 }, (_, i) => join(fetchedDir, `c${i.toString(16).padStart(31, '0')}.json`));
    await writeFile(planted[0]!, '{"tags":[]}', { mode: 0o600 });
    await Promise.all(planted.slice(1).map((p) => link(planted[0]!, p)));
    await utimes(planted[0]!, daysAgo(1), daysAgo(1));
    const leastRecent = join(fetchedDir, `${'b'.repeat(32)}.json`);
    await writeFile(leastRecent, '{"tags":[]}', { mode: 0o600 });
    await utimes(leastRecent, daysAgo(2), daysAgo(2));
    await utimes(record, daysAgo(3), daysAgo(3));

    // Run again, the file is already there: nothing is downloaded.
    const before = await chunkGets();
    expect(before).toBeGreaterThan(0);
    expect(json<Fetched>(await fetchTo(out))).toMatchObject({ files: 1, resumed: false, unchanged: 1 });
    expect(await chunkGets()).toBe(before);
    expect(existsSync(leastRecent)).toBe(false);
    expect(existsSync(record)).toBe(true);
    expect(await readdir(fetchedDir)).toHaveLength(1001);

    // Changed since, it is downloaded again; its record goes at once, not only once that is done.
    const changed = await readFile(out);
    changed[changed.length >> 1]! ^= 0x01;
    await writeFile(out, changed);
    expect((await fetchTo(out, { COFFER_DEBUG_ABORT_AFTER_CHUNKS: '1' })).code).toBe(EXIT.ERROR);
    expect(existsSync(record)).toBe(false);
    expect(json<Fetched>(await fetchTo(out))).toMatchObject({ files: 1, unchanged: 0 });
    expect(await fileMode(record)).toBe(0o600);
    expect((await readFile(out)).equals(original)).toBe(true);
    expect(await chunkGets()).toBeGreaterThan(before);
  });

  it('turns a commit refused with VERSION_CONFLICT into a conflict copy', async () => {
    const name = 'contested-Ωmega.txt';
    secretNames.push('contested-Ωmega');
    ok(await A(['put', await localFile('contested-v1.txt', Buffer.from('first version '.repeat(10))), `/${name}`]));
    const mine = await localFile('contested-mine.txt', seededBytes('mine', 5 * 1024 * 1024));
    // A starts a put based on version 1 and is interrupted; meanwhile B commits version 2.
    expect((await A(['put', mine, `/${name}`], { COFFER_DEBUG_ABORT_AFTER_CHUNKS: '1' })).code).toBe(EXIT.ERROR);
    ok(await B(['put', await localFile('contested-theirs.txt', Buffer.from('their version '.repeat(10))), `/${name}`]));
    const res = json<{ files: Array<{ conflictCopy?: string }> }>(await A(['put', '--json', await join(work, 'contested-mine.txt'), `/${name}`]));
    const date = new Date().toISOString().slice(0, 10);
    const host = hostname().split('.')[0];
    expect(res.files[0]!.conflictCopy).toBe(`/contested-Ωmega (conflict from ${host} ${date}).txt`);
    const out = join(work, 'conflict.txt');
    ok(await B(['get', res.files[0]!.conflictCopy!, out]));
    expect((await readFile(out)).equals(await readFile(mine))).toBe(true);
    const theirs = join(work, 'theirs.txt');
    ok(await B(['get', `/${name}`, theirs]));
    expect(await readFile(theirs, 'utf8')).toContain('their version');
  });

  it('exits 4 on a flipped byte in a stored chunk, for get and fetch, leaving no file behind', async () => {
    const name = 'tampered-Ωmega.bin';
    secretNames.push(name);
    const before = new Set((await Promise.all(backend.blobDirs.map(listFiles))).flat());
    ok(await A(['put', '--quiet', await localFile(name, seededBytes(name, 1_500_000)), `/${name}`]));
    const added = (await Promise.all(backend.blobDirs.map(listFiles))).flat()
      .filter((f) => !before.has(f) && !f.endsWith('.json') && !f.endsWith('.tmp'));
    expect(added.length).toBeGreaterThan(0);
    const share = json<{ url: string }>(await A(['share', '--json', `/${name}`]));
    for (const f of added) {
      const blob = await readFile(f);
      blob[Math.floor(blob.length / 2)]! ^= 0x01;
      await writeFile(f, blob);
    }
    const out = join(work, 'tampered.bin');
    const got = await B(['get', `/${name}`, out]);
    expect(got.code).toBe(EXIT.INTEGRITY);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(`${out}.coffer-partial`)).toBe(false);
    const fresh = await tmp('fetcher-tampered');
    const fetched = await coffer(['fetch', '-o', join(fresh, 'x.bin')], { COFFER_HOME: join(fresh, 'home'), COFFER_LINK: share.url });
    expect(fetched.code).toBe(EXIT.INTEGRITY);
    expect(existsSync(join(fresh, 'x.bin'))).toBe(false);
  });

  it('logs out and deletes the keys it kept; logs in again with the recovery code; one session ends another', async () => {
    const before = json<{ devices: unknown[] }>(await A(['status', '--json'])).devices.length;
    ok(await B(['logout']));
    expect(json<{ devices: unknown[] }>(await A(['status', '--json'])).devices.length).toBe(before - 1);
    expect((await listFiles(homeB)).length).toBe(0);
    expect((await B(['ls'])).code).toBe(EXIT.AUTH);
    const login = { COFFER_SERVER: backend.server.url, COFFER_EMAIL: email };
    expect((await B(['login', '--recovery'], { ...login, COFFER_RECOVERY_CODE: 'AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA' })).code).toBe(EXIT.AUTH);
    ok(await B(['login', '--recovery'], { ...login, COFFER_RECOVERY_CODE: recoveryCode.toLowerCase() }));
    const ls = json<{ items: Array<{ name: string }> }>(await B(['ls', '--json', '/Verschiebbar-Ωmega']));
    expect(ls.items.map((i) => i.name)).toEqual(['renamed-Ωmega.txt']);

    // Logging in over a kept session ends that one on the server, and its device with it.
    type Sessions = { sessions: Array<{ id: string; current: boolean; endsAt: string }> };
    const replaced = json<Sessions>(await B(['sessions', '--json'])).sessions.find((x) => x.current)!;
    const devices = json<{ devices: unknown[] }>(await A(['status', '--json'])).devices.length;
    const again = await B(['login'], { ...login, COFFER_PASSPHRASE: passphrase });
    ok(again);
    expect(again.stderr).not.toContain('could not end');
    expect(json<Sessions>(await A(['sessions', '--json'])).sessions.map((x) => x.id)).not.toContain(replaced.id);
    expect(json<{ devices: unknown[] }>(await A(['status', '--json'])).devices.length).toBe(devices);

    // A ends B's session: B is told to log in again.
    const own = json<Sessions>(await B(['sessions', '--json'])).sessions.find((x) => x.current)!;
    expect(Date.parse(own.endsAt)).toBeGreaterThan(Date.now());
    const seen = json<{ sessions: Array<{ id: string; current: boolean }> }>(await A(['sessions', '--json'])).sessions;
    expect(seen.find((x) => x.id === own.id)?.current).toBe(false);
    const mine = seen.find((x) => x.current)!;
    expect((await A(['end-session', mine.id])).code).toBe(EXIT.USAGE); // its own: that is `logout`
    ok(await A(['end-session', own.id]));
    const gone = await A(['end-session', own.id]);
    expect(gone.code).toBe(EXIT.ERROR);
    expect(gone.stderr).toContain(`the account has no session ${own.id} (\`coffer sessions\` lists them`);
    const ended = await B(['ls']);
    expect(ended.code).toBe(EXIT.AUTH);
    expect(ended.stderr).toContain('session has ended');
    expect(ended.stderr).toContain('coffer login');
    ok(await B(['logout']));
  });

  it('leaves none of the names, contents or secrets in the database or the blob store', async () => {
    const blobs = await readAllBlobs(backend);
    const db = await backend.dumpDatabase();
    // Positive control: the e-mail is stored in clear by design, so the dump must show it.
    expect(db.indexOf(Buffer.from(email)), 'the database dump misses the account row').toBeGreaterThan(-1);
    expect(blobs.length).toBeGreaterThan(0);
    const needles: Array<[string, Buffer]> = [
      ...secretNames.map((n): [string, Buffer] => [`name ${n}`, Buffer.from(n.normalize('NFC'))]),
      ...secretContents.map((c, i): [string, Buffer] => [`content #${i}`, c]),
      ['passphrase', Buffer.from(passphrase)],
      ['link password', Buffer.from(linkPassword)],
      ['recovery code', Buffer.from(recoveryCode)],
    ];
    for (const [what, needle] of needles) {
      expect(db.indexOf(needle), `${what} found in the database`).toBe(-1);
      expect(blobs.indexOf(needle), `${what} found in the blob store`).toBe(-1);
    }
  });

  void stat;
}
