// The node:crypto backend's sealChunk: encryptStream's chunk ids, keys and AES-GCM on a worker
// thread (node/chunk-sealer.ts, node/chunk-worker.mjs). Same bytes as every other path, file
// order kept, bounded in flight, errors reach the caller, and a process using it exits by itself.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import * as c from '../src/index';
import { encryptStreamWith, setRandomSource } from '../src/internal';
import { nodeCryptoBackend } from '../node/backend';
import { sealChunkInWorker } from '../node/chunk-sealer';
import { collect, hex, piecesOf, readVector, repoRoot, seededBytes, toHexString } from './helpers';

const SMALL = { min: 64, avg: 256, max: 1024 };

afterEach(() => {
  c.setCryptoBackend(null);
  setRandomSource(null);
});

/** A seeded random source: the same nonces whichever backend seals. */
function seededRandom(seed: number): (n: number) => Uint8Array {
  let s = seed;
  return (n) => seededBytes(n, s++);
}

/** nodeCryptoBackend, counting sealChunk calls and the most jobs pending at once. */
function countingWorkerBackend() {
  const stats = { calls: 0, pending: 0, maxPending: 0 };
  const backend: c.CryptoBackend = {
    ...nodeCryptoBackend,
    sealChunk: async (job) => {
      stats.calls++;
      stats.maxPending = Math.max(stats.maxPending, ++stats.pending);
      try {
        return await nodeCryptoBackend.sealChunk!(job);
      } finally {
        stats.pending--;
      }
    },
  };
  return { backend, stats };
}

type Sealed = { offset: number; entry: c.ManifestEntry; record: string }[];

async function sealWith(backend: c.CryptoBackend | null, vault: c.Vault, data: Uint8Array, piece: number, params: typeof SMALL | null, concurrency?: number): Promise<Sealed> {
  c.setCryptoBackend(backend);
  setRandomSource(seededRandom(99));
  try {
    const source = piecesOf(data, piece);
    const out = await collect(params ? encryptStreamWith(vault, source, { concurrency }, params) : c.encryptStream(vault, source, { concurrency }));
    return out.map((x) => ({ offset: x.offset, entry: x.entry, record: toHexString(x.record) }));
  } finally {
    setRandomSource(null);
    c.setCryptoBackend(null);
  }
}

