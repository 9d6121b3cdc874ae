// HPKE, RFC 9180 base mode, DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM, single-shot
// (format §1, §2 type 0x02), implemented directly from RFC 9180 §4, §5.1, §7.1:
// - X25519 through WebCrypto deriveBits when the runtime has it (else @noble/curves);
// - the key schedule (LabeledExtract / LabeledExpand on a few dozen bytes) with the synchronous
//   HMAC of sha256.ts, where a WebCrypto round trip per HMAC cost far more than the hash;
// - AES-256-GCM through primitives.ts (for a 32-byte key: synchronous @noble/ciphers where
//   WebCrypto is JavaScript, as in Node; WebCrypto in browsers).
// It replaced @hpke/core (which did ~25 async WebCrypto calls per Open); it passes the RFC 9180
// vectors of this suite (crypto-core/test/hpke.test.ts).
import { fail } from './errors';
import { concat, utf8, wipe } from './bytes';
import {
  aesGcmOpen, aesGcmSeal, hasWebCryptoX25519, hmacSha256Sync, hmacZeroKey, hmacZeroKeyInto, x25519Noble, x25519PublicKey,
  x25519WebCryptoDerive, x25519WebCryptoImportPrivate,
} from './primitives';
import { randomBytes } from './random';
import { cryptoBackend } from './backend';
import { hmacKeyStateInto, hmacSha256Into, hmacWithStateInto } from './sha256';

export const HPKE_ENC_BYTES = 32; // Nenc of DHKEM(X25519, HKDF-SHA256)
const N_SECRET = 32; // Nsecret, Nsk
const N_K = 32; // Nk of AES-256-GCM
const N_N = 12; // Nn

// RFC 9180 §4.1, §5.1: suite ids and labels.
const HPKE_V1 = utf8('HPKE-v1');
const KEM_SUITE = new Uint8Array([0x4b, 0x45, 0x4d, 0x00, 0x20]); // "KEM" || I2OSP(0x0020, 2)
const HPKE_SUITE = new Uint8Array([0x48, 0x50, 0x4b, 0x45, 0x00, 0x20, 0x00, 0x01, 0x00, 0x02]); // "HPKE" || kem || kdf || aead
const L_EAE_PRK = utf8('eae_prk');
const L_SHARED = utf8('shared_secret');
const L_DKP_PRK = utf8('dkp_prk');
const L_SK = utf8('sk');
const L_PSK_ID_HASH = utf8('psk_id_hash');
const L_INFO_HASH = utf8('info_hash');
const L_SECRET = utf8('secret');
const L_KEY = utf8('key');
const L_BASE_NONCE = utf8('base_nonce');
const SECRET_MSG = concat(HPKE_V1, HPKE_SUITE, L_SECRET); // LabeledExtract(., "secret", psk = "") message
const EMPTY = new Uint8Array(0);
const BASE_POINT = new Uint8Array(32); // u = 9
BASE_POINT[0] = 9;

/** LabeledExtract(salt, label, ikm) with an empty salt (HashLen zero bytes, RFC 5869). */
function labeledExtractNoSalt(suite: Uint8Array, label: Uint8Array, ikm: Uint8Array): Uint8Array {
  const msg = concat(HPKE_V1, suite, label, ikm);
  try {
    return hmacZeroKey(msg);
  } finally {
    wipe(msg);
  }
}

/** LabeledExpand(prk, label, info, L) for L ≤ 32: one HMAC block of HKDF-Expand (RFC 5869). */
function labeledExpand(prk: Uint8Array, suite: Uint8Array, label: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  const msg = concat(new Uint8Array([0, length]), HPKE_V1, suite, label, info, new Uint8Array([1]));
  const t = hmacSha256Sync(prk, msg);
  if (length === t.length) return t;
  const out = t.slice(0, length);
  wipe(t);
  return out;
}

// key_schedule_context = mode || psk_id_hash || info_hash (RFC 9180 §5.1), per info (one in practice).
const PSK_ID_HASH = labeledExtractNoSalt(HPKE_SUITE, L_PSK_ID_HASH, EMPTY);
const contexts = new Map<string, Uint8Array>();

/** The info of every Coffer HPKE record (format §2); never mutated. */
export const HPKE_INFO = utf8('coffer/v1/hpke');

function keyScheduleContext(info: Uint8Array): Uint8Array {
  if (info === HPKE_INFO) return hpkeInfoContext;
  const k = String.fromCharCode(...info);
  let ctx = contexts.get(k);
  if (!ctx) {
    ctx = concat(new Uint8Array([0x00]), PSK_ID_HASH, labeledExtractNoSalt(HPKE_SUITE, L_INFO_HASH, info));
    if (contexts.size < 16) contexts.set(k, ctx);
  }
  return ctx;
}

