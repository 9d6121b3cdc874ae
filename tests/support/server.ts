// Starts the real Coffer server as a child process for end-to-end tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const REPO_ROOT = resolve(import.meta.dirname, '../..');

export interface RunningServer {
  url: string;            // e.g. http://127.0.0.1:40123 (no trailing slash)
  dataDir: string;
  process: ChildProcess;
  output: () => string;   // everything the server printed so far (stdout + stderr)
  /** CPU seconds (user + system) the server process used so far; null where /proc is missing. */
  cpuSeconds: () => number | null;
  stop: () => Promise<void>;
}

/** User + system CPU seconds of a process, from /proc (Linux; clock ticks assumed 100 Hz). */
export function processCpuSeconds(pid: number | undefined): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

/**
 * Node's flags for a server process, as `npm start` gives them (package.json; a test keeps the two
 * equal). A first old generation of 128 MiB: with PGlite's heap (~25 MiB live) V8 otherwise started
 * a full collection every ~100 ms under chunk uploads, which cost the server ~35 % more CPU per
 * uploaded GiB (docs/benchmarks.md). Only settable at start: not in NODE_OPTIONS, not at run time.
 */
export const SERVER_NODE_FLAGS = ['--initial-old-space-size=128'];

/**
 * Spawns `server/src/main.ts` on a free port with its own data directory (removed on stop).
 * `env` adds to or overrides the environment (DATABASE_URL, S3_*, ...).
 */
export async function startServer(env: Record<string, string> = {}): Promise<RunningServer> {
  const dataDir = env.COFFER_DATA_DIR ?? (await mkdtemp(join(tmpdir(), 'coffer-server-')));
  // COFFER_SERVER_PROFILE=<dir>: a V8 CPU profile of the server, written when it stops (benchmarks).
  const profile = process.env.COFFER_SERVER_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.COFFER_SERVER_PROFILE}`] : [];
  const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, ...profile, '--import', 'tsx', join(REPO_ROOT, 'server/src/main.ts')], {
    cwd: REPO_ROOT,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', COFFER_DATA_DIR: dataDir, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));

  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start within 60 s:\n${out}`)), 60_000);
    const onData = () => {
      const m = /Coffer is running at (http:\/\/[^\s/]+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolveUrl(m[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before it was ready:\n${out}`));
    });
  });

  return {
    url,
    dataDir,
    process: child,
    output: () => out,
    cpuSeconds: () => processCpuSeconds(child.pid),
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      if (!env.COFFER_DATA_DIR) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