describe('encryptStream with the worker-thread sealChunk', () => {
  const withoutWorker: c.CryptoBackend = { ...nodeCryptoBackend, sealChunk: undefined };

  it('gives byte-identical records to WebCrypto and to node:crypto on the calling thread (small chunks, every concurrency)', async () => {
    const vault = await c.openVault(c.randomId(), c.newAccount().accountKey);
    const data = seededBytes(40_000, 5);
    const expected = await sealWith(null, vault, data, 777, SMALL);
    expect(expected.length).toBeGreaterThan(40);
    expect(await sealWith(withoutWorker, vault, data, 777, SMALL)).toEqual(expected);
    for (const concurrency of [1, 3, 64]) {
      const { backend, stats } = countingWorkerBackend();
      expect(await sealWith(backend, vault, data, 333, SMALL, concurrency), `concurrency ${concurrency}`).toEqual(expected);
      expect(stats.calls).toBe(expected.length);
      expect(stats.maxPending).toBeLessThanOrEqual(concurrency);
    }
  });

  it('gives byte-identical records with the real chunk sizes (10 MiB, pieces that do not line up with chunks)', async () => {
    const vault = await c.openVault(c.randomId(), c.newAccount().accountKey);
    const data = seededBytes(10 * 2 ** 20 + 12345, 6);
    const expected = await sealWith(withoutWorker, vault, data, 65_537, null);
    expect(expected.length).toBeGreaterThan(3);
    const { backend, stats } = countingWorkerBackend();
    expect(await sealWith(backend, vault, data, 1 << 20, null)).toEqual(expected);
    expect(stats.calls).toBe(expected.length);
    expect(stats.maxPending).toBeLessThanOrEqual(4); // the default concurrency bounds what is in flight
  });

  it('reproduces the committed format-v1 chunk record (§6.2, §6.3)', async () => {
    const v = readVector<{ inputs: { accountKey: string; plaintext: string }; expected: { chunkId: string; chunkKey: string; plainLength: number; storedLength: number }; record: string }>(
      'format-v1/chunk.json',
    );
    const vault = await c.openVault(c.randomId(), hex(v.inputs.accountKey) as c.AccountKey);
    const nonce = hex(v.record).subarray(2, 14); // the record's own nonce, drawn through the random source
    const { backend, stats } = countingWorkerBackend();
    c.setCryptoBackend(backend);
    setRandomSource((n) => (n === 12 ? nonce.slice() : seededBytes(n, 1)));
    const [chunk, ...rest] = await collect(c.encryptStream(vault, piecesOf(hex(v.inputs.plaintext), 100)));
    expect(rest).toEqual([]);
    expect(stats.calls).toBe(1);
    expect({ ...chunk!.entry, chunkKey: toHexString(chunk!.entry.chunkKey) }).toEqual(v.expected);
    expect(toHexString(chunk!.record)).toBe(v.record);
  });

  it('records it seals open with WebCrypto', async () => {
    const vault = await c.openVault(c.randomId(), c.newAccount().accountKey);
    const data = seededBytes(3 * 2 ** 20, 8);
    c.setCryptoBackend(nodeCryptoBackend);
    const chunks = await collect(c.encryptStream(vault, piecesOf(data, 100_000)));
    c.setCryptoBackend(null);
    const blobs = new Map(chunks.map((x) => [x.entry.chunkId, x.record]));
    const manifest = { size: data.length, chunks: chunks.map((x) => x.entry) };
    const plain = await collect(c.decryptStream(manifest, async (id) => blobs.get(id)!));
    expect(toHexString(new Uint8Array(Buffer.concat(plain)))).toBe(toHexString(data));
  });

  it('passes a source error to the caller and keeps working afterwards', async () => {
    const vault = await c.openVault(c.randomId(), c.newAccount().accountKey);
    c.setCryptoBackend(nodeCryptoBackend);
    async function* failing() {
      yield seededBytes(5000, 1);
      throw new Error('disk gone');
    }
    await expect(collect(encryptStreamWith(vault, failing(), { concurrency: 2 }, SMALL))).rejects.toThrow('disk gone');
    expect((await collect(encryptStreamWith(vault, piecesOf(seededBytes(3000, 2), 500), undefined, SMALL))).length).toBeGreaterThan(2);
  });

  it('rejects a job that fails in the worker, and the next job still succeeds', async () => {
    const job = (nonceLength: number): c.ChunkJob => ({
      idKey: new Uint8Array(32), keyKey: new Uint8Array(32), header: new Uint8Array([1, 5]), nonce: new Uint8Array(nonceLength),
      aadPrefix: new Uint8Array(4), body: new Uint8Array(new ArrayBuffer(64), 0, 32), plainLength: 20,
    });
    await expect(sealChunkInWorker(job(0))).rejects.toThrow(/^chunk worker: .*initialization vector/i); // AES-GCM refuses an empty nonce
    const ok = await sealChunkInWorker(job(12));
    expect([ok.id.length, ok.key.length, ok.record.length, ok.body?.buffer.byteLength]).toEqual([32, 32, 2 + 12 + 32 + 16, 64]);
  });

  it('a process that used it exits by itself, and not before its stream is done', () => {
    const script = fileURLToPath(new URL('./fixtures/worker-exit.ts', import.meta.url));
    const run = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
    expect(run.error).toBeUndefined();
    expect({ status: run.status, stdout: run.stdout.trim(), stderr: run.stderr.trim() }).toEqual({ status: 0, stdout: 'sealed 9437184 bytes in 10 chunks', stderr: '' });
  });
});
