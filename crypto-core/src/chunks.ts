// Chunk ids and chunk records (format §6.2, §6.3).
import { fail } from './errors';
import { assertBytes, concat, idBytes, toHex, utf8 } from './bytes';
import { aesGcmOpen, aesGcmSealSync, hmacSha256, hmacSha256Sync, importAesKey, NONCE_BYTES, TAG_BYTES, useSyncAes } from './primitives';
import { cryptoBackend, owned } from './backend';
import { vaultInternals, type Vault } from './account';
import { aeadRecordLength, checkHeader, HEADER_BYTES, RECORD_VERSION, RecordType } from './record';
import { padLen, unpad } from './padding';
import { randomBytes } from './random';
import { MAX_CHUNK } from './fastcdc';

export const CHUNK_ID_BYTES = 32;
const CHUNK_LABEL = utf8('coffer/v1/chunk'); // format §2
const CHUNK_HEADER = new Uint8Array([RECORD_VERSION, RecordType.chunk]);
const CHUNK_AAD_PREFIX = concat(CHUNK_HEADER, CHUNK_LABEL); // format §6.3: AAD = header || label || id

export interface ManifestEntry { chunkId: string; chunkKey: Uint8Array; plainLength: number; storedLength: number }

/** storedLength of a chunk of `plainLength` bytes (format §7). */
export function storedLengthOf(plainLength: number): number {
  return aeadRecordLength(padLen(plainLength + 1));
}

/** chunkId = HMAC(chunkIdKey, chunk), hex (format §6.2). */
export async function chunkIdOf(vault: Vault, bytes: Uint8Array): Promise<string> {
  assertBytes('bytes', bytes);
  const v = vaultInternals(vault);
  const backend = cryptoBackend();
  return toHex(backend?.hmacSha256 ? await backend.hmacSha256(v.chunkIdKeyBytes, bytes) : await hmacSha256(v.chunkIdKey, bytes));
}

/**
 * Encrypts one chunk whose plaintext is `body[0 .. plainLength)` and whose padding (format §3) is
 * already in place after it. Taking the padded buffer saves a copy of every chunk. `release` is
 * called once the buffer may be reused: with no argument for body.buffer itself, or with the
 * buffer a backend's sealChunk handed back after transferring it. `recordBuffer` gives the buffer
 * to build the record in, where the record is built on this thread (EncryptOptions.recordBuffer).
 */
export async function sealPaddedChunk(
  vault: Vault, body: Uint8Array, plainLength: number, release?: (buffer?: ArrayBufferLike) => void,
  recordBuffer: (length: number) => Uint8Array = (length) => new Uint8Array(length),
): Promise<{ entry: ManifestEntry; record: Uint8Array }> {
  const v = vaultInternals(vault);
  // Drawn before the first await so an injected random source stays deterministic under concurrency.
  const nonce = randomBytes(NONCE_BYTES);
  const backend = cryptoBackend();
  if (backend?.sealChunk) {
    const bodyLength = body.length;
    const out = await backend.sealChunk({
      idKey: v.chunkIdKeyBytes, keyKey: v.chunkKeyKeyBytes, header: CHUNK_HEADER, nonce, aadPrefix: CHUNK_AAD_PREFIX, body, plainLength,
    });
    if (typeof out !== 'object' || out === null) throw new TypeError('crypto backend sealChunk must return a SealedChunk');
    release?.(out.body instanceof Uint8Array ? out.body.buffer : undefined);
    const id = owned(out.id), chunkKey = owned(out.key), record = owned(out.record);
    if (id.length !== CHUNK_ID_BYTES || chunkKey.length !== 32 || record.length !== HEADER_BYTES + NONCE_BYTES + bodyLength + TAG_BYTES) {
      throw new TypeError('crypto backend sealChunk returned values of the wrong length');
    }
    return { entry: { chunkId: toHex(id), chunkKey, plainLength, storedLength: record.length }, record };
  }
  const plain = body.subarray(0, plainLength);
  const id = backend?.hmacSha256 ? owned(await backend.hmacSha256(v.chunkIdKeyBytes, plain)) : await hmacSha256(v.chunkIdKey, plain); // format §6.2
  // format §6.3: a 32-byte message, where synchronous HMAC is far cheaper than a WebCrypto job.
  const chunkKey = hmacSha256Sync(v.chunkKeyKeyBytes, id);
  const aad = new Uint8Array(HEADER_BYTES + CHUNK_LABEL.length + CHUNK_ID_BYTES);
  aad.set(CHUNK_HEADER, 0);
  aad.set(CHUNK_LABEL, HEADER_BYTES);
  aad.set(id, HEADER_BYTES + CHUNK_LABEL.length);
  let record: Uint8Array;
  if (backend?.aesGcmSealInto) {
    // Encrypt straight into the record: no intermediate ciphertext buffer.
    record = callerBuffer('recordBuffer', recordBuffer, HEADER_BYTES + NONCE_BYTES + body.length + TAG_BYTES);
    const sealing = backend.aesGcmSealInto(chunkKey, nonce, body, aad, record.subarray(HEADER_BYTES + NONCE_BYTES));
    release?.(); // a backend must not read `body` after aesGcmSealInto returned (see backend.ts)
    await sealing;
  } else {
    let sealing: Promise<ArrayBuffer | Uint8Array> | Uint8Array;
    if (backend?.aesGcmSeal) {
      sealing = backend.aesGcmSeal(chunkKey, nonce, body, aad);
    } else if (useSyncAes(chunkKey, nonce, body.length)) {
      sealing = aesGcmSealSync(chunkKey, nonce, body, aad); // a small file's only chunk (primitives.ts)
    } else {
      const key = await importAesKey(chunkKey, 'encrypt');
      sealing = globalThis.crypto.subtle.encrypt(
        { name: 'AES-GCM', iv: nonce as Uint8Array<ArrayBuffer>, additionalData: aad as Uint8Array<ArrayBuffer>, tagLength: 128 },
        key,
        body as Uint8Array<ArrayBuffer>,
      );
    }
    // WebCrypto copies its input before encrypt() returns, so the caller may reuse `body` now; a
    // backend must likewise not read `body` after aesGcmSeal returned (its promise may be pending).
    release?.();
    const out = await sealing;
    const ct = out instanceof Uint8Array ? out : new Uint8Array(out);
    record = callerBuffer('recordBuffer', recordBuffer, HEADER_BYTES + NONCE_BYTES + ct.length);
    record.set(ct, HEADER_BYTES + NONCE_BYTES);
  }
  record.set(CHUNK_HEADER, 0);
  record.set(nonce, HEADER_BYTES);
  return { entry: { chunkId: toHex(id), chunkKey, plainLength, storedLength: record.length }, record };
}

