// The one error type of the server. Handlers throw it; app.ts turns it into `{code, message}`.
import type { ContentfulStatusCode } from 'hono/utils/http-status';

export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    /** Extra members of the JSON answer, e.g. `{ currentVersion }` or `{ missing }`. */
    readonly details: Record<string, unknown> = {},
    /** Extra response headers, e.g. Retry-After. */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const notFound = (what = 'Not found') => new ApiError(404, 'NOT_FOUND', what);
export const invalid = (message: string) => new ApiError(400, 'INVALID_INPUT', message);
