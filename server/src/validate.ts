// Hand-written input validation. Each reader takes an unknown value and the name of the field it
// came from, returns the typed value, or throws 400 INVALID_INPUT naming the field.
import type { Context } from 'hono';
import { ApiError, invalid } from './errors.js';

export type JsonObject = Record<string, unknown>;

/** Parses the request body as a JSON object; 400 MALFORMED_JSON otherwise. */
export async function readJson(c: Context): Promise<JsonObject> {
  return parseJsonObject(await c.req.text());
}

/** Like readJson, for a body already read; an empty body is `{}` when `emptyIsObject`. */
export function parseJsonObject(text: string, emptyIsObject = false): JsonObject {
  if (emptyIsObject && text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ApiError(400, 'MALFORMED_JSON', 'The request body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ApiError(400, 'MALFORMED_JSON', 'The request body must be a JSON object');
  }
  return value as JsonObject;
}

export function object(v: unknown, field: string): JsonObject {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(`${field} must be an object`);
  return v as JsonObject;
}

/** Lowercase hex of exactly `bytes` bytes (format §1: ids are lowercase hex of fixed length). */
export function hex(v: unknown, field: string, bytes: number): string {
  if (typeof v !== 'string' || v.length !== bytes * 2 || !/^[0-9a-f]*$/.test(v)) {
    throw invalid(`${field} must be ${bytes * 2} lowercase hex digits`);
  }
  return v;
}

export const id16 = (v: unknown, field: string) => hex(v, field, 16);
export const id32 = (v: unknown, field: string) => hex(v, field, 32);

/** Canonical base64url without padding (format §1), decoding to `min`..`max` bytes. */
export function base64url(v: unknown, field: string, max: number, min = 1): string {
  if (typeof v !== 'string' || !/^[A-Za-z0-9_-]*$/.test(v) || v.length % 4 === 1) {
    throw invalid(`${field} must be base64url without padding`);
  }
  const bytes = Buffer.from(v, 'base64url');
  if (bytes.toString('base64url') !== v) throw invalid(`${field} is not canonical base64url`);
  if (bytes.length < min || bytes.length > max) throw invalid(`${field} must be ${min}..${max} bytes`);
  return v;
}

/** Base64url of exactly `n` bytes. */
export const base64urlExact = (v: unknown, field: string, n: number) => base64url(v, field, n, n);

export function integer(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw invalid(`${field} must be an integer in ${min}..${max}`);
  }
  return v;
}

export function oneOf<T extends string>(v: unknown, field: string, values: readonly T[]): T {
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
    throw invalid(`${field} must be one of ${values.join(', ')}`);
  }
  return v as T;
}

export function string(v: unknown, field: string, maxLength: number): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > maxLength) {
    throw invalid(`${field} must be a string of 1..${maxLength} characters`);
  }
  return v;
}

export function array(v: unknown, field: string, maxItems: number): unknown[] {
  if (!Array.isArray(v) || v.length > maxItems) throw invalid(`${field} must be an array of at most ${maxItems} items`);
  return v;
}

/** Reads an optional member: undefined stays undefined, anything else goes through `read`. */
export function optional<T>(v: unknown, read: (v: unknown) => T): T | undefined {
  return v === undefined ? undefined : read(v);
}

export function email(v: unknown): string {
  const s = string(v, 'email', 254).trim().toLowerCase();
  // No white space and no control characters (a NUL would reach the database's text column).
  if (!/^[^\s@\p{Cc}]+@[^\s@\p{Cc}]+$/u.test(s)) throw invalid('email is not an e-mail address');
  return s;
}

/** A query parameter as an integer, with a default when absent. */
export function queryInt(raw: string | undefined, field: string, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  if (!/^\d{1,15}$/.test(raw)) throw invalid(`${field} must be a whole number`);
  return integer(Number(raw), field, min, max);
}

/** Accepts only these members in an object, so typos fail loudly instead of being ignored. */
export function onlyKeys(o: JsonObject, allowed: readonly string[], field = 'body'): void {
  for (const key of Object.keys(o)) {
    if (!allowed.includes(key)) throw invalid(`${field} has an unknown member "${key}"`);
  }
}
