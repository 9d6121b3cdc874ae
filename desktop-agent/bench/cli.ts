// Benchmark of the `coffer` CLI against a real server on loopback: put and get of a generated file
// (1 GiB by default; COFFER_BENCH_MIB to change), bytes sent on a re-put after a 1 % edit, peak RSS
// of the CLI during the put, and `restic backup` of the same file for comparison when restic is
// installed (or installable with apt-get).
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, open, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startServer } from '../../tests/support/server.ts';
import { seededBytes, sha256File, writeSeededFile } from '../test/helpers.ts';

const BIN = resolve(import.meta.dirname, '../bin/coffer.mjs');
const MiB = 1024 * 1024;

interface Timed {
  code: number;
  seconds: number;
  stdout: string;
  stderr: string;
  maxRssKiB: number | null;
  cpuSeconds: number | null; // user + system
}

/** Runs a command under /usr/bin/time -v (when present) and returns its wall time and peak RSS. */
function timed(cmd: string, args: string[], env: Record<string, string>, cwd?: string): Promise<Timed> {
  const useTime = spawnSync('/usr/bin/time', ['-v', 'true']).status === 0;
  const [file, argv] = useTime ? ['/usr/bin/time', ['-v', cmd, ...args]] : [cmd, args];
  return new Promise((res, rej) => {
    const started = process.hrtime.bigint();
    const child = spawn(file, argv, { env: { ...process.env, ...env }, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', rej);
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
      const user = /User time \(seconds\): ([\d.]+)/.exec(stderr);
      const sys = /System time \(seconds\): ([\d.]+)/.exec(stderr);
      const cpuSeconds = user && sys ? Number(user[1]) + Number(sys[1]) : null;
      res({ code: code ?? -1, seconds, stdout, stderr, maxRssKiB: m ? Number(m[1]) : null, cpuSeconds });
    });
  });
}

function ensureRestic(): string | null {
  const which = spawnSync('sh', ['-c', 'command -v restic']);
  if (which.status === 0) return which.stdout.toString().trim();
  const install = spawnSync('sh', ['-c', 'apt-get install -y restic || (apt-get update && apt-get install -y restic)'], { stdio: 'ignore', timeout: 300_000 });
  if (install.status !== 0) return null;
  const again = spawnSync('sh', ['-c', 'command -v restic']);
  return again.status === 0 ? again.stdout.toString().trim() : null;
}

/**
 * A TCP proxy on loopback to `url` that holds every piece of data for `oneWayMs` in each direction
 * (in order), so a request and its answer take a round trip of twice that.
 */
async function delayProxy(url: string, oneWayMs: number): Promise<{ url: string; close: () => Promise<void> }> {
  const target = new URL(url);
  const sockets = new Set<Socket>();
  const forward = (from: Socket, to: Socket) => {
    const queue: { due: number; data: Buffer }[] = [];
    let timer: NodeJS.Timeout | null = null;
    const flush = () => {
      timer = null;
      const now = performance.now();
      while (queue.length > 0 && queue[0]!.due <= now) to.write(queue.shift()!.data);
      if (queue.length > 0) timer = setTimeout(flush, queue[0]!.due - now);
    };
    from.on('data', (data: Buffer) => {
      queue.push({ due: performance.now() + oneWayMs, data });
      timer ??= setTimeout(flush, oneWayMs);
    });
    from.on('end', () => setTimeout(() => to.end(), oneWayMs + 1));
    from.on('error', () => to.destroy());
    from.on('close', () => sockets.delete(from));
    sockets.add(from);
  };
  const proxy = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    forward(client, upstream);
    forward(upstream, client);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => proxy.close(() => r()));
    },
  };
}

const SMALL_FILES = 300;

