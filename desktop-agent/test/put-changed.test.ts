// A file written to while `put` reads it is not committed (restic: "file changed during backup"),
// and in a folder put it fails alone; entries that cannot be read are skipped with a warning. The
// moment of the write is made certain by a relay that holds the put's first large batch of chunks.
import { open, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../tests/support/server.ts';
import { coffer, newAccount, seededBytes, tempDir } from './helpers.ts';

/**
 * Relays to `target`. Once armed, the first request that sends more than 1 MiB of chunks in one
 * batch, and everything any client sends after it, is held until release().
 */
async function holdingRelay(target: URL) {
  let armed: (() => void) | null = null;
  let held: Array<() => void> | null = null;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    upstream.pipe(client);
    upstream.on('close', () => client.destroy());
    client.on('close', () => upstream.destroy());
    client.on('data', (d: Buffer) => {
      const head = d.subarray(0, 2048).toString('latin1');
      if (armed && head.startsWith('POST /api/chunks/batch') && Number(/content-length: (\d+)/i.exec(head)?.[1]) > 1 << 20) {
        held = [];
        armed();
        armed = null;
      }
      if (held) held.push(() => upstream.write(d));
      else upstream.write(d);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    /** Resolves once a large batch is being held. */
    arm: () => new Promise<void>((r) => (armed = r)),
    release() {
      const queued = held ?? [];
      held = null;
      for (const write of queued) write();
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/** Waits for the hold, or fails at once if the put ends without a large batch to hold. */
function untilHeld(holding: Promise<void>, running: Promise<{ code: number; stderr: string }>): Promise<void> {
  return Promise.race([holding, running.then((r) => {
    throw new Error(`the put ended (${r.code}) before it sent a large batch: ${r.stderr}`);
  })]);
}

/** Overwrites 64 KiB in the middle of the file (same size), as an editor saving in place would. */
async function scribble(path: string, size: number): Promise<void> {
  const fh = await open(path, 'r+');
  await fh.write(seededBytes('scribble', 65536), 0, 65536, Math.floor(size / 2));
  await fh.close();
}

describe('coffer put of a file that changes while it is read', () => {
  let server: RunningServer;
  let relay: Awaited<ReturnType<typeof holdingRelay>>;
  let dir: string;
  let env: Record<string, string>;
  const SIZE = 8 * 1024 * 1024;

  beforeAll(async () => {
    server = await startServer();
    relay = await holdingRelay(new URL(server.url));
    dir = await tempDir('changed');
    env = await newAccount(relay.url, dir);
  });
  afterAll(async () => {
    await relay?.close();
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('commits nothing, exits 1 saying so, and the same command then puts the new bytes', async () => {
    const local = join(dir, 'busy.bin');
    await writeFile(local, seededBytes('busy', SIZE));
    const holding = relay.arm();
    const running = coffer(['put', '--quiet', local, '/busy.bin'], env);
    await untilHeld(holding, running);
    await scribble(local, SIZE);
    relay.release();
    const r = await running;
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(`${local} changed while it was being uploaded; nothing was committed. Run the same command again`);
    const versions = JSON.parse((await coffer(['versions', '--json', '/busy.bin'], env)).stdout) as { versions: unknown[] };
    expect(versions.versions).toEqual([]);

    const again = await coffer(['put', '--json', local, '/busy.bin'], env);
    expect(again.code, again.stderr).toBe(0);
    const out = join(dir, 'busy.out');
    expect((await coffer(['get', '--quiet', '/busy.bin', out], env)).code).toBe(0);
    expect((await readFile(out)).equals(await readFile(local))).toBe(true);
  });

  it('in a folder, fails that file, skips a name that is not UTF-8, puts the rest and exits 1', async () => {
    const root = join(dir, 'folder');
    await mkdir(root);
    await writeFile(join(root, 'a.txt'), 'first small file');
    await writeFile(join(root, 'b-busy.bin'), seededBytes('b-busy', SIZE));
    await writeFile(join(root, 'c.txt'), 'last small file');
    // Linux names are bytes; this one cannot be a vault name (format §5.3: UTF-8).
    await writeFile(Buffer.concat([Buffer.from(join(root, 'bad-')), Buffer.from([0xff, 0xfe]), Buffer.from('.txt')]), 'x');
    const holding = relay.arm();
    const running = coffer(['put', '--json', root, '/'], env);
    await untilHeld(holding, running);
    await scribble(join(root, 'b-busy.bin'), SIZE);
    relay.release();
    const r = await running;
    expect(r.code, r.stderr).toBe(1);
    const doc = JSON.parse(r.stdout) as { ok: boolean; files: Array<{ path: string }>; failed: Array<{ path: string; code: string }>; skipped: Array<{ path: string; reason: string }> };
    expect(doc.ok).toBe(false);
    expect(doc.files.map((f) => f.path)).toEqual(['/folder/a.txt', '/folder/c.txt']);
    expect(doc.failed).toMatchObject([{ path: join(root, 'b-busy.bin'), code: 'FILE_CHANGED' }]);
    expect(doc.skipped).toHaveLength(1);
    expect(doc.skipped[0]!.reason).toContain('not valid UTF-8');
    expect(r.stderr).toContain(`${join(root, 'b-busy.bin')} changed while it was being uploaded`);
    expect(r.stderr).toMatch(/skipping .*bad-/);

    // Again: the changed file goes up; the name that is not UTF-8 is still skipped (exit 1).
    const again = await coffer(['put', '--json', root, '/'], env);
    expect(again.code).toBe(1);
    expect((JSON.parse(again.stdout) as { failed: unknown[] }).failed).toEqual([]);
    const out = join(dir, 'b.out');
    expect((await coffer(['get', '--quiet', '/folder/b-busy.bin', out], env)).code).toBe(0);
    expect((await readFile(out)).equals(await readFile(join(root, 'b-busy.bin')))).toBe(true);
  });
});
