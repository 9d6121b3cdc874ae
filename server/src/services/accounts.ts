// Login verifiers and KDF parameters (format §4.1).
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { KDF_MAX_M, KDF_MAX_T, KDF_MIN_M, KDF_MIN_T } from '@coffer/crypto-core';
import { invalid } from '../errors.js';
import { base64urlExact } from '../validate.js';

/** SHA256("coffer/v1/login-verifier" || loginKey) in hex (format §4.1). */
export function loginVerifier(loginKey: string): string {
  return createHash('sha256').update('coffer/v1/login-verifier').update(Buffer.from(loginKey, 'base64url')).digest('hex');
}

/** Constant-time comparison of two hex verifiers of equal length. */
export function verifierMatches(stored: string, candidate: string): boolean {
  const a = Buffer.from(stored, 'hex');
  const b = Buffer.from(candidate, 'hex');
  return a.length === b.length && a.length > 0 && timingSafeEqual(a, b);
}

/** A verifier no login key produces in practice, compared against for unknown e-mails. */
export const DUMMY_VERIFIER = randomBytes(32).toString('hex');

/** Encoded KDF parameters (26 bytes, format §4.1), with the floor m ≥ 65536, t ≥ 3, p = 1. */
/**
 * Encoded Argon2id parameters within the floor and the ceiling of format §4.1: clients refuse
 * parameters above the ceiling, so an account or a link stored with them could never be opened.
 */
export function kdfParams(v: unknown, field: string): string {
  const text = base64urlExact(v, field, 26);
  const b = Buffer.from(text, 'base64url');
  const m = b.readUInt32BE(1);
  const t = b.readUInt32BE(5);
  if (b[0] !== 0x01 || m < KDF_MIN_M || m > KDF_MAX_M || t < KDF_MIN_T || t > KDF_MAX_T || b[9] !== 1) {
    throw invalid(`${field} must be argon2id parameters with ${KDF_MIN_M} ≤ m ≤ ${KDF_MAX_M}, ${KDF_MIN_T} ≤ t ≤ ${KDF_MAX_T}, p = 1 (format §4.1)`);
  }
  return text;
}

/**
 * Stable fake KDF parameters for an e-mail without an account, so prelogin does not reveal which
 * e-mails exist: the default parameters with a salt of HMAC(secret, email).
 */
export function fakeKdf(secret: Uint8Array, email: string): string {
  const salt = createHmac('sha256', secret).update('coffer/fake-kdf').update(email).digest().subarray(0, 16);
  const b = Buffer.alloc(26);
  b[0] = 0x01;
  b.writeUInt32BE(65536, 1);
  b.writeUInt32BE(3, 5);
  b[9] = 1;
  salt.copy(b, 10);
  return b.toString('base64url');
}
