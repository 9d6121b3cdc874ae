// A small HTTP client for the Coffer API: JSON in and out, bearer auth, retries with backoff on
// network errors, 429 and 5xx-unavailable answers. Error messages carry the method and path only
// (never a query string, a token or a link fragment).
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { ApiError, CliError, EXIT } from './errors.ts';

export interface RequestOptions {
  body?: unknown;              // JSON body
  /** A binary body (application/octet-stream): one buffer, or parts sent one after another. */
  raw?: Uint8Array | readonly Uint8Array[];
  headers?: Record<string, string>;
  /** Answer statuses that are returned instead of thrown. */
  accept?: number[];
  /** A binary exchange (chunk records): a good answer's bytes are kept as they came (see send). */
  binary?: boolean;
  /**
   * bytes() only: gives the buffer, of exactly the length asked, that a good answer of known
   * length is read into (a BufferPool's, so that the caller can reuse it).
   */
  into?: (length: number) => Uint8Array;
  /** One attempt, answered within 10 s, no retries (for work that is only worth trying). */
  once?: boolean;
}

const RETRY_STATUS = new Set([429, 502, 503, 504]);
// How long one request keeps retrying: longer than a server takes to restart (~10 s), short enough
// that a server that is gone is reported within a minute. COFFER_RETRY_SECONDS sets it (tests).
const RETRY_SECONDS = 45;
const BACKOFF_CAP_MS = 5000;
// Tries made whatever the time: an attempt that hung until COFFER_HTTP_TIMEOUT has used the budget
// up by itself, and one hang is not a server that is gone.
const MIN_ATTEMPTS = 3;
const ONCE_TIMEOUT_MS = 10_000;

/** The codes of the errors a request gives up with: nothing was wrong with the request itself. */
export const NETWORK_CODES = new Set(['SERVER_UNREACHABLE', 'CONNECTION_LOST']);

function retryBudgetMs(): number {
  const v = process.env.COFFER_RETRY_SECONDS;
  return (v !== undefined && /^\d+(\.\d+)?$/.test(v) ? Number(v) : RETRY_SECONDS) * 1000;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export class Api {
  readonly base: string;
  /** Bytes of request bodies sent (for `--json` reports and the benchmark). */
  bytesSent = 0;
  bytesReceived = 0;

  constructor(server: string, private token?: string, private extraHeaders: Record<string, string> = {}) {
    this.base = normaliseServer(server);
  }

  setToken(token: string): void {
    this.token = token;
  }

  setHeader(name: string, value: string): void {
    this.extraHeaders[name] = value;
  }

  /** Sends a request, retrying on network errors and 429/502/503/504; returns the accepted answer. */
  async fetch(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
    return this.request(method, path, opts, async (res) => res);
  }

  async json<T = Record<string, unknown>>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const text = await this.request(method, path, opts, async (res) => (res.status === 204 ? '' : res.text()));
    this.bytesReceived += text.length;
    if (!text) return {} as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new CliError(`the server answered ${method} ${path.split('?')[0]} with something that is not JSON`);
    }
  }

  async bytes(method: string, path: string, opts: RequestOptions = {}): Promise<Uint8Array> {
    const buf = await this.request(method, path, { ...opts, binary: true },
      async (res) => answerBytes.get(res) ?? new Uint8Array(await res.arrayBuffer()));
    this.bytesReceived += buf.byteLength;
    return buf;
  }

  /**
   * One exchange, body included, under a time limit (COFFER_HTTP_TIMEOUT seconds, default 120), so a
   * connection that hangs is abandoned and retried instead of stalling the command.
   */
  private async request<T>(method: string, path: string, opts: RequestOptions, read: (res: Response) => Promise<T>): Promise<T> {
    const headers: Record<string, string> = { ...this.extraHeaders, ...opts.headers };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let body: Uint8Array | readonly Uint8Array[] | undefined;
    if (opts.raw) {
      body = opts.raw;
      headers['content-type'] = 'application/octet-stream';
    } else if (opts.body !== undefined) {
      body = Buffer.from(JSON.stringify(opts.body));
      headers['content-type'] = 'application/json';
    }
    const where = `${method} ${path.split('?')[0]}`;
    const timeoutMs = opts.once ? ONCE_TIMEOUT_MS : (Number(process.env.COFFER_HTTP_TIMEOUT) || 120) * 1000;
    const started = Date.now();
    const deadline = started + retryBudgetMs();
    // The pause before the next attempt (the last one comes at the deadline), or null after it.
    const pause = (attempt: number, wish = backoff(attempt)): number | null => {
      if (opts.once) return null;
      const left = deadline - Date.now();
      return left > 0 ? Math.min(wish, left) : attempt < MIN_ATTEMPTS ? wish : null;
    };
    const waited = () => `; gave up after ${Math.round((Date.now() - started) / 1000)} s`;
    for (let attempt = 1; ; attempt++) {
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs);
      try {
        let res: Response;
        try {
          res = await send(this.base + path, method, headers, body ?? null, ac.signal, Boolean(opts.raw || opts.binary), opts.into);
        } catch (err) {
          const ms = pause(attempt);
          if (ms === null) {
            throw new CliError(`cannot reach the server at ${this.base} (${where}): ${describeNetworkError(err)}${waited()}`, EXIT.ERROR, 'SERVER_UNREACHABLE');
          }
          await sleep(ms);
          continue;
        }
        if (body) this.bytesSent += byteLength(body);
        if (RETRY_STATUS.has(res.status)) {
          const retryAfter = Number(res.headers.get('retry-after'));
          const ms = pause(attempt, Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter * 1000, 30_000) : backoff(attempt));
          if (ms !== null) {
            await res.body?.cancel().catch(() => {});
            await sleep(ms);
            continue;
          }
        }
        if (!res.ok && !opts.accept?.includes(res.status)) throw await apiError(res, where);
        try {
          return await read(res);
        } catch (err) {
          if (err instanceof CliError) throw err;
          // The body broke off (connection lost or timed out): the whole exchange is retried.
          const ms = pause(attempt);
          if (ms === null) throw new CliError(`lost the connection to ${this.base} (${where}): ${describeNetworkError(err)}${waited()}`, EXIT.ERROR, 'CONNECTION_LOST');
          await sleep(ms);
        }
      } finally {
        clearTimeout(timer);
      }
    }
  }
}

