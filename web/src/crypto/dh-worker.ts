/// <reference lib="webworker" />
// The X25519 helper: a second worker that computes X25519 shared secrets for the crypto worker
// (src/crypto/worker.ts), so that opening the children of a big folder, which needs one X25519 per
// child (format §5.1), uses both cores: this thread does the X25519s while the crypto worker does
// the rest of each child (key schedule, AES-GCM opens). It holds no key between requests: each
// batch brings its private key, which is imported (non-extractable), used and dropped.
//
// It talks only over the MessagePort the page hands it (facade.ts):
//   in:  { id, sk: Uint8Array(32), pks: Uint8Array(32 × n) }
//   out: { id, out: Uint8Array(32 × n), bad: number[] }   (bad: indices whose public key X25519 refused;
//        an `out` shorter than 32 × n: the whole batch failed)
// and first { ready: boolean }: false when this browser's WebCrypto lacks X25519 (the crypto worker
// then computes them itself, as before).

declare const self: DedicatedWorkerGlobalScope;

export interface DhRequest { id: number; sk: Uint8Array; pks: Uint8Array }
export interface DhReply { id: number; out: Uint8Array; bad: number[] }

const subtle = crypto.subtle;
// PKCS#8 prefix of a raw X25519 private key (RFC 8410), as crypto-core's primitives.ts.
const PKCS8_X25519 = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20];

async function importPrivate(sk: Uint8Array): Promise<CryptoKey> {
  const der = new Uint8Array(PKCS8_X25519.length + 32);
  der.set(PKCS8_X25519);
  der.set(sk, PKCS8_X25519.length);
  sk.fill(0);
  try {
    return await subtle.importKey('pkcs8', der, { name: 'X25519' }, false, ['deriveBits']);
  } finally {
    der.fill(0);
  }
}

async function derive(sk: CryptoKey, pk: Uint8Array): Promise<ArrayBuffer> {
  const pub = await subtle.importKey('raw', pk as Uint8Array<ArrayBuffer>, { name: 'X25519' }, true, []);
  return subtle.deriveBits({ name: 'X25519', public: pub } as EcdhKeyDeriveParams, sk, 256);
}

async function serve(req: DhRequest): Promise<DhReply> {
  const n = req.pks.length / 32;
  const out = new Uint8Array(32 * n);
  const bad: number[] = [];
  let sk: CryptoKey;
  try {
    sk = await importPrivate(req.sk);
  } catch {
    return { id: req.id, out, bad: Array.from({ length: n }, (_, i) => i) };
  }
  // All at once: each call is short, and the replies go back together.
  await Promise.all(Array.from({ length: n }, async (_, i) => {
    try {
      out.set(new Uint8Array(await derive(sk, req.pks.subarray(32 * i, 32 * i + 32))), 32 * i);
    } catch {
      bad.push(i);
    }
  }));
  return { id: req.id, out, bad };
}

/** Whether WebCrypto here computes X25519 (a fixed key pair, checked once). */
async function supported(): Promise<boolean> {
  try {
    const pk = new Uint8Array(32);
    pk[0] = 9; // the base point
    const out = new Uint8Array(await derive(await importPrivate(new Uint8Array(32).fill(7)), pk));
    return out.some((b) => b !== 0);
  } catch {
    return false;
  }
}

/** Batches answered, read by web/test/listing.test.ts to see that the helper did the work. */
let batchesServed = 0;
Object.defineProperty(self, 'batchesServed', { get: () => batchesServed });

self.onmessage = async (ev: MessageEvent<{ port: MessagePort }>) => {
  const port = ev.data.port;
  if (!(port instanceof MessagePort)) return;
  self.onmessage = null;
  // One batch at a time, in order: each reply goes back as soon as its batch is done, so the
  // crypto worker works on it while this thread does the next.
  let chain = Promise.resolve();
  port.onmessage = (m: MessageEvent<DhRequest>) => {
    chain = chain.then(async () => {
      let reply: DhReply;
      try {
        reply = await serve(m.data);
      } catch {
        reply = { id: m.data?.id, out: new Uint8Array(0), bad: [] }; // too short: every key refused
      }
      port.postMessage(reply, [reply.out.buffer]);
      batchesServed++;
    });
  };
  port.postMessage({ ready: await supported() });
};