export async function runCliBench(): Promise<Record<string, number | string>> {
  const sizeMiB = Number(process.env.COFFER_BENCH_MIB ?? 1024);
  const bytes = sizeMiB * MiB;
  const work = await mkdtemp(join(tmpdir(), 'coffer-cli-bench-'));
  // Three files of the chosen size are stored: more than the default quota of 10 GiB at 4 GiB.
  const server = await startServer({ COFFER_DATA_DIR: join(work, 'server'), COFFER_QUOTA_BYTES: String(2 ** 40) });
  const figures: Record<string, number | string> = { 'file size (MiB)': sizeMiB };
  try {
    const env = { COFFER_HOME: join(work, 'home'), COFFER_SERVER: server.url, COFFER_EMAIL: 'bench@example.test', COFFER_PASSPHRASE: 'benchmark passphrase' };
    const run = (args: string[]) => timed(process.execPath, [BIN, ...args], env, work);
    const must = (t: Timed, what: string) => {
      if (t.code !== 0) throw new Error(`${what} exited ${t.code}: ${t.stderr.slice(-2000)}`);
      return t;
    };
    must(await run(['signup', '--quiet']), 'signup');

    const file = join(work, 'bench.bin');
    await writeSeededFile(file, 'coffer-cli-bench', bytes);

    // CPU time of the CLI and of the server (both on this machine's cores), per `unit` moved, in
    // seconds (or milliseconds: `ms`).
    const cpuFigures = async (what: string, step: () => Promise<Timed>, unit = 'GiB', amount = bytes / 2 ** 30, ms = false): Promise<Timed> => {
      const before = server.cpuSeconds();
      const t = await step();
      const after = server.cpuSeconds();
      const [label, scale] = ms ? ['CPU-ms', 1000] : ['CPU-s', 1];
      if (t.cpuSeconds !== null) figures[`${what}: CLI ${label} per ${unit}`] = (t.cpuSeconds * scale) / amount;
      if (before !== null && after !== null) figures[`${what}: server ${label} per ${unit}`] = ((after - before) * scale) / amount;
      return t;
    };
    const put = must(await cpuFigures('put', () => run(['put', '--json', file, '/bench.bin'])), 'put');
    figures['coffer put (MB/s)'] = bytes / 1e6 / put.seconds;
    figures['coffer put wall time (s)'] = put.seconds;
    if (put.maxRssKiB !== null) figures['coffer put peak RSS (MiB)'] = put.maxRssKiB / 1024;
    const putJson = JSON.parse(put.stdout) as { chunks: number; bytesSent: number };
    figures['chunks'] = putJson.chunks;
    figures['stored bytes / plaintext (%)'] = (putJson.bytesSent / bytes) * 100;

    const out = join(work, 'bench.out');
    const get = must(await cpuFigures('get', () => run(['get', '--quiet', '/bench.bin', out])), 'get');
    figures['coffer get (MB/s)'] = bytes / 1e6 / get.seconds;
    if (get.maxRssKiB !== null) figures['coffer get peak RSS (MiB)'] = get.maxRssKiB / 1024;
    figures['get matches put'] = (await sha256File(out)) === (await sha256File(file)) ? 'yes' : 'NO';
    await rm(out, { force: true });

    const same = must(await run(['put', '--json', file, '/bench.bin']), 're-put unchanged');
    figures['re-put unchanged: bytes sent (% of file)'] = ((JSON.parse(same.stdout) as { bytesSent: number }).bytesSent / bytes) * 100;
    figures['re-put unchanged (s)'] = same.seconds;

    // 1 % edit: overwrite a contiguous 1 % of the file in the middle with other bytes.
    const editLen = Math.max(1, Math.floor(bytes / 100));
    const fh = await open(file, 'r+');
    const patch = seededBytes('edit', editLen);
    await fh.write(patch, 0, editLen, Math.floor(bytes / 2));
    await fh.close();
    const edited = must(await run(['put', '--json', file, '/bench.bin']), 're-put after edit');
    const editedJson = JSON.parse(edited.stdout) as { bytesSent: number; chunksSent: number; chunks: number };
    figures['re-put after 1% edit: bytes sent (% of file)'] = (editedJson.bytesSent / bytes) * 100;
    figures['re-put after 1% edit: chunks sent'] = `${editedJson.chunksSent}/${editedJson.chunks}`;
    figures['re-put after 1% edit (s)'] = edited.seconds;
    if (edited.maxRssKiB !== null) figures['re-put peak RSS (MiB)'] = edited.maxRssKiB / 1024;

    // A put interrupted halfway, run again: with its journal it reads the file only from where the
    // chunks it sent end; without (the journal removed, as before the journal existed) it reads,
    // chunks and encrypts the whole file again to find what the server lacks.
    const half = String(Math.max(1, Math.floor(putJson.chunks / 2)));
    for (const journal of [true, false]) {
      const what = journal ? 'resumed put' : 'resumed put without journal';
      const part = join(work, `${journal ? 'with' : 'without'}-journal.bin`);
      await writeSeededFile(part, `coffer-cli-bench-${what}`, bytes);
      const cut = await timed(process.execPath, [BIN, 'put', '--quiet', part, `/${what}.bin`], { ...env, COFFER_DEBUG_ABORT_AFTER_CHUNKS: half }, work);
      if (cut.code === 0) throw new Error(`${what}: the put was not interrupted`);
      if (!journal) for (const f of await readdir(join(env.COFFER_HOME, 'uploads'))) if (f.endsWith('.chunks')) await rm(join(env.COFFER_HOME, 'uploads', f));
      const again = must(await cpuFigures(what, () => run(['put', '--json', part, `/${what}.bin`])), what);
      const res = (JSON.parse(again.stdout) as { files: { resumed: boolean; resumedFrom: number }[] }).files[0]!;
      if (!res.resumed) throw new Error(`${what}: not resumed`);
      figures[`${what} after half: wall time (s)`] = again.seconds;
      figures[`${what}: file bytes not read again (%)`] = (res.resumedFrom / bytes) * 100;
      await rm(part, { force: true });
    }

    // A put to a server 50 ms away (a delaying proxy on loopback, in this process), with the
    // checks skipped for new data (the default) and with a check before every batch.
    const far = join(work, 'far.bin');
    const farBytes = Math.min(bytes, 256 * MiB);
    const proxy = await delayProxy(server.url, 25);
    try {
      for (const [what, extra] of [['', {}], [' with a check before every batch', { COFFER_DEBUG_CHECK_EVERY_BATCH: '1' }]] as const) {
        await writeSeededFile(far, `coffer-cli-bench-far${what}`, farBytes);
        const t = must(await timed(process.execPath, [BIN, 'put', '--quiet', far, `/far${what}.bin`], { ...env, ...extra, COFFER_SERVER: proxy.url }, work), `far put${what}`);
        figures[`put of ${farBytes / MiB} MiB, 50 ms round trip${what} (MB/s)`] = farBytes / 1e6 / t.seconds;
      }
    } finally {
      await proxy.close();
      await rm(far, { force: true });
    }

    const restic = ensureRestic();
    if (restic) {
      const renv = { RESTIC_REPOSITORY: join(work, 'restic-repo'), RESTIC_PASSWORD: 'benchmark passphrase' };
      must(await timed(restic, ['init'], renv), 'restic init');
      await writeSeededFile(file, 'coffer-cli-bench', bytes);
      const b = must(await timed(restic, ['backup', '--quiet', file], renv), 'restic backup');
      figures['restic backup, local repo (MB/s)'] = bytes / 1e6 / b.seconds;
      if (b.maxRssKiB !== null) figures['restic backup peak RSS (MiB)'] = b.maxRssKiB / 1024;
      const rv = spawnSync(restic, ['version']).stdout?.toString().trim();
      figures['restic version'] = rv || 'unknown';
    } else {
      figures['restic'] = 'not installed (apt-get install -y restic failed)';
    }
    figures['plaintext file size on disk (MiB)'] = (await stat(file)).size / MiB;

    // A folder of many small files: per-file costs (requests, database statements) instead of bytes.
    const folder = join(work, 'small');
    await mkdir(folder);
    for (let i = 0; i < SMALL_FILES; i++) {
      await writeFile(join(folder, `file-${i}.txt`), createHash('sha256').update(`small ${i}`).digest('hex').repeat(16 + (i % 20) * 20));
    }
    const small = must(await cpuFigures('small-file put', () => run(['put', '--quiet', folder, '/small']), 'file', SMALL_FILES, true), 'small put');
    figures[`put of a folder of ${SMALL_FILES} files of 1-21 kB (s)`] = small.seconds;
    const smallGet = must(await run(['get', '--quiet', '/small', join(work, 'small-out')]), 'small get');
    figures[`get of that folder (s)`] = smallGet.seconds;
  } finally {
    await server.stop();
    await rm(work, { recursive: true, force: true });
  }
  return figures;
}
