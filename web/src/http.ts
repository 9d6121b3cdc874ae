// The one HTTP client of the web vault, used by the page and by the crypto worker (no DOM here).
// Clients branch on `code` (docs/api.md), never on `message`. Nothing secret ever goes into a URL.

export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly body: Record<string, unknown> = {},
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/**
 * Session state, one copy in the page and one in the worker: the CSRF token that goes with the
 * cookie, and the account the keys opened here belong to.
 */
export const session: { csrfToken: string | null; accountId: string | null; linkAccess: string | null } = {
  csrfToken: null, accountId: null, linkAccess: null,
};

let sessionEndedHandler: (() => void) | null = null;

/**
 * Who is told when the server answers 401 UNAUTHENTICATED: the session was logged out, ended from
 * another device, or expired. Only the page sets one (App), to drop the keys and ask for a log-in.
 */
export function onSessionEnded(handler: (() => void) | null): void {
  sessionEndedHandler = handler;
}

/** Tells the handler, if any, that the server refused the session (also for the worker's calls). */
export function sessionEnded(): void {
  sessionEndedHandler?.();
}

export interface RequestOptions {
  method?: string;
  json?: unknown;
  body?: BodyInit;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/**
 * Every tab of a browser shares the cookie, so a log-in in another tab replaces the session this
 * one's token belongs to. Takes the current session's token when it is the same account's (true),
 * and ends this tab's session when it is another account's: its keys do not belong there.
 */
async function renewCsrfToken(): Promise<boolean> {
  if (session.accountId === null) return false;
  const acct = await api<{ accountId: string; csrfToken?: string }>('/api/account');
  if (acct.accountId !== session.accountId || !acct.csrfToken) {
    sessionEnded();
    throw new ApiError('UNAUTHENTICATED', 'Another account logged in in this browser.', 401);
  }
  session.csrfToken = acct.csrfToken;
  return true;
}

async function send(path: string, opts: RequestOptions = {}, retried = false): Promise<Response> {
  const method = opts.method ?? (opts.json !== undefined || opts.body !== undefined ? 'POST' : 'GET');
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  let body = opts.body;
  if (opts.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.json);
  }
  if (method !== 'GET' && method !== 'HEAD' && session.csrfToken) headers['X-CSRF-Token'] = session.csrfToken;
  if (session.linkAccess && path.startsWith('/api/public/')) headers['X-Link-Access'] = session.linkAccess;
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body, credentials: 'same-origin', signal: opts.signal ?? null, cache: 'no-store' });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new ApiError('UNREACHABLE', 'The server cannot be reached. Check your connection and try again.', 0);
  }
  if (!res.ok) {
    let data: Record<string, unknown> = {};
    try {
      data = (await res.json()) as Record<string, unknown>;
    } catch {
      /* not JSON: a proxy or a crash */
    }
    const code = typeof data.code === 'string' ? data.code : res.status >= 500 ? 'SERVER_ERROR' : `HTTP_${res.status}`;
    const message = typeof data.message === 'string' ? data.message : res.statusText || `HTTP ${res.status}`;
    if (res.status === 401 && code === 'UNAUTHENTICATED' ) sessionEnded();
    if (code === 'CSRF_FAILED' && !retried && !(body instanceof ReadableStream) && (await renewCsrfToken())) {
      return send(path, opts, true);
    }
    const ra = Number(res.headers.get('Retry-After'));
    throw new ApiError(code, message, res.status, data, Number.isFinite(ra) && ra > 0 ? ra : undefined);
  }
  return res;
}

export async function api<T = unknown>(path: string, opts: RequestOptions = {}): Promise<T> {
  const res = await send(path, opts);
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

export async function apiBytes(path: string, opts: RequestOptions = {}): Promise<Uint8Array> {
  const res = await send(path, opts);
  return new Uint8Array(await res.arrayBuffer());
}

/** A user-facing sentence for an error code; the UI never shows raw stack traces. */
export function describeError(err: unknown): string {
  const code = errorCode(err);
  switch (code) {
    case 'LOGIN_FAILED': return 'Wrong e-mail or passphrase.';
    case 'RATE_LIMITED': {
      const ra = err instanceof ApiError ? err.retryAfter : undefined;
      return `Too many attempts. Please wait${ra ? ` ${ra} s` : ' a moment'} and try again.`;
    }
    case 'UNREACHABLE': return 'The server cannot be reached. Check your connection and try again.';
    case 'EMAIL_TAKEN': return 'An account with this e-mail already exists.';
    case 'NAME_TAKEN': return 'An item with this name already exists here.';
    case 'MOVE_CYCLE': return 'A folder cannot be moved into itself.';
    case 'PARENT_TRASHED': return 'Its folder is in the trash too: restore the folder first.';
    case 'QUOTA_EXCEEDED': return 'Your storage is full.';
    case 'UNAUTHENTICATED': return 'Your session has ended. Please log in again.';
    case 'CSRF_FAILED': return 'This tab lost its session. Reload the page to continue.';
    case 'AUTH_FAILED': return 'Integrity check failed: the data was altered or is corrupt. Nothing was saved as good.';
    case 'TRUNCATED': return 'Integrity check failed: the data is incomplete. Nothing was saved as good.';
    case 'WRONG_PASSPHRASE': return 'Wrong passphrase.';
    case 'PASSWORD_WRONG': return 'Wrong password.';
    case 'PASSWORD_REQUIRED': return 'This link needs a password.';
    case 'LINK_NOT_FOUND': return 'This link does not exist.';
    case 'LINK_EXPIRED': return 'This link has expired.';
    case 'LINK_EXHAUSTED': return 'This link was opened as many times as its owner allowed.';
    case 'LINK_REVOKED': return 'This link was revoked by its owner.';
    case 'METADATA_INVALID': return 'That name is not allowed (1–255 bytes, no "/", not "." or "..").';
    case 'CANCELLED': return 'Cancelled.';
    case 'VERSION_CONFLICT': return 'The file changed meanwhile; try again.';
    default:
      return err instanceof Error ? err.message : String(err);
  }
}

export function errorCode(err: unknown): string {
  if (err && typeof err === 'object' && 'code' in err && typeof (err as { code: unknown }).code === 'string') {
    return (err as { code: string }).code;
  }
  return 'UNKNOWN';
}

const INTEGRITY = ['AUTH_FAILED', 'TRUNCATED', 'MANIFEST_INVALID', 'PADDING_INVALID', 'UNSUPPORTED_VERSION', 'HEADER_INVALID'];
/** True when decryption refused the data (tampered, truncated, foreign); also for errors that lost their code crossing a stream. */
export function isIntegrityError(err: unknown): boolean {
  if (INTEGRITY.includes(errorCode(err))) return true;
  const msg = err instanceof Error ? err.message : String(err);
  return INTEGRITY.some((c) => msg.startsWith(`${c}:`));
}