const hpkeInfoContext = keyScheduleContext(HPKE_INFO.slice());

// The key schedule's messages, laid out once: what varies (the DH output; enc || pkRm) is written
// into scratch buffers, and the two final expansions depend on `info` alone (one in practice).
const EAE_PREFIX = concat(HPKE_V1, KEM_SUITE, L_EAE_PRK);
const EAE_MSG = new Uint8Array(EAE_PREFIX.length + N_SECRET);
EAE_MSG.set(EAE_PREFIX);
const SHARED_PREFIX = concat(new Uint8Array([0, N_SECRET]), HPKE_V1, KEM_SUITE, L_SHARED);
const SHARED_MSG = new Uint8Array(SHARED_PREFIX.length + 2 * HPKE_ENC_BYTES + 1);
SHARED_MSG.set(SHARED_PREFIX);
SHARED_MSG[SHARED_MSG.length - 1] = 1;
// Intermediate secrets (wiped after each use).
const EAE_PRK = new Uint8Array(32);
const SHARED = new Uint8Array(32);
const SECRET = new Uint8Array(32);
const SECRET_STATE = new Int32Array(16);
const NONCE_BLOCK = new Uint8Array(32);

/** LabeledExpand messages for key and base_nonce: `I2OSP(L, 2) || "HPKE-v1" || suite || label || ctx || 0x01`. */
function expandMessagesOf(info: Uint8Array): { key: Uint8Array; nonce: Uint8Array } {
  const ctx = keyScheduleContext(info);
  return {
    key: concat(new Uint8Array([0, N_K]), HPKE_V1, HPKE_SUITE, L_KEY, ctx, new Uint8Array([1])),
    nonce: concat(new Uint8Array([0, N_N]), HPKE_V1, HPKE_SUITE, L_BASE_NONCE, ctx, new Uint8Array([1])),
  };
}

const hpkeInfoExpand = expandMessagesOf(HPKE_INFO);
const expandMessages = (info: Uint8Array) => (info === HPKE_INFO ? hpkeInfoExpand : expandMessagesOf(info));

/** ExtractAndExpand (RFC 9180 §4.1) then KeySchedule (§5.1), base mode: returns key and base_nonce. */
function keySchedule(dh: Uint8Array, enc: Uint8Array, pkRm: Uint8Array, info: Uint8Array): { key: Uint8Array; nonce: Uint8Array } {
  try {
    // eae_prk = LabeledExtract("", "eae_prk", dh)
    EAE_MSG.set(dh, EAE_PREFIX.length);
    hmacZeroKeyInto(EAE_MSG, EAE_MSG.length, EAE_PRK);
    // shared_secret = LabeledExpand(eae_prk, "shared_secret", enc || pkRm, Nsecret)
    SHARED_MSG.set(enc, SHARED_PREFIX.length);
    SHARED_MSG.set(pkRm, SHARED_PREFIX.length + HPKE_ENC_BYTES);
    hmacSha256Into(EAE_PRK, SHARED_MSG, SHARED_MSG.length, SHARED);
    // secret = LabeledExtract(shared_secret, "secret", psk = "")
    hmacSha256Into(SHARED, SECRET_MSG, SECRET_MSG.length, SECRET);
    hmacKeyStateInto(SECRET, SECRET_STATE); // keyed once for both expansions
    const msgs = expandMessages(info);
    const key = new Uint8Array(N_K);
    hmacWithStateInto(SECRET_STATE, msgs.key, msgs.key.length, key);
    hmacWithStateInto(SECRET_STATE, msgs.nonce, msgs.nonce.length, NONCE_BLOCK);
    return { key, nonce: NONCE_BLOCK.slice(0, N_N) };
  } finally {
    wipe(EAE_PRK, SHARED, SECRET, NONCE_BLOCK);
    EAE_MSG.fill(0, EAE_PREFIX.length);
    SECRET_STATE.fill(0);
  }
}

/** All-zero DH output: a low-order public key (RFC 9180 §7.1.4, RFC 7748 §6.1). */
function checkDh(dh: Uint8Array, message: string): void {
  let acc = 0;
  for (let i = 0; i < dh.length; i++) acc |= dh[i]!;
  if (acc === 0) fail('INVALID_KEY', message);
}

/**
 * DH(sk, pk): the injected backend's X25519 if any, else WebCrypto (when present), else @noble.
 * A rejected or low-order key is INVALID_KEY.
 */
