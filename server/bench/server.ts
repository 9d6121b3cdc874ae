// Server benchmarks: the real server process (folder blob store) on loopback, with PGlite and,
// when reachable, PostgreSQL.
//   npm run bench -- server        or        node --import tsx server/bench/server.ts
// Figures: chunk upload throughput in MB/s (10^6 bytes/s), folder listing latency in ms,
// small metadata requests per second and their latency (autocannon).
import { createHash, randomBytes } from 'node:crypto';
import autocannon from 'autocannon';
import postgres from 'postgres';
import { startServer } from '../../tests/support/server.js';

type Figures = Record<string, number | string>;

const CHUNK = 4 * 2 ** 20;
const UPLOAD_CHUNKS = 32; // 128 MiB
const UPLOAD_CONCURRENCY = 4;
const WARM_ROUNDS = 5;
// The same bytes as the CLI sends them (desktop-agent/src/transfer.ts): 1 MiB records, 8 to a
// POST /api/chunks/batch, 2 requests in flight.
const BATCH_CHUNK = 2 ** 20;
const BATCH_OF = 8;
const BATCH_CONCURRENCY = 2;
const FOLDER_ENTRIES = 10_000;

const hex = (n: number) => randomBytes(n).toString('hex');
const b64 = (n: number) => randomBytes(n).toString('base64url');

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function pool<T>(items: T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) await work(items[next++]!);
  }));
}

const PG_URL = process.env.COFFER_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A fresh PostgreSQL database for the run, or null when no server answers. */
async function benchDatabase(): Promise<{ url: string; drop: () => Promise<void> } | null> {
  const admin = postgres(PG_URL, { max: 1, connect_timeout: 3, onnotice: () => {} });
  const name = `coffer_bench_${randomBytes(4).toString('hex')}`;
  try {
    await admin.unsafe(`create database ${name}`);
  } catch {
    await admin.end({ timeout: 1 }).catch(() => {});
    return null;
  }
  await admin.end();
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const sql = postgres(PG_URL, { max: 1, onnotice: () => {} });
      await sql.unsafe(`drop database if exists ${name} with (force)`);
      await sql.end();
    },
  };
}

/** Runs the benchmark on PGlite (the default set-up), then on PostgreSQL when one is reachable. */
export async function runServerBench(): Promise<Figures> {
  const figures: Figures = { ...(await benchOne('PGlite', {})) };
  const pg = await benchDatabase();
  if (!pg) return { ...figures, 'PostgreSQL': 'skipped: not reachable' };
  try {
    return { ...figures, ...(await benchOne('PostgreSQL', { DATABASE_URL: pg.url })) };
  } finally {
    await pg.drop();
  }
}

