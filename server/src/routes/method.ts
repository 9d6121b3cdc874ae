import type { Env, Hono } from 'hono';
import { ApiError } from '../errors.js';

/** Answers 405 METHOD_NOT_ALLOWED on `paths` for every method not registered before this call. */
export function refuseOtherMethods<E extends Env>(r: Hono<E>, paths: readonly string[]): void {
  for (const path of paths) {
    r.all(path, () => { throw new ApiError(405, 'METHOD_NOT_ALLOWED', 'Method not allowed'); });
  }
}
