// Builds the Coffer HTTP app. Only main.ts listens; tests call `app.request()` in-process.
import { createNodeWebSocket } from '@hono/node-ws';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { routePath } from 'hono/route';
import { CircuitBreakerStore } from './blob/breaker.js';
import type { AppContext, AppEnv } from './context.js';
import { ApiError } from './errors.js';
import { MAX_COMMIT_BYTES, MAX_JSON_BYTES } from './limits.js';
import { describeError, pathOnly } from './logger.js';
import { Metrics } from './metrics.js';
import { accountRoutes } from './routes/account.js';
import { authRoutes } from './routes/auth.js';
import { changesRoutes } from './routes/changes.js';
import { chunkRoutes, uploadRoutes } from './routes/chunks.js';
import { deviceRoutes } from './routes/devices.js';
import { nodeRoutes, trashRoutes } from './routes/nodes.js';
import { linkRoutes } from './routes/links.js';
import { publicLinkRoutes } from './routes/public-links.js';
import { realtimeRoutes } from './realtime/index.js';
import { isDatabaseUnavailable, sqlState } from './services/errors-db.js';
import { serveWeb } from './static.js';


const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; connect-src 'self'; "
  + "img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

const SECURITY_HEADERS: ReadonlyArray<[string, string]> = [
  ['Content-Security-Policy', CSP],
  ['X-Content-Type-Options', 'nosniff'],
  ['Referrer-Policy', 'no-referrer'],
  ['X-Frame-Options', 'DENY'],
  ['Cross-Origin-Opener-Policy', 'same-origin'],
  ['Cross-Origin-Resource-Policy', 'same-origin'],
  ['Permissions-Policy', 'camera=(), microphone=(), geolocation=()'],
];

/** How long /healthz waits for the database before it answers 503 NOT_READY. */
export const HEALTH_TIMEOUT_MS = 3000;

export interface CofferApp {
  app: Hono<AppEnv>;
  metrics: Metrics;
  /** Attaches WebSocket upgrades to the listening HTTP server (main.ts). */
  injectWebSocket: ReturnType<typeof createNodeWebSocket>['injectWebSocket'];
  /** Functions run at shutdown, after the server stopped accepting requests. */
  closers: Array<() => Promise<void> | void>;
}

function errorBody(c: Context, err: ApiError) {
  for (const [name, value] of Object.entries(err.headers)) c.header(name, value);
  return c.json({ code: err.code, message: err.message, ...err.details }, err.status);
}

function limitFor(method: string, path: string): number {
  return method === 'POST' && /^\/api\/nodes\/[^/]+\/versions$/.test(path) ? MAX_COMMIT_BYTES : MAX_JSON_BYTES;
}