// Every request goes through node:http, not Node's fetch (undici). Node 20's fetch makes the first
// connection of a process wait for its HTTP parser (WebAssembly, compiled on first use) before it
// listens to the socket: a connection closed or reset in that time (by a proxy or load balancer
// that takes connections while the server behind it is down) goes unnoticed, and the request
// waits for an answer until COFFER_HTTP_TIMEOUT (2 minutes) instead of being retried.
// And for chunk records (up to 4 MiB each, a thousand per GiB): fetch copies every Uint8Array body
// before sending it, which for a put meant a second gigabyte of allocations per gigabyte sent, and
// the garbage collector's time and memory with it (1 GiB put: peak RSS 217 -> 184 MiB); a chunk's
// answer is read straight into one buffer instead of through a web stream.
const agents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };

const answerBytes = new WeakMap<Response, Uint8Array<ArrayBuffer>>();

function byteLength(body: Uint8Array | readonly Uint8Array[]): number {
  return body instanceof Uint8Array ? body.byteLength : body.reduce((n, part) => n + part.byteLength, 0);
}

/** The parts in one new buffer of their own (never a view into Node's shared pool). */
function concatOwned(parts: Buffer[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/**
 * Sends `body` as it is (its parts one after another) and answers with the whole answer, read into
 * one buffer, as a Response. A good answer with a Content-Length is read into `into(length)` when
 * given, as its parts arrive.
 */
function send(
  url: string, method: string, headers: Record<string, string>, body: Uint8Array | readonly Uint8Array[] | null, signal: AbortSignal,
  binary: boolean, into?: (length: number) => Uint8Array,
): Promise<Response> {
  const target = new URL(url);
  const https = target.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const req = (https ? httpsRequest : httpRequest)(target, {
      method, signal, agent: https ? agents.https : agents.http,
      headers: body ? { ...headers, 'content-length': String(byteLength(body)) } : headers,
    }, (res: IncomingMessage) => {
      const parts: Buffer[] = [];
      const status = res.statusCode ?? 502;
      const ok = status >= 200 && status < 300;
      const length = Number(res.headers['content-length']);
      let target: Uint8Array | null = null;
      let filled = 0;
      if (into && ok && Number.isSafeInteger(length) && length >= 0) target = into(length);
      res.on('data', (part: Buffer) => {
        if (!target) {
          parts.push(part);
        } else if (filled + part.byteLength > target.length) {
          res.destroy(new Error('the answer is longer than its Content-Length'));
        } else {
          target.set(part, filled);
          filled += part.byteLength;
        }
      });
      res.on('aborted', () => reject(new Error('the answer broke off')));
      res.on('error', reject);
      res.on('end', () => {
        if (target && filled !== target.length) {
          reject(new Error('the answer broke off'));
          return;
        }
        const answer = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          if (value !== undefined) answer.set(name, Array.isArray(value) ? value.join(', ') : value);
        }
        // A good binary answer's bytes are kept aside (bytes() takes them as they are, where a
        // Response would copy them); other answers are small JSON, and go into the Response.
        const whole = (target as Uint8Array<ArrayBuffer> | null) ?? concatOwned(parts);
        const empty = (binary && ok) || status === 204 || status === 205 || status === 304;
        const response = new Response(empty ? null : whole, { status, statusText: res.statusMessage ?? '', headers: answer });
        if (binary && ok) answerBytes.set(response, whole);
        resolve(response);
      });
    });
    req.on('error', reject);
    if (body instanceof Uint8Array) {
      req.end(body);
    } else {
      for (const part of body ?? []) req.write(part);
      req.end();
    }
  });
}

/** 0.25, 0.5, 1, 2, 4, then 5 s between attempts, each ±25 % so that clients do not retry in step. */
function backoff(attempt: number): number {
  return Math.min(250 * 2 ** (attempt - 1), BACKOFF_CAP_MS) * (0.75 + Math.random() * 0.5);
}

function describeNetworkError(err: unknown): string {
  // An abort (no answer in time) carries its reason in `cause`; a socket's error comes as it is.
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as { code?: string }).code ?? (err as Error).message;
}

async function apiError(res: Response, where: string): Promise<ApiError> {
  let body: Record<string, unknown> = {};
  try {
    body = (await res.json()) as Record<string, unknown>;
  } catch {
    /* not JSON */
  }
  const code = typeof body.code === 'string' ? body.code : `HTTP_${res.status}`;
  const message = code === 'UNAUTHENTICATED'
    ? 'the session has ended (logged out, ended or its device removed from another session, or expired); run `coffer login`'
    : typeof body.message === 'string' ? body.message : res.statusText;
  return new ApiError(res.status, code, `${where}: ${code} (${res.status}) ${message}`.trim(), body);
}

export function normaliseServer(server: string): string {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new CliError(`not a server URL: ${JSON.stringify(server)}`, EXIT.USAGE);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CliError(`the server URL must start with http:// or https://`, EXIT.USAGE);
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new CliError('the server URL must not contain credentials, a query or a fragment', EXIT.USAGE);
  }
  return url.origin + url.pathname.replace(/\/+$/, '');
}
