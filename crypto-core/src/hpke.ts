// HPKE, RFC 9180 base mode, DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM, single-shot
// (format §1, §2 type 0x02). Backed by @hpke/core, which passes the RFC 9180 vectors of this suite
// (crypto-core/test/hpke.test.ts). Its KEM uses WebCrypto X25519 when the runtime has it; otherwise
// the @noble-backed KEM from @hpke/dhkem-x25519 is used.
import { Aes256Gcm, CipherSuite, DecapError, DhkemX25519HkdfSha256 as WebCryptoKem, EncapError, HkdfSha256, OpenError } from '@hpke/core';
import { DhkemX25519HkdfSha256 as NobleKem } from '@hpke/dhkem-x25519';
import { fail } from './errors';
import { wipe } from './bytes';
import { hasWebCryptoX25519, x25519PublicKey } from './primitives';
import { randomBytes } from './random';

export const HPKE_ENC_BYTES = 32; // Nenc of DHKEM(X25519, HKDF-SHA256)

let suitePromise: Promise<CipherSuite> | null = null;

function suite(): Promise<CipherSuite> {
  suitePromise ??= (async () =>
    new CipherSuite({
      kem: (await hasWebCryptoX25519()) ? new WebCryptoKem() : new NobleKem(),
      kdf: new HkdfSha256(),
      aead: new Aes256Gcm(),
    }))();
  return suitePromise;
}

/** Tests only: choose the KEM again (after primitives.forceNobleX25519), dropping keys imported by the old one. */
export function resetHpkeSuite(): void {
  suitePromise = null;
  recipientPublicKeys = new WeakMap();
  recipientPairs = new WeakMap();
}

const ab = (b: Uint8Array): ArrayBuffer => b.slice().buffer;

// Imported public keys of folders and accounts (library-derived arrays), reused across wraps.
let recipientPublicKeys = new WeakMap<Uint8Array, Promise<CryptoKey>>();

/**
 * Seal(pkR, info, aad, pt). The ephemeral key pair is DeriveKeyPair(32 random bytes) (RFC 9180
 * §7.1.3), so an injected random source makes the output reproducible for format vectors.
 */
export async function hpkeSeal(
  recipientPublicKey: Uint8Array, info: Uint8Array, aad: Uint8Array, pt: Uint8Array, cache = false,
): Promise<{ enc: Uint8Array; ct: Uint8Array }> {
  const ikmE = randomBytes(32); // before any await, for deterministic injected sources
  try {
    const s = await suite();
    const ekm = await s.kem.deriveKeyPair(ab(ikmE));
    let pkR = cache ? recipientPublicKeys.get(recipientPublicKey) : undefined;
    if (!pkR) {
      pkR = s.kem.deserializePublicKey(ab(recipientPublicKey));
      if (cache) recipientPublicKeys.set(recipientPublicKey, pkR);
    }
    const { ct, enc } = await s.seal({ recipientPublicKey: await pkR, info: ab(info), ekm }, ab(pt), ab(aad));
    return { enc: new Uint8Array(enc), ct: new Uint8Array(ct) };
  } catch (e) {
    // DH with a low-order public key gives an all-zero secret, which the KEM refuses.
    if (e instanceof EncapError || e instanceof DecapError) fail('INVALID_KEY', 'HPKE recipient public key rejected');
    throw e;
  } finally {
    wipe(ikmE);
  }
}

// Imported key pairs of long-lived recipient keys (a folder's or the account's), so opening the
// children of one folder imports the key and computes its public half once, not per child.
let recipientPairs = new WeakMap<Uint8Array, Promise<CryptoKeyPair>>();

function importRecipient(s: CipherSuite, sk: Uint8Array): Promise<CryptoKeyPair> {
  return (async () => ({
    privateKey: await s.kem.importKey('raw', ab(sk), false),
    publicKey: await s.kem.importKey('raw', ab(x25519PublicKey(sk)), true),
  }))();
}

/**
 * Open(skR, enc, info, aad, ct): AUTH_FAILED for a bad tag, INVALID_KEY for a low-order `enc`.
 * `cache` is for private keys this library derived and never hands out (so never mutated).
 */
export async function hpkeOpen(
  recipientPrivateKey: Uint8Array, enc: Uint8Array, info: Uint8Array, aad: Uint8Array, ct: Uint8Array, cache = false,
): Promise<Uint8Array> {
  const s = await suite();
  let pair = cache ? recipientPairs.get(recipientPrivateKey) : undefined;
  if (!pair) {
    pair = importRecipient(s, recipientPrivateKey);
    if (cache) recipientPairs.set(recipientPrivateKey, pair);
  }
  try {
    return new Uint8Array(await s.open({ recipientKey: await pair, enc: ab(enc), info: ab(info) }, ab(ct), ab(aad)));
  } catch (e) {
    if (e instanceof DecapError) fail('INVALID_KEY', 'HPKE encapsulated key rejected');
    if (e instanceof OpenError) fail('AUTH_FAILED', 'authentication failed');
    throw e;
  }
}
