// Crypto benchmarks. `npm run bench -- crypto` runs them with 1 GiB (COFFER_BENCH_CRYPTO_MIB=256
// shortens it while iterating); directly:
//   node --import tsx crypto-core/bench/crypto.ts [sizeMiB]
// Figures are throughput in MB/s (10^6 bytes per second) unless the name says otherwise.
import * as c from '../src/index.ts';
import { primitives } from '../src/internal.ts';
import { nodeCryptoBackend } from '../node/backend.ts';

type Figures = Record<string, number | string>;

const MiB = 2 ** 20;
const mbps = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000);

/** Pseudo-random bytes (xorshift32), fast enough that generation is not what is measured. */
function generate(length: number, seed: number): Uint8Array {
  const words = new Uint32Array(Math.ceil(length / 4));
  let x = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x;
  }
  return new Uint8Array(words.buffer, 0, length);
}

/** `total` bytes as 1 MiB views that cycle over `block` (the pipeline never sees repetition cheaply). */
async function* cycle(block: Uint8Array, total: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < total; at += MiB) {
    const start = at % block.length;
    yield block.subarray(start, Math.min(start + MiB, block.length, start + total - at));
  }
}

/** CPU seconds used by this process (all threads) so far, where the runtime can tell. */
const cpuSeconds = (): number | null => {
  const usage = (globalThis as { process?: { cpuUsage(): { user: number; system: number } } }).process?.cpuUsage();
  return usage ? (usage.user + usage.system) / 1e6 : null;
};

let lastCpu = 0;

/** Wall time in ms; the CPU time of the same span is left in `lastCpu` (seconds). */
async function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const c0 = cpuSeconds();
  const t0 = performance.now();
  const out = await f();
  const ms = performance.now() - t0;
  const c1 = cpuSeconds();
  lastCpu = c0 === null || c1 === null ? NaN : c1 - c0;
  return [out, ms];
}

async function inBatches<T>(items: T[], width: number, f: (x: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(f));
}