async function benchOne(label: string, env: Record<string, string>): Promise<Figures> {
  const server = await startServer({ COFFER_QUOTA_BYTES: String(2 ** 40), LOG_LEVEL: 'error', ...env });
  const figures: Figures = {};
  try {
    const api = async (method: string, path: string, token: string | null, body?: unknown) => {
      const res = await fetch(server.url + path, {
        method,
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
      return text ? JSON.parse(text) : null;
    };
    const kdf = Buffer.alloc(26);
    kdf[0] = 1; kdf.writeUInt32BE(65536, 1); kdf.writeUInt32BE(3, 5); kdf[9] = 1;
    const { token, rootNodeId } = await api('POST', '/api/auth/signup', null, {
      email: `bench-${hex(4)}@example.test`, accountId: hex(16), kdf: kdf.toString('base64url'), loginKey: b64(32),
      recoveryLoginKey: b64(32), accountPublicKey: b64(32), slots: { passphrase: b64(62), recovery: b64(62) },
      root: { nodeId: hex(16), wrappedKey: b64(82), metadata: b64(300) }, client: 'cli',
    });
    const newNode = (parentId: string, kind: 'file' | 'folder') => api('POST', '/api/nodes', token, {
      id: hex(16), parentId, kind, nameHash: hex(32), wrappedKey: b64(82), metadata: b64(300),
    });

    // 1. Chunk upload through the server into the folder store: the first 128 MiB after the start,
    // then 128 MiB more, once the server has warmed up (its code optimised, its heap grown).
    const uploadOnce = async (mode: 'put' | 'batch' = 'put') => {
      const file = await newNode(rootNodeId, 'file');
      const { uploadId } = await api('POST', '/api/uploads', token, { nodeId: file.id });
      const size = mode === 'put' ? CHUNK : BATCH_CHUNK;
      const count = (UPLOAD_CHUNKS * CHUNK) / size;
      const chunks = Array.from({ length: count }, () => ({ id: hex(32), data: new Uint8Array(randomBytes(size)) }));
      const digest = (parts: Uint8Array[]) => {
        const h = createHash('sha256');
        for (const p of parts) h.update(p);
        return `sha-256=:${h.digest('base64')}:`;
      };
      const requests = mode === 'put'
        ? chunks.map((c) => ({ path: `/api/chunks/${c.id}?upload=${uploadId}`, method: 'PUT', body: c.data, headers: { 'content-digest': digest([c.data]) }, status: 201 }))
        : Array.from({ length: count / BATCH_OF }, (_, i) => {
          const group = chunks.slice(i * BATCH_OF, (i + 1) * BATCH_OF);
          return {
            path: `/api/chunks/batch?upload=${uploadId}`, method: 'POST', body: new Uint8Array(Buffer.concat(group.map((c) => c.data))), status: 200,
            headers: { 'content-digest': digest(group.map((c) => c.data)), 'coffer-chunks': group.map((c) => `${c.id}:${size}`).join(', ') },
          };
        });
      const cpuBefore = server.cpuSeconds();
      const started = performance.now();
      await pool(requests, mode === 'put' ? UPLOAD_CONCURRENCY : BATCH_CONCURRENCY, async (r) => {
        const res = await fetch(server.url + r.path, {
          method: r.method, body: r.body,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', ...r.headers },
        });
        await res.arrayBuffer();
        if (res.status !== r.status) throw new Error(`${r.method} ${r.path.split('?')[0]}: ${res.status}`);
      });
      const seconds = (performance.now() - started) / 1000;
      const cpuAfter = server.cpuSeconds();
      const gib = (UPLOAD_CHUNKS * CHUNK) / 2 ** 30;
      return {
        file,
        mbps: (UPLOAD_CHUNKS * CHUNK) / 1e6 / seconds,
        cpuPerGiB: cpuBefore !== null && cpuAfter !== null ? (cpuAfter - cpuBefore) / gib : null,
      };
    };
    // The first 128 MiB pay for warming up; then five more, of which the median is the figure (on
    // the shared hosts of docs/benchmarks.md one round alone varied by ±25 %).
    const cold = await uploadOnce();
    const warm: Awaited<ReturnType<typeof uploadOnce>>[] = [];
    for (let round = 0; round < WARM_ROUNDS; round++) warm.push(await uploadOnce());
    const file = warm[0]!.file;
    const speeds = warm.map((w) => w.mbps).sort((a, b) => a - b);
    figures['chunk upload, 4 MiB chunks x4 in flight, first 128 MiB (MB/s)'] = cold.mbps;
    figures[`chunk upload, ${WARM_ROUNDS} more rounds of 128 MiB: median (MB/s)`] = percentile(speeds, 50);
    figures['chunk upload, those rounds: slowest – fastest (MB/s)'] = `${speeds[0]!.toFixed(0)} – ${speeds.at(-1)!.toFixed(0)}`;
    const cpus = warm.map((w) => w.cpuPerGiB);
    if (cold.cpuPerGiB !== null && cpus.every((c) => c !== null)) {
      figures['chunk upload: server CPU-s per GiB, first / median of the rest'] =
        `${cold.cpuPerGiB.toFixed(1)} / ${percentile(cpus as number[], 50).toFixed(1)}`;
    }
    // The same rounds as the CLI sends them: 1 MiB records, 8 to a batch request.
    const batched: Awaited<ReturnType<typeof uploadOnce>>[] = [];
    for (let round = 0; round < WARM_ROUNDS; round++) batched.push(await uploadOnce('batch'));
    const batchSpeeds = batched.map((w) => w.mbps).sort((a, b) => a - b);
    figures[`chunk upload in batches (${BATCH_OF} × 1 MiB a request, ${BATCH_CONCURRENCY} in flight), ${WARM_ROUNDS} rounds of 128 MiB: median (MB/s)`] = percentile(batchSpeeds, 50);
    figures['chunk upload in batches, those rounds: slowest – fastest (MB/s)'] = `${batchSpeeds[0]!.toFixed(0)} – ${batchSpeeds.at(-1)!.toFixed(0)}`;
    const batchCpus = batched.map((w) => w.cpuPerGiB);
    if (batchCpus.every((c) => c !== null)) {
      figures['chunk upload in batches: server CPU-s per GiB, median'] = percentile(batchCpus as number[], 50).toFixed(1);
    }

    // 2. Listing a folder of 10,000 entries (pages of 1,000).
    const folder = await newNode(rootNodeId, 'folder');
    await pool(Array.from({ length: FOLDER_ENTRIES }, (_, i) => i), 16, async (i) => {
      await newNode(folder.id, i % 4 === 0 ? 'folder' : 'file');
    });
    const pageTimes: number[] = [];
    const fullTimes: number[] = [];
    const cpuBefore = server.cpuSeconds();
    for (let round = 0; round < 10; round++) {
      const fullStart = performance.now();
      let after: string | null = null;
      let seen = 0;
      do {
        const t = performance.now();
        const page: { items: unknown[]; next: string | null } =
          await api('GET', `/api/nodes/${folder.id}/children?limit=1000${after ? `&after=${after}` : ''}`, token);
        pageTimes.push(performance.now() - t);
        seen += page.items.length;
        after = page.next;
      } while (after);
      fullTimes.push(performance.now() - fullStart);
      if (seen !== FOLDER_ENTRIES) throw new Error(`listed ${seen} entries`);
    }
    const cpuAfter = server.cpuSeconds();
    if (cpuBefore !== null && cpuAfter !== null) figures['list: server CPU-ms per page of 1,000'] = ((cpuAfter - cpuBefore) * 1000) / pageTimes.length;
    figures['list 10,000-entry folder: one page of 1,000, median (ms)'] = percentile(pageTimes, 50);
    figures['list 10,000-entry folder: one page of 1,000, p95 (ms)'] = percentile(pageTimes, 95);
    figures['list 10,000-entry folder: all 10 pages, p95 (ms)'] = percentile(fullTimes, 95);

    // 3. Small metadata requests (GET /api/nodes/:id) with autocannon.
    const latencies: number[] = [];
    const instance = autocannon({
      url: `${server.url}/api/nodes/${file.id}`, connections: 16, duration: 10,
      headers: { authorization: `Bearer ${token}` },
    });
    instance.on('response', (_client, _status, _bytes, ms) => latencies.push(ms));
    const result = await instance;
    if (result.errors + result.non2xx + result.timeouts > 0) {
      throw new Error(`autocannon: ${result.errors} errors, ${result.non2xx} non-2xx, ${result.timeouts} timeouts`);
    }
    figures['GET /api/nodes/:id, 16 connections (requests/s)'] = result.requests.average;
    figures['GET /api/nodes/:id, 16 connections, p95 (ms)'] = percentile(latencies, 95);
  } finally {
    await server.stop();
  }
  return Object.fromEntries(Object.entries(figures).map(([k, v]) => [`${label}: ${k}`, v]));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const figures = await runServerBench();
  for (const [k, v] of Object.entries(figures)) console.log(`${k.padEnd(56)} ${typeof v === 'number' ? v.toFixed(2) : v}`);
}
