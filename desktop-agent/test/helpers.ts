// Test helpers: run the real `coffer` binary as a child process, seeded random data, temp dirs,
// and the backends (embedded default, or PostgreSQL + s3rver) behind a real server process.
import { spawn } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { startServer, type RunningServer } from '../../tests/support/server.ts';

export const BIN = resolve(import.meta.dirname, '../bin/coffer.mjs');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `coffer ARGS` with a clean environment: only PATH/HOME-ish variables plus `env`. */
export function coffer(args: string[], env: Record<string, string | undefined>, opts: { cwd?: string } = {}): Promise<RunResult> {
  const base: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('COFFER_') && !k.startsWith('VITEST') && k !== 'NODE_OPTIONS') base[k] = v;
  }
  for (const [k, v] of Object.entries(env)) if (v !== undefined) base[k] = v;
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: base, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolveRun({ code: code ?? -1, stdout, stderr }));
  });
}

const seededCipher = (seed: string) => createCipheriv('aes-256-ctr', createHash('sha256').update(seed).digest(), Buffer.alloc(16));

/** Deterministic pseudo-random bytes (AES-256-CTR keystream keyed by the seed). */
export function seededBytes(seed: string, length: number): Buffer {
  const cipher = seededCipher(seed);
  return Buffer.concat([cipher.update(Buffer.alloc(length)), cipher.final()]);
}

const PIECE = 4 * 1024 * 1024;

/** Writes seededBytes(seed, length) to `path` a piece at a time, for files too large to hold. */
export async function writeSeededFile(path: string, seed: string, length: number): Promise<void> {
  const cipher = seededCipher(seed);
  const zeros = Buffer.alloc(PIECE);
  async function* pieces() {
    for (let done = 0; done < length; done += PIECE) yield cipher.update(zeros.subarray(0, Math.min(PIECE, length - done)));
  }
  await pipeline(pieces(), createWriteStream(path));
}

/** A file's SHA-256 (hex), read a piece at a time. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path, { highWaterMark: PIECE }), hash);
  return hash.digest('hex');
}

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `coffer-cli-${prefix}-`));
}

/** Every regular file below `dir`, recursively. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(p)));
    else if (e.isFile()) out.push(p);
  }
  return out.sort();
}

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr && typeof addr === 'object') srv.close(() => res(addr.port));
      else rej(new Error('no port'));
    });
  });
}

export async function fileMode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

/** A server plus what the leak check needs to read back everything it stored. */
export interface Backend {
  server: RunningServer;
  /** Directories holding chunk blobs (folder store or s3rver's files). */
  blobDirs: string[];
  /** Stops the server and returns every row of every table, bytes as raw bytes. */
  dumpDatabase(): Promise<Buffer>;
  cleanup(): Promise<void>;
}

function rowsToBuffer(tables: Record<string, unknown[]>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, rows] of Object.entries(tables)) {
    parts.push(Buffer.from(`\n== ${name}\n`));
    for (const row of rows) {
      for (const v of Object.values(row as Record<string, unknown>)) {
        if (v instanceof Uint8Array) parts.push(Buffer.from(v));
        else parts.push(Buffer.from(typeof v === 'string' ? v : JSON.stringify(v) ?? 'null'));
        parts.push(Buffer.from('\t'));
      }
      parts.push(Buffer.from('\n'));
    }
  }
  return Buffer.concat(parts);
}

const TABLES_SQL = `select table_schema, table_name from information_schema.tables
  where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema')`;

export async function embeddedBackend(): Promise<Backend> {
  const dataDir = await tempDir('data');
  const server = await startServer({ COFFER_DATA_DIR: dataDir });
  return {
    server,
    blobDirs: [join(dataDir, 'blobs')],
    async dumpDatabase() {
      await server.stop();
      const { PGlite } = await import('@electric-sql/pglite');
      const db = new PGlite(join(dataDir, 'db'));
      try {
        const tables: Record<string, unknown[]> = {};
        const list = await db.query<{ table_schema: string; table_name: string }>(TABLES_SQL);
        for (const t of list.rows) {
          tables[`${t.table_schema}.${t.table_name}`] = (await db.query(`select * from "${t.table_schema}"."${t.table_name}"`)).rows;
        }
        return rowsToBuffer(tables);
      } finally {
        await db.close();
      }
    },
    async cleanup() {
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export async function postgresS3Backend(): Promise<Backend> {
  const { createTestDatabase } = await import('../../tests/support/env.ts');
  const database = await createTestDatabase();
  const s3Dir = await tempDir('s3');
  const port = await freePort();
  const { default: S3rver } = await import('s3rver');
  const s3 = new S3rver({ port, address: '127.0.0.1', directory: s3Dir, silent: true, configureBuckets: [{ name: 'coffer-test' }] });
  await s3.run();
  const server = await startServer({
    DATABASE_URL: database.url,
    S3_ENDPOINT: `http://127.0.0.1:${port}`,
    S3_BUCKET: 'coffer-test',
    S3_REGION: 'us-east-1',
    S3_ACCESS_KEY_ID: 'S3RVER',
    S3_SECRET_ACCESS_KEY: 'S3RVER',
    S3_FORCE_PATH_STYLE: 'true',
  });
  return {
    server,
    blobDirs: [s3Dir],
    async dumpDatabase() {
      await server.stop();
      const { default: postgres } = await import('postgres');
      const sql = postgres(database.url, { max: 1, onnotice: () => {} });
      try {
        const tables: Record<string, unknown[]> = {};
        const list = await sql.unsafe<{ table_schema: string; table_name: string }[]>(TABLES_SQL);
        for (const t of list) tables[`${t.table_schema}.${t.table_name}`] = await sql.unsafe(`select * from "${t.table_schema}"."${t.table_name}"`);
        return rowsToBuffer(tables);
      } finally {
        await sql.end({ timeout: 1 });
      }
    },
    async cleanup() {
      await server.stop();
      await s3.close();
      await database.drop();
      await rm(s3Dir, { recursive: true, force: true });
    },
  };
}

/** Concatenation of every blob file of the backend. */
export async function readAllBlobs(b: Backend): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const d of b.blobDirs) for (const f of await listFiles(d)) parts.push(await readFile(f));
  return Buffer.concat(parts);
}

/** The environment of a fresh account on `server`, signed up with its COFFER_HOME under `dir`. */
export async function newAccount(server: string, dir: string, name = 'a'): Promise<Record<string, string>> {
  const env = {
    COFFER_HOME: join(dir, `home-${name}`), COFFER_SERVER: server,
    COFFER_EMAIL: `${name}-${Math.random().toString(36).slice(2)}@example.test`, COFFER_PASSPHRASE: `passphrase of ${name}`,
  };
  const r = await coffer(['signup', '--quiet'], env);
  if (r.code !== 0) throw new Error(`signup exited ${r.code}: ${r.stderr}`);
  return env;
}
