// Per-call cost of the small records (format §2: metadata, HPKE key wraps, small manifests):
// AES-256-GCM seal / open of 32–4096-byte messages with a fresh key per call, WebCrypto
// (importKey + encrypt/decrypt) against @noble/ciphers `gcm` (synchronous), and the steps of one
// HPKE Open. Runs unchanged in Node and in a browser page (small-records-run.ts does both):
//   node --import tsx crypto-core/bench/small-records-run.ts [--no-browser]
// Figures are µs per call; "cpu" is process CPU time (Node only: all threads, so WebCrypto's
// thread-pool work counts), "wall" is elapsed time. Serial = one call awaited at a time; "x32" =
// 32 calls in flight, as openChildren does.
import { gcm } from '@noble/ciphers/aes.js';
import { x25519 as nobleX25519 } from '@noble/curves/ed25519.js';
import { hpkeOpen, hpkeSeal, hpkeSteps, primitives } from '../src/internal.ts';

export type Row = Record<string, number | string>;
type Seal = (key: Uint8Array, nonce: Uint8Array, pt: Uint8Array, aad: Uint8Array) => Uint8Array | Promise<Uint8Array>;

const cpuMicros = (): number | null => {
  const usage = (globalThis as { process?: { cpuUsage(): { user: number; system: number } } }).process?.cpuUsage();
  return usage ? usage.user + usage.system : null;
};

/** Runs `n` calls of f (serially or `width` in flight) and returns µs per call: wall and CPU. */
async function perCall(n: number, width: number, f: (i: number) => unknown): Promise<{ wall: number; cpu: number }> {
  const c0 = cpuMicros();
  const t0 = performance.now();
  if (width === 1) {
    for (let i = 0; i < n; i++) await f(i);
  } else {
    let next = 0;
    await Promise.all(Array.from({ length: width }, async () => {
      while (next < n) await f(next++);
    }));
  }
  const wall = ((performance.now() - t0) * 1000) / n;
  const c1 = cpuMicros();
  return { wall, cpu: c0 === null || c1 === null ? NaN : (c1 - c0) / n };
}

const subtle = () => globalThis.crypto.subtle;
const ab = (b: Uint8Array) => b as Uint8Array<ArrayBuffer>;

export const webCryptoSeal: Seal = async (key, nonce, pt, aad) => {
  const k = await subtle().importKey('raw', ab(key), 'AES-GCM', false, ['encrypt']);
  return new Uint8Array(await subtle().encrypt({ name: 'AES-GCM', iv: ab(nonce), additionalData: ab(aad) }, k, ab(pt)));
};
export const webCryptoOpen: Seal = async (key, nonce, ct, aad) => {
  const k = await subtle().importKey('raw', ab(key), 'AES-GCM', false, ['decrypt']);
  return new Uint8Array(await subtle().decrypt({ name: 'AES-GCM', iv: ab(nonce), additionalData: ab(aad) }, k, ab(ct)));
};
export const nobleSeal: Seal = (key, nonce, pt, aad) => gcm(key, nonce, aad).encrypt(pt);
export const nobleOpen: Seal = (key, nonce, ct, aad) => gcm(key, nonce, aad).decrypt(ct);

/** Deterministic test bytes. */
function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export interface Impl { name: string; seal: Seal; open: Seal }

/**
 * AES-256-GCM per call, for each size and implementation: seal and open, serial and 32 in flight.
 * `impls` may add a host's own (the node:crypto backend).
 */
