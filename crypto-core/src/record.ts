// Sealed records (format §2): header || nonce[12] || AESGCM(key, nonce, body, header || context),
// or header || enc[32] || HPKE ciphertext for type 0x02.
import { fail } from './errors';
import { concat } from './bytes';
import { HPKE_ENC_BYTES, HPKE_INFO, hpkeOpen, hpkeSeal } from './hpke';
import { aesGcmOpen, aesGcmSeal, NONCE_BYTES, TAG_BYTES } from './primitives';
import { randomBytes } from './random';

export const RECORD_VERSION = 0x01; // format §2
export const HEADER_BYTES = 2;

export const RecordType = {
  keyWrap: 0x01,
  keyWrapHpke: 0x02,
  metadata: 0x03,
  manifest: 0x04,
  chunk: 0x05,
  linkPayload: 0x06,
  deviceName: 0x07,
} as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];


/** Bytes a record of `bodyLength` body bytes occupies (AES-GCM types). */
export function aeadRecordLength(bodyLength: number): number {
  return HEADER_BYTES + NONCE_BYTES + bodyLength + TAG_BYTES;
}

/**
 * The parser checks of format §2, in order: length (TRUNCATED), version (UNSUPPORTED_VERSION),
 * type (HEADER_INVALID). Authentication follows in the caller.
 */
export function checkHeader(record: Uint8Array, expected: RecordType): Uint8Array {
  const minimum = HEADER_BYTES + (expected === RecordType.keyWrapHpke ? HPKE_ENC_BYTES : NONCE_BYTES) + TAG_BYTES;
  if (record.length < minimum) fail('TRUNCATED', `record shorter than ${minimum} bytes`);
  if (record[0] !== RECORD_VERSION) fail('UNSUPPORTED_VERSION', `record version ${record[0]} is not supported`);
  if (record[1] !== expected) fail('HEADER_INVALID', `record type ${record[1]} where ${expected} was expected`);
  return record.subarray(0, HEADER_BYTES);
}

export async function sealAead(type: RecordType, key: Uint8Array, context: Uint8Array, body: Uint8Array): Promise<Uint8Array> {
  const header = new Uint8Array([RECORD_VERSION, type]);
  const nonce = randomBytes(NONCE_BYTES);
  const ct = await aesGcmSeal(key, nonce, body, concat(header, context));
  const record = new Uint8Array(HEADER_BYTES + NONCE_BYTES + ct.length);
  record.set(header, 0);
  record.set(nonce, HEADER_BYTES);
  record.set(ct, HEADER_BYTES + NONCE_BYTES);
  return record;
}

/** Returns the authenticated body (still padded for padded types). */
export async function openAead(type: RecordType, key: Uint8Array, context: Uint8Array, record: Uint8Array): Promise<Uint8Array> {
  const header = checkHeader(record, type);
  const nonce = record.subarray(HEADER_BYTES, HEADER_BYTES + NONCE_BYTES);
  return aesGcmOpen(key, nonce, record.subarray(HEADER_BYTES + NONCE_BYTES), concat(header, context));
}

export async function sealHpke(recipientPublicKey: Uint8Array, context: Uint8Array, pt: Uint8Array, cacheKey = false): Promise<Uint8Array> {
  const header = new Uint8Array([RECORD_VERSION, RecordType.keyWrapHpke]);
  const { enc, ct } = await hpkeSeal(recipientPublicKey, HPKE_INFO, concat(header, context), pt, cacheKey);
  return concat(header, enc, ct);
}

export async function openHpke(recipientPrivateKey: Uint8Array, context: Uint8Array, record: Uint8Array, cacheKey = false): Promise<Uint8Array> {
  const header = checkHeader(record, RecordType.keyWrapHpke);
  const enc = record.subarray(HEADER_BYTES, HEADER_BYTES + HPKE_ENC_BYTES);
  return hpkeOpen(recipientPrivateKey, enc, HPKE_INFO, concat(header, context), record.subarray(HEADER_BYTES + HPKE_ENC_BYTES), cacheKey);
}
