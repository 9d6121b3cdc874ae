// Bundled by browser.test.ts and run in a Chromium page and in a Web Worker: the same source as
// in Node, exercised end to end with known answers checked by the test.
import * as c from '../../src/index';
import { encryptStreamWith, hpkeSeal, primitives, setRandomSource } from '../../src/internal';

export interface SmokeInput {
  hpke: { ikmE: string; pkRm: string; info: string; aad: string; pt: string };
  passphrase: { passphrase: string; kdfParams: string };
}

const fromHex = (s: string) => c.fromHex(s);

export async function smoke(input: SmokeInput): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  out.webCryptoX25519 = await primitives.hasWebCryptoX25519();

  const { accountId, accountKey } = c.newAccount();
  const vault = await c.openVault(accountId, accountKey);
  const data = new Uint8Array(300_000).map((_, i) => (i * 7919) % 251);
  const chunks: c.EncryptedChunk[] = [];
  async function* source() {
    for (let at = 0; at < data.length; at += 10_000) yield data.subarray(at, at + 10_000);
  }
  for await (const ch of encryptStreamWith(vault, source(), { concurrency: 3 }, { min: 4096, avg: 16384, max: 65536 })) chunks.push(ch);
  const blobs = new Map(chunks.map((x) => [x.entry.chunkId, x.record]));
  const file = c.newNode();
  const keys = await c.nodeKeys(file.nodeId, file.secret);
  const manifest = await c.openManifest(keys, 1, await c.sealManifest(keys, 1, { size: data.length, chunks: chunks.map((x) => x.entry) }));
  const back = new Uint8Array(data.length + 1);
  let n = 0;
  for await (const pt of c.decryptStream(manifest, async (id) => blobs.get(id)!)) {
    back.set(pt.subarray(0, back.length - n), n);
    n += pt.length;
  }
  out.chunks = chunks.length;
  out.streamRoundTrip = n === data.length && data.every((b, i) => b === back[i]);

  const root = c.newNode();
  const rootKeys = await c.nodeKeys(root.nodeId, root.secret);
  const wrap = await c.wrapNodeSecret(file.secret, file.nodeId, rootKeys, vault);
  out.unwrap = c.toHex(await c.unwrapNodeSecret(wrap, file.nodeId, rootKeys, null)) === c.toHex(file.secret);
  out.metadata = await c.openMetadata(keys, await c.sealMetadata(keys, { name: 'cafe\u0301.txt', mime: 'text/plain', size: 1, mtime: 2 }));

  const h = input.hpke;
  setRandomSource(() => fromHex(h.ikmE));
  try {
    const sealed = await hpkeSeal(fromHex(h.pkRm), fromHex(h.info), fromHex(h.aad), fromHex(h.pt));
    out.hpke = { enc: c.toHex(sealed.enc), ct: c.toHex(sealed.ct) };
  } finally {
    setRandomSource(null);
  }

  const { loginKey } = await c.derivePassphraseKeys(input.passphrase.passphrase, c.decodeKdfParams(input.passphrase.kdfParams));
  out.loginKey = c.toHex(loginKey);
  return out;
}