export async function measureAesGcm(opts: { sizes: number[]; n: number; impls: Impl[] }): Promise<Row[]> {
  const rows: Row[] = [];
  const N = opts.n;
  const keys = Array.from({ length: N }, (_, i) => bytes(32, 1000 + i));
  const nonce = bytes(12, 7);
  const aad = bytes(30, 8); // header || "coffer/v1/meta" || nodeId
  for (const size of opts.sizes) {
    const pts = Array.from({ length: 8 }, (_, i) => bytes(size, size * 31 + i));
    const cts = keys.map((k, i) => nobleSeal(k, nonce, pts[i % 8]!, aad) as Uint8Array);
    for (const impl of opts.impls) {
      // warm-up (JIT, thread pool)
      for (let i = 0; i < 200; i++) await impl.open(keys[i]!, nonce, cts[i]!, aad);
      for (let i = 0; i < 200; i++) await impl.seal(keys[i]!, nonce, pts[i % 8]!, aad);
      const row: Row = { size, impl: impl.name };
      for (const [label, width] of [['serial', 1], ['x32', 32]] as const) {
        const s = await perCall(N, width, (i) => impl.seal(keys[i]!, nonce, pts[i % 8]!, aad));
        const o = await perCall(N, width, (i) => impl.open(keys[i]!, nonce, cts[i]!, aad));
        row[`seal ${label} wall`] = s.wall; row[`seal ${label} cpu`] = s.cpu;
        row[`open ${label} wall`] = o.wall; row[`open ${label} cpu`] = o.cpu;
      }
      rows.push(row);
    }
  }
  return rows;
}

/** The steps of one HPKE Open of a node-secret wrap (format §2 type 0x02), serial, µs per call. */
export async function measureHpkeOpen(n: number): Promise<Row[]> {
  const sk = bytes(32, 99);
  const pk = nobleX25519.getPublicKey(sk);
  const info = new TextEncoder().encode('coffer/v1/hpke');
  const aad = bytes(53, 5);
  const wraps: { enc: Uint8Array; ct: Uint8Array }[] = [];
  for (let i = 0; i < n; i++) wraps.push(await hpkeSeal(pk, info, aad, bytes(32, i + 1)));
  const rows: Row[] = [];
  const add = async (step: string, f: (i: number) => unknown) => {
    for (let i = 0; i < Math.min(200, n); i++) await f(i);
    const r = await perCall(n, 1, f);
    rows.push({ step, wall: r.wall, cpu: r.cpu });
  };
  const webX = await primitives.hasWebCryptoX25519();
  if (webX) {
    const skKey = await primitives.x25519WebCryptoImportPrivate(sk);
    await add('DH: WebCrypto importKey(enc) + deriveBits, private key imported once', (i) => primitives.x25519WebCryptoDerive(skKey, wraps[i]!.enc));
  }
  await add('DH: @noble/curves x25519', (i) => nobleX25519.getSharedSecret(sk, wraps[i]!.enc));
  const dh = nobleX25519.getSharedSecret(sk, wraps[0]!.enc);
  await add('key schedule (7 HMACs, sync)', (i) => hpkeSteps.keySchedule(dh, wraps[i]!.enc, pk, info));
  const ks = hpkeSteps.keySchedule(dh, wraps[0]!.enc, pk, info);
  await add('AES-GCM open 48 B: WebCrypto', () => webCryptoOpen(ks.key, ks.nonce, wraps[0]!.ct, aad));
  await add('AES-GCM open 48 B: @noble/ciphers', () => nobleOpen(ks.key, ks.nonce, wraps[0]!.ct, aad));
  await add('an empty await (Promise round trip)', () => Promise.resolve());
  await add('hpkeOpen (cached recipient), as built', (i) => hpkeOpen(sk, wraps[i]!.enc, info, aad, wraps[i]!.ct, true));
  return rows;
}

/** Both parts with the implementations every runtime has. */
export async function measureSmallRecords(opts: { sizes?: number[]; n?: number; extra?: Impl[] } = {}): Promise<{ aes: Row[]; hpke: Row[] }> {
  const impls: Impl[] = [
    { name: 'WebCrypto', seal: webCryptoSeal, open: webCryptoOpen },
    { name: '@noble/ciphers gcm', seal: nobleSeal, open: nobleOpen },
    { name: 'primitives.aesGcm* (as built)', seal: primitives.aesGcmSeal, open: primitives.aesGcmOpen },
    ...(opts.extra ?? []),
  ];
  const aes = await measureAesGcm({ sizes: opts.sizes ?? [32, 64, 128, 256, 512, 1024, 2048, 4096, 16384], n: opts.n ?? 2000, impls });
  const hpke = await measureHpkeOpen(opts.n ?? 2000);
  return { aes, hpke };
}