export async function runCryptoBench(opts: { sizeMiB: number }): Promise<Figures> {
  const fromEnv = Number((globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env.COFFER_BENCH_CRYPTO_MIB);
  const sizeMiB = Math.max(16, Math.floor(fromEnv > 0 ? fromEnv : opts.sizeMiB));
  const total = sizeMiB * MiB;
  const block = generate(Math.min(64, sizeMiB) * MiB, 12345);
  const figures: Figures = { 'data size (MiB)': sizeMiB };
  const load = (globalThis as { process?: { getBuiltinModule?: (m: string) => { loadavg(): number[] } } }).process?.getBuiltinModule?.('os')?.loadavg();
  if (load) figures['load average at start (1 min)'] = load[0]!;

  const { accountId, accountKey } = c.newAccount();
  const vault = await c.openVault(accountId, accountKey);
  const { vaultInternals } = await import('../src/internal.ts');
  const chunker = c.createChunker(vaultInternals(vault).gear);

  // Chunking alone: the 32-bit FastCDC scanner that encryptStream uses, over the whole input.
  const chunkingAlone = async () => {
    let chunks = 0;
    const [, ms] = await timed(async () => {
      for (let done = 0; done < total; done += block.length) {
        const scanner = chunker.scanner();
        for (let at = 0; at < block.length; chunks++) {
          const view = block.subarray(at);
          const avail = Math.min(view.length, chunker.params.max);
          const cut = scanner.scan(view, avail);
          at += cut >= 0 ? cut : scanner.finish(view, avail);
        }
      }
    });
    const bytes = Math.ceil(total / block.length) * block.length;
    return { mbps: mbps(bytes, ms), perCpu: mbps(bytes, lastCpu * 1000), meanChunkMiB: bytes / chunks / MiB };
  };
  {
    const r = await chunkingAlone();
    figures['chunking alone (MB/s)'] = r.mbps;
    figures['chunking alone (MB per CPU-second)'] = r.perCpu;
    figures['mean chunk size (MiB)'] = r.meanChunkMiB;
  }

  // Keyed hashing: HMAC chunk ids over 1 MiB pieces, four in flight.
  const pieces = Array.from({ length: block.length / MiB }, (_, i) => block.subarray(i * MiB, (i + 1) * MiB));
  const rounds = Math.max(1, Math.floor(Math.min(total, 512 * MiB) / block.length));
  {
    const [, ms] = await timed(async () => {
      for (let r = 0; r < rounds; r++) await inBatches(pieces, 4, (p) => c.chunkIdOf(vault, p));
    });
    figures['keyed hashing, HMAC chunk ids (MB/s)'] = mbps(rounds * block.length, ms);
  }

  // Encryption: AES-256-GCM of 1 MiB pieces, four in flight.
  {
    const key = new Uint8Array(32).fill(1);
    const nonce = new Uint8Array(12);
    const [, ms] = await timed(async () => {
      for (let r = 0; r < rounds; r++) await inBatches(pieces, 4, (p) => primitives.aesGcmSeal(key, nonce, p, nonce));
    });
    figures['encryption, AES-256-GCM (MB/s)'] = mbps(rounds * block.length, ms);
  }

  // Whole pipeline: chunk + id + key + pad + encrypt, via the public encryptStream.
  const stored = new Map<string, Uint8Array>();
  const entries: c.ManifestEntry[] = [];
  {
    let bytes = 0;
    const [, ms] = await timed(async () => {
      for await (const ch of c.encryptStream(vault, cycle(block, total))) {
        bytes += ch.entry.plainLength;
        // Keep the records of the first block only, to replay them for the decryption figure.
        if (ch.offset < block.length) {
          stored.set(ch.entry.chunkId, ch.record);
          entries.push(ch.entry);
        }
      }
    });
    if (bytes !== total) throw new Error(`pipeline produced ${bytes} bytes, expected ${total}`);
    figures['pipeline, encryptStream (MB/s)'] = mbps(total, ms);
    figures['pipeline, encryptStream (MB per CPU-second, all threads)'] = mbps(total, lastCpu * 1000);
    figures['pipeline / chunking alone'] = (figures['pipeline, encryptStream (MB/s)'] as number) / (figures['chunking alone (MB/s)'] as number);
  }

  // Decryption pipeline: decryptStream over a manifest that replays the stored records to `total`.
  {
    const chunks: c.ManifestEntry[] = [];
    let size = 0;
    while (size < total) {
      for (const e of entries) {
        chunks.push(e);
        size += e.plainLength;
      }
    }
    let bytes = 0;
    const [, ms] = await timed(async () => {
      for await (const pt of c.decryptStream({ size, chunks }, async (id) => stored.get(id)!)) bytes += pt.length;
    });
    figures['decryption pipeline, decryptStream (MB/s)'] = mbps(bytes, ms);
    figures['decryption pipeline (MB per CPU-second, all threads)'] = mbps(bytes, lastCpu * 1000);
  }

  // Argon2id at the floor (64 MiB, t=3, p=1): one warm-up, then the median of three; hash-wasm (the
  // browser path), then the native `argon2` package through the node:crypto backend (the CLI path).
  for (const [label, backend] of [['', null], [', node:crypto backend', nodeCryptoBackend]] as const) {
    c.setCryptoBackend(backend);
    try {
      const kdf = c.newKdfParams();
      await c.derivePassphraseKeys('warm-up', kdf);
      const times: number[] = [];
      const cpu: number[] = [];
      for (let i = 0; i < 3; i++) {
        times.push((await timed(() => c.derivePassphraseKeys(`passphrase ${i}`, kdf)))[1]);
        cpu.push(lastCpu);
      }
      figures[`Argon2id m=64MiB t=3 p=1${label} (s)`] = times.sort((a, b) => a - b)[1]! / 1000;
      figures[`Argon2id m=64MiB t=3 p=1${label} (CPU-seconds)`] = cpu.sort((a, b) => a - b)[1]!;
    } finally {
      c.setCryptoBackend(null);
    }
  }

  // HPKE: node-secret wraps to a folder and unwraps, one at a time.
  {
    const parent = await c.nodeKeys(c.randomId(), c.newNode().secret);
    const nodes = Array.from({ length: 300 }, () => c.newNode());
    const [wraps, wms] = await timed(async () => {
      const out: Uint8Array[] = [];
      for (const n of nodes) out.push(await c.wrapNodeSecret(n.secret, n.nodeId, parent, vault));
      return out;
    });
    figures['HPKE wrap (CPU µs each, all threads)'] = (lastCpu / nodes.length) * 1e6;
    const [, ums] = await timed(async () => {
      for (let i = 0; i < nodes.length; i++) await c.unwrapNodeSecret(wraps[i]!, nodes[i]!.nodeId, parent, null);
    });
    figures['HPKE unwrap (CPU µs each, all threads)'] = (lastCpu / nodes.length) * 1e6;
    figures['HPKE wraps/s'] = nodes.length / (wms / 1000);
    figures['HPKE unwraps/s'] = nodes.length / (ums / 1000);
  }

  // Metadata of 10,000 files: derive each node's keys and open its record (as a listing does).
  {
    const files = await Promise.all(
      Array.from({ length: 10_000 }, async (_, i) => {
        const n = c.newNode();
        const keys = await c.nodeKeys(n.nodeId, n.secret);
        return { ...n, record: await c.sealMetadata(keys, { name: `file ${i}.txt`, mime: 'text/plain', size: i, mtime: 1_700_000_000_000 + i }) };
      }),
    );
    const openAll = () => Promise.all(files.map(async (f) => c.openMetadata(await c.nodeKeys(f.nodeId, f.secret), f.record)));
    const [, ms] = await timed(openAll);
    figures['metadata of 10,000 files (s)'] = ms / 1000;
    figures['metadata of 10,000 files (CPU-seconds, all threads)'] = lastCpu;
    // The same with every AES-GCM through WebCrypto (as before small records went to @noble in
    // runtimes whose WebCrypto is JavaScript, primitives.ts): the reason for that route, measured.
    primitives.forceSyncSmallAes(false);
    try {
      const [, wms] = await timed(openAll);
      figures['metadata of 10,000 files, all AES-GCM via WebCrypto (s)'] = wms / 1000;
      figures['metadata of 10,000 files, all AES-GCM via WebCrypto (CPU-seconds)'] = lastCpu;
    } finally {
      primitives.forceSyncSmallAes(null);
    }
  }

  // Listing a folder of 10,000 children: per child one HPKE unwrap (format §5.1) + nodeKeys +
  // openMetadata (§5.3), through openChildren; then the same with the node:crypto backend.
  // "WebCrypto" is crypto-core without a backend: in Node its small AES-GCM goes through @noble
  // (primitives.ts), X25519 through WebCrypto.
  {
    const folder = c.newNode();
    const parent = await c.nodeKeys(folder.nodeId, folder.secret);
    c.setCryptoBackend(nodeCryptoBackend); // only to build the records faster; same bytes
    const kids = Array.from({ length: 10_000 }, () => c.newNode());
    const records: c.ChildRecord[] = [];
    for (let i = 0; i < kids.length; i += 256) {
      records.push(...(await Promise.all(kids.slice(i, i + 256).map(async (k, j) => ({
        nodeId: k.nodeId,
        wrap: await c.wrapNodeSecret(k.secret, k.nodeId, parent, vault),
        metadata: await c.sealMetadata(await c.nodeKeys(k.nodeId, k.secret), { name: `file ${i + j}.txt`, mime: 'text/plain', size: i + j, mtime: 1_700_000_000_000 }),
      })))));
    }
    for (const [label, backend] of [['WebCrypto', null], ['node:crypto backend', nodeCryptoBackend]] as const) {
      c.setCryptoBackend(backend);
      const opened = await c.nodeKeys(folder.nodeId, folder.secret); // a fresh parent: no warm key cache
      const [out, ms] = await timed(() => c.openChildren(opened, records));
      if (out.some((o) => o.error)) throw new Error('a child failed to open');
      figures[`list 10,000 children, openChildren, ${label} (s)`] = ms / 1000;
      figures[`list 10,000 children, openChildren, ${label} (CPU-seconds)`] = lastCpu;
    }
    c.setCryptoBackend(null);
  }

  // The encryptStream pipeline with the node:crypto backend: this thread chunks, a worker thread
  // does the chunk HMACs and AES-GCM (node/chunk-sealer.ts). Chunking alone is measured again right
  // before it, since the load of a shared machine changes over the minutes this bench takes.
  {
    const again = await chunkingAlone();
    figures['chunking alone, again just before (MB/s)'] = again.mbps;
    c.setCryptoBackend(nodeCryptoBackend);
    try {
      let bytes = 0;
      const [, ms] = await timed(async () => {
        for await (const ch of c.encryptStream(vault, cycle(block, total))) bytes += ch.entry.plainLength;
      });
      if (bytes !== total) throw new Error(`pipeline produced ${bytes} bytes, expected ${total}`);
      figures['pipeline, encryptStream, node:crypto backend (MB/s)'] = mbps(total, ms);
      figures['pipeline, node:crypto backend (MB per CPU-second, all threads)'] = mbps(total, lastCpu * 1000);
      figures['pipeline, node:crypto backend / chunking alone'] = mbps(total, ms) / (figures['chunking alone (MB/s)'] as number);
      figures['pipeline, node:crypto backend / chunking alone just before'] = mbps(total, ms) / again.mbps;
    } finally {
      c.setCryptoBackend(null);
    }
  }
  if (load) figures['load average at end (1 min)'] = (globalThis as { process?: { getBuiltinModule?: (m: string) => { loadavg(): number[] } } }).process!.getBuiltinModule!('os').loadavg()[0]!;
  return figures;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*crypto-core/, 'crypto-core'))) {
  const sizeMiB = Number(process.argv[2] ?? 1024);
  const figures = await runCryptoBench({ sizeMiB });
  for (const [k, v] of Object.entries(figures)) console.log(`${k.padEnd(48)} ${typeof v === 'number' ? v.toFixed(2) : v}`);
}