async function dh(sk: Recipient, pk: Uint8Array, message: string): Promise<Uint8Array> {
  let out: Uint8Array;
  try {
    const backend = cryptoBackend();
    if (backend?.x25519) out = await backend.x25519(sk.raw, pk);
    else if (await hasWebCryptoX25519()) out = await x25519WebCryptoDerive(await (sk.key ??= x25519WebCryptoImportPrivate(sk.raw)), pk);
    else out = x25519Noble(sk.raw, pk);
  } catch {
    fail('INVALID_KEY', message);
  }
  checkDh(out, message);
  return out;
}

/** X25519(sk, 9): the public key, by the fastest available route. */
async function publicKeyOf(sk: Recipient): Promise<Uint8Array> {
  const backend = cryptoBackend();
  if (backend?.x25519) return backend.x25519(sk.raw, BASE_POINT);
  if (await hasWebCryptoX25519()) return x25519WebCryptoDerive(await (sk.key ??= x25519WebCryptoImportPrivate(sk.raw)), BASE_POINT);
  return x25519PublicKey(sk.raw);
}

/** Benchmarks only: the synchronous steps of Open, to time them apart. */
export const hpkeSteps = { keySchedule };

/** Tests only: forget cached imported keys (after primitives.forceNobleX25519). */
export function resetHpkeSuite(): void {
  recipients = new WeakMap();
}

/**
 * Seal(pkR, info, aad, pt). The ephemeral key pair is DeriveKeyPair(32 random bytes) (RFC 9180
 * §7.1.3), so an injected random source makes the output reproducible for format vectors.
 * (`_cache` is accepted for compatibility; public keys are imported per call.)
 */
export async function hpkeSeal(
  recipientPublicKey: Uint8Array, info: Uint8Array, aad: Uint8Array, pt: Uint8Array, _cache = false,
): Promise<{ enc: Uint8Array; ct: Uint8Array }> {
  const ikmE = randomBytes(32); // before any await, for deterministic injected sources
  let dkpPrk: Uint8Array | undefined;
  let skE: Uint8Array | undefined;
  let shared: Uint8Array | undefined;
  let ks: { key: Uint8Array; nonce: Uint8Array } | undefined;
  try {
    dkpPrk = labeledExtractNoSalt(KEM_SUITE, L_DKP_PRK, ikmE);
    skE = labeledExpand(dkpPrk, KEM_SUITE, L_SK, EMPTY, N_SECRET);
    const eph: Recipient = { raw: skE, key: null };
    let enc: Uint8Array;
    [enc, shared] = await Promise.all([
      publicKeyOf(eph), // pkE = X25519(skE, 9)
      dh(eph, recipientPublicKey, 'HPKE recipient public key rejected'),
    ]);
    ks = keySchedule(shared, enc, recipientPublicKey, info);
    return { enc, ct: await aesGcmSeal(ks.key, ks.nonce, pt, aad) };
  } finally {
    wipe(ikmE, dkpPrk, skE, shared, ks?.key, ks?.nonce);
  }
}

/** A private key; its WebCrypto import is made on first use (not at all with a backend). */
interface Recipient { raw: Uint8Array; key: Promise<CryptoKey> | null }

// Long-lived recipient keys (a folder's or the account's) with their public halves, so opening
// the children of one folder imports the key and computes its public half once, not per child.
let recipients = new WeakMap<Uint8Array, Promise<{ r: Recipient; pkRm: Uint8Array }>>();

async function importRecipient(skR: Uint8Array): Promise<{ r: Recipient; pkRm: Uint8Array }> {
  const r: Recipient = { raw: skR, key: null };
  return { r, pkRm: await publicKeyOf(r) };
}

/**
 * Open(skR, enc, info, aad, ct): AUTH_FAILED for a bad tag, INVALID_KEY for a low-order `enc`.
 * `cache` is for private keys this library derived and never hands out (so never mutated).
 */
export async function hpkeOpen(
  recipientPrivateKey: Uint8Array, enc: Uint8Array, info: Uint8Array, aad: Uint8Array, ct: Uint8Array, cache = false,
): Promise<Uint8Array> {
  let r = cache ? recipients.get(recipientPrivateKey) : undefined;
  if (!r) {
    r = importRecipient(recipientPrivateKey);
    if (cache) {
      recipients.set(recipientPrivateKey, r);
      r.catch(() => recipients.delete(recipientPrivateKey));
    }
  }
  const { r: sk, pkRm } = await r;
  const shared = await dh(sk, enc, 'HPKE encapsulated key rejected');
  const ks = keySchedule(shared, enc, pkRm, info);
  try {
    return await aesGcmOpen(ks.key, ks.nonce, ct, aad);
  } finally {
    wipe(shared, ks.key, ks.nonce);
  }
}
