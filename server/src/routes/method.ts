import type { Hono } from 'hono';
import type { AppEnv } from '../context.js';
import { ApiError } from '../errors.js';

/** Answers 405 METHOD_NOT_ALLOWED on `paths` for every method not registered before this call. */
export function refuseOtherMethods(r: Hono<AppEnv>, paths: readonly string[]): void {
  for (const path of paths) {
    r.all(path, () => { throw new ApiError(405, 'METHOD_NOT_ALLOWED', 'Method not allowed'); });
  }
}