export function createApp(ctx: AppContext): CofferApp {
  const app = new Hono<AppEnv>();
  const metrics = new Metrics();
  const nodeWs = createNodeWebSocket({ app });
  const closers: CofferApp['closers'] = [];

  // Edge: security headers, metrics and one log line per request (path only, never the query).
  // Headers are set before the handler runs, so they go into the response it builds (a route may
  // still replace one, e.g. Cache-Control of immutable chunks); setting them afterwards would make
  // the server copy every response.
  app.use('*', async (c, next) => {
    const started = performance.now();
    const api = c.req.path.startsWith('/api/');
    for (const [name, value] of SECURITY_HEADERS) c.header(name, value);
    if (api) c.header('Cache-Control', 'no-store');
    await next();
    const seconds = (performance.now() - started) / 1000;
    const matched = api || c.req.path === '/healthz' || c.req.path === '/metrics';
    const route = c.res.status === 404 && matched ? 'unmatched' : matched ? routePath(c) : 'static';
    metrics.observe(c.req.method, route, c.res.status, seconds);
    ctx.logger.info('request', {
      method: c.req.method, path: pathOnly(c.req.path), status: c.res.status, ms: Math.round(seconds * 1000),
    });
  });

  app.use('/api/*', async (c, next) => {
    // Chunk uploads read their raw body themselves, with their own limit (routes/chunks.ts).
    // GET and HEAD handlers never read a body (and looking for one costs a full Request object).
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    if (c.req.method === 'PUT' && c.req.path.startsWith('/api/chunks/')) return next();
    if (c.req.method === 'POST' && c.req.path === '/api/chunks/batch') return next();
    const size = limitFor(c.req.method, c.req.path);
    return bodyLimit({
      maxSize: size,
      // The rest of the body is not read, so the connection cannot carry another request: say so,
      // rather than have the client's next request on it fail.
      onError: () => {
        throw new ApiError(413, 'BODY_TOO_LARGE', `The request body is over ${size} bytes`, {}, { Connection: 'close' });
      },
    })(c, next);
  });

  app.onError((err, c) => {
    if (err instanceof ApiError) return errorBody(c, err);
    const state = sqlState(err);
    if (state === '40001' || state === '40P01') {
      // Serialization failure or deadlock: nothing was committed; the client may simply retry.
      ctx.logger.warn('transaction conflict', { method: c.req.method, path: pathOnly(c.req.path), sqlState: state });
      return errorBody(c, new ApiError(503, 'RETRY', 'A concurrent change conflicted; try again', {}, { 'Retry-After': '1' }));
    }
    if (isDatabaseUnavailable(err)) {
      // PostgreSQL unreachable or gone mid-request (postgres.js reconnects on the next query): the
      // clients retry a 503 (docs/api.md says what a COMMIT cut off in flight means for them).
      ctx.logger.warn('database unavailable', { method: c.req.method, path: pathOnly(c.req.path), ...describeError(err) });
      return errorBody(c, new ApiError(503, 'DATABASE_UNAVAILABLE', 'The database is unavailable; try again later', {}, { 'Retry-After': '5' }));
    }
    ctx.logger.error('unhandled error', { method: c.req.method, path: pathOnly(c.req.path), ...describeError(err) });
    return errorBody(c, new ApiError(500, 'INTERNAL', 'Internal server error'));
  });
  app.notFound((c) => errorBody(c, new ApiError(404, 'NOT_FOUND', 'No such resource')));

  app.get('/healthz', async (c) => {
    // A database that stopped answering (a stalled connection, not a refused one) would hold the
    // check for as long as the operating system keeps the connection; a balancer wants an answer.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('no answer in time')), HEALTH_TIMEOUT_MS);
    });
    try {
      await Promise.race([ctx.db.execute('select 1'), deadline]);
    } catch {
      throw new ApiError(503, 'NOT_READY', 'The database is not reachable', {}, { 'Retry-After': '5' });
    } finally {
      clearTimeout(timer);
    }
    return c.json({ ok: true });
  });
  // /healthz answers for the database only (a blob store outage leaves listing and metadata
  // working, so a balancer should keep the process); the blob store's state is told here.
  if (ctx.blobs instanceof CircuitBreakerStore) {
    const breaker = ctx.blobs;
    metrics.gauge('coffer_blob_store_circuit_open', () => (breaker.open ? 1 : 0));
  }
  app.get('/metrics', (c) => c.text(metrics.render(), 200, { 'Content-Type': 'text/plain; version=0.0.4' }));

  app.route('/api/auth', authRoutes(ctx));
  app.route('/api/account', accountRoutes(ctx));
  app.route('/api/devices', deviceRoutes(ctx));
  app.route('/api/nodes', nodeRoutes(ctx));
  app.route('/api/trash', trashRoutes(ctx));
  app.route('/api/uploads', uploadRoutes(ctx));
  app.route('/api/chunks', chunkRoutes(ctx));
  app.route('/api/changes', changesRoutes(ctx));
  // Share links and the WebSocket push (server-links engineer).
  app.route('/api/links', linkRoutes(ctx));
  app.route('/api/public/links', publicLinkRoutes(ctx));
  app.route('/api/ws', realtimeRoutes(ctx, nodeWs.upgradeWebSocket, closers));

  // Anything else under /api is a 404 in JSON; every other GET is the web vault.
  app.all('/api/*', (c) => errorBody(c, new ApiError(404, 'NOT_FOUND', 'No such resource')));
  const web = serveWeb(ctx.config.webDist);
  app.get('*', web);
  app.all('*', (c) => errorBody(c, new ApiError(405, 'METHOD_NOT_ALLOWED', 'Method not allowed')));

  return { app, metrics, injectWebSocket: nodeWs.injectWebSocket, closers };
}