/** A buffer from a caller's `give`, checked to be a Uint8Array of exactly `length` bytes. */
function callerBuffer(name: string, give: (length: number) => Uint8Array, length: number): Uint8Array {
  const b = give(length);
  if (!(b instanceof Uint8Array) || b.length !== length) throw new TypeError(`${name} must return a Uint8Array of ${length} bytes`);
  return b;
}

export function checkEntry(entry: ManifestEntry, name = 'entry'): Uint8Array {
  if (typeof entry !== 'object' || entry === null) throw new TypeError(`${name} must be a ManifestEntry`);
  const id = idBytes(`${name}.chunkId`, entry.chunkId, CHUNK_ID_BYTES);
  assertBytes(`${name}.chunkKey`, entry.chunkKey, 32);
  if (!Number.isSafeInteger(entry.plainLength) || entry.plainLength < 1 || entry.plainLength > MAX_CHUNK) {
    fail('MANIFEST_INVALID', 'plainLength out of range');
  }
  if (entry.storedLength !== storedLengthOf(entry.plainLength)) fail('MANIFEST_INVALID', 'storedLength does not match plainLength');
  return id;
}

/**
 * Checks storedLength (TRUNCATED), then the header, then the tag, then padding and length (format §7).
 * With `plainBuffer`, and a backend that has aesGcmOpenInto, the padded plaintext is decrypted into
 * the buffer it gives (of exactly the length asked) and the result is a view into that buffer;
 * otherwise into a new one.
 */
export async function decryptChunk(entry: ManifestEntry, record: Uint8Array, plainBuffer?: (length: number) => Uint8Array): Promise<Uint8Array> {
  const id = checkEntry(entry);
  assertBytes('record', record);
  if (record.length !== entry.storedLength) fail('TRUNCATED', 'chunk record length differs from storedLength');
  const header = checkHeader(record, RecordType.chunk);
  const nonce = record.subarray(HEADER_BYTES, HEADER_BYTES + NONCE_BYTES);
  const ctAndTag = record.subarray(HEADER_BYTES + NONCE_BYTES);
  const aad = concat(header, CHUNK_LABEL, id);
  const backend = cryptoBackend();
  let body: Uint8Array;
  if (plainBuffer && backend?.aesGcmOpenInto) {
    body = callerBuffer('plainBuffer', plainBuffer, ctAndTag.length - TAG_BYTES);
    try {
      await backend.aesGcmOpenInto(entry.chunkKey, nonce, ctAndTag, aad, body);
    } catch {
      body.fill(0); // no unverified plaintext stays
      fail('AUTH_FAILED', 'authentication failed');
    }
  } else {
    body = await aesGcmOpen(entry.chunkKey, nonce, ctAndTag, aad);
  }
  const pt = unpad(body);
  if (pt.length !== entry.plainLength) fail('MANIFEST_INVALID', 'chunk length differs from the manifest');
  return pt;
}
