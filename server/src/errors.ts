// The one error type of the server. Handlers throw it; app.ts turns it into `{code, message}`.
import type { ContentfulStatusCode } from 'hono/utils/http-status';

export class ApiError extends Error {
  readonly status: ContentfulStatusCode;
  readonly code: string;
  /** Extra members of the JSON answer, e.g. `{ currentVersion }` or `{ missing }`. */
  readonly details: Record<string, unknown>;
  /** Extra response headers, e.g. Retry-After. */
  readonly headers: Record<string, string>;

  constructor(
    status: ContentfulStatusCode,
    code: string,
    message: string,
    details: Record<string, unknown> = {},
    headers: Record<string, string> = {},
  ) {
    // An answer to the client, not a fault: no stack trace, whose capture costs more than the
    // rest of a 401 or 404.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
    this.headers = headers;
  }
}

export const notFound = (what = 'Not found') => new ApiError(404, 'NOT_FOUND', what);
export const invalid = (message: string) => new ApiError(400, 'INVALID_INPUT', message);
