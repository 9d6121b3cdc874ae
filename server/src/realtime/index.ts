// Real-time push, `GET /api/ws` (docs/api.md "Sync"). A client opens a WebSocket, authenticated by
// its session cookie (web) or by its bearer token in `Sec-WebSocket-Protocol: coffer, bearer.<token>`
// (CLI / agent; never in the URL, which ends up in logs). The server answers with the `coffer`
// subprotocol, sends `{"type":"hello","cursor":N}`, then `{"type":"changed","cursor":N}` whenever
// the account's cursor moves, and `{"type":"ping"}` every 25 s. The client then reads
// `GET /api/changes?since=` from its own cursor; the socket carries no change contents.
//
// One `Realtime` per AppContext: the hub of this process, fed by `ctx.events` ("changed" after
// each commit) through the fan-out (LISTEN/NOTIFY with PostgreSQL, in-process with PGlite). The
// fan-out also carries "sessions ended" (`ctx.events` "sessionsEnded") to the session caches of
// the other processes (session-cache.ts): its connections are the ones every process already has.
import { eq, inArray } from 'drizzle-orm';
import { Hono, type MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import type { UpgradeWebSocket } from 'hono/ws';
import type { WebSocket } from 'ws';
import type { AppContext, AppEnv, ClientKind, Session } from '../context.js';
import { accounts, sessions } from '../db/schema/core.js';
import { ApiError } from '../errors.js';
import { describeError } from '../logger.js';
import { sessionCacheFor } from '../session-cache.js';
import { SESSION_COOKIE, hashToken, isTokenForm } from '../sessions.js';
import { localFanout, startPgFanout, type ChangeEvent, type Fanout } from './fanout.js';
import { RealtimeHub } from './hub.js';

export { RealtimeHub } from './hub.js';

/** The subprotocol a client must offer first, and the one the server selects. */
export const SUBPROTOCOL = 'coffer';
const BEARER_PREFIX = 'bearer.';
/** Open sockets one account may hold in one process (a client needs one per device or tab). */
export const MAX_SOCKETS_PER_ACCOUNT = 200;

export interface RealtimeOptions {
  /** Keep-alive interval; default the configuration's `wsPingMs` (COFFER_WS_PING_MS). */
  pingIntervalMs?: number;
}

export interface Realtime {
  hub: RealtimeHub;
  /** Resolves once cross-process fan-out is listening (at once with PGlite). */
  ready: Promise<void>;
  publish(event: ChangeEvent): Promise<void>;
  close(): Promise<void>;
}

const instances = new WeakMap<AppContext, Realtime>();

/** The realtime push of this app context, created on first use. */
export function realtimeFor(ctx: AppContext, options: RealtimeOptions = {}): Realtime {
  const existing = instances.get(ctx);
  if (existing) return existing;

  const log = (message: string, err: unknown) => ctx.logger.warn(message, describeError(err));
  const hubInterval = options.pingIntervalMs ?? ctx.config.wsPingMs;
  const hub = new RealtimeHub({
    pingIntervalMs: hubInterval,
    onError: (err) => ctx.logger.debug('realtime: socket write failed', describeError(err)),
  });
  hub.start();

  const loadCursor = async (accountId: string): Promise<number | null> => {
    const [row] = await ctx.db.select({ cursor: accounts.cursor }).from(accounts).where(eq(accounts.id, accountId)).limit(1);
    return row?.cursor ?? null;
  };

  // A socket lives no longer than its session: sockets whose session was logged out or revoked
  // (in any process) are closed with code 4001, at once when sessions end (announced here or by
  // another process), and on each keep-alive round in any case. A check asked for while one runs
  // runs again after it.
  let checking = false;
  let again = false;
  const checkSessions = (): void => {
    if (checking) {
      again = true;
      return;
    }
    const ids = hub.sessionIds();
    if (ids.length === 0) return;
    checking = true;
    (async () => {
      const alive = new Set<string>();
      for (let i = 0; i < ids.length; i += 1000) {
        const batch = ids.slice(i, i + 1000);
        const rows = await ctx.db.select({ id: sessions.id }).from(sessions).where(inArray(sessions.id, batch));
        for (const r of rows) alive.add(r.id);
      }
      hub.endSessions(ids.filter((id) => !alive.has(id)));
    })().catch((err: unknown) => log('realtime: checking sessions failed', err)).finally(() => {
      checking = false;
      if (again) {
        again = false;
        checkSessions();
      }
    });
  };
  const sessionCheck = setInterval(checkSessions, hubInterval);
  sessionCheck.unref?.();

  const local = localFanout(hub);
  let fanout: Promise<Fanout>;
  if (ctx.config.databaseUrl) {
    const onSessionsEnded = (accountId: string | null) => {
      sessionCacheFor(ctx).forget(accountId);
      checkSessions();
    };
    fanout = startPgFanout({
      url: ctx.config.databaseUrl, hub, loadCursor, onSessionsEnded, onError: log, answerTimeoutMs: ctx.config.dbAnswerTimeoutMs,
    }).catch((err: unknown) => {
      log('realtime: cross-process fan-out unavailable; delivering in this process only', err);
      return local;
    });
  } else {
    fanout = Promise.resolve(local);
  }

  const publish = async (event: ChangeEvent) => {
    hub.publish(event.accountId, event.cursor); // this process at once, even while LISTEN starts
    await (await fanout).publish(event);
  };
  const unsubscribe = ctx.events.on('changed', (event) => {
    publish(event).catch((err: unknown) => log('realtime: publishing a change failed', err));
  });
  // This process has already forgotten them (sessionsEnded); the others learn it from the NOTIFY.
  // Not awaited by the request that ended them: a stalled fan-out must not hold up a log-out.
  const unsubscribeSessions = ctx.events.on('sessionsEnded', ({ accountId }) => {
    checkSessions();
    fanout.then((f) => f.endSessions(accountId)).catch((err: unknown) => log('realtime: announcing ended sessions failed', err));
  });


  const realtime: Realtime = {
    hub,
    ready: fanout.then(() => undefined),
    publish,
    close: async () => {
      unsubscribe();
      unsubscribeSessions();
      clearInterval(sessionCheck);
      hub.stop();
      await (await fanout).close();
      instances.delete(ctx);
    },
  };
  instances.set(ctx, realtime);
  return realtime;
}


/**
 * Reads the bearer token from `Sec-WebSocket-Protocol`. The client must offer `coffer` first:
 * the `ws` server selects the first offered protocol, and that must never be the token.
 */
function bearerFromProtocols(header: string): string | undefined {
  const offered = header.split(',').map((p) => p.trim()).filter(Boolean);
  if (offered[0] !== SUBPROTOCOL) {
    throw new ApiError(400, 'PROTOCOL_INVALID', `Offer the "${SUBPROTOCOL}" subprotocol first`);
  }
  const bearer = offered.find((p) => p.startsWith(BEARER_PREFIX));
  return bearer?.slice(BEARER_PREFIX.length);
}

/** Authenticates the upgrade request: bearer via subprotocol, else the session cookie (same origin only). */
function wsSession(ctx: AppContext, hub: RealtimeHub): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') {
      throw new ApiError(426, 'UPGRADE_REQUIRED', 'This endpoint speaks WebSocket only');
    }
    const protocols = c.req.header('sec-websocket-protocol');
    let token = protocols !== undefined ? bearerFromProtocols(protocols) : undefined;
    const viaCookie = token === undefined;
    if (viaCookie) {
      token = getCookie(c, SESSION_COOKIE);
      // Cross-site WebSocket hijacking: a cookie is sent by the browser whatever page opens the
      // socket, so a cookie-authenticated socket must come from our own origin.
      const origin = c.req.header('origin');
      if (token !== undefined && origin !== undefined) {
        let sameHost = false;
        try {
          sameHost = new URL(origin).host === c.req.header('host');
        } catch {
          sameHost = false;
        }
        if (!sameHost) throw new ApiError(403, 'ORIGIN_REJECTED', 'WebSocket from another origin');
      }
    }
    if (!token || !isTokenForm(token)) throw new ApiError(401, 'UNAUTHENTICATED', 'Log in first');
    const [row] = await ctx.db.select({ id: sessions.id, accountId: sessions.accountId, client: sessions.client })
      .from(sessions).where(eq(sessions.tokenHash, hashToken(token))).limit(1);
    if (!row) throw new ApiError(401, 'UNAUTHENTICATED', 'Log in first');
    if (hub.countFor(row.accountId) >= MAX_SOCKETS_PER_ACCOUNT) {
      throw new ApiError(429, 'RATE_LIMITED', 'Too many open sockets for this account', {}, { 'Retry-After': '30' });
    }
    const session: Session = { accountId: row.accountId, sessionId: row.id, client: row.client as ClientKind, viaCookie };
    c.set('session', session);
    await next();
  };
}

/** `GET /api/ws`. `closers` receives the shutdown of the hub and the fan-out. */
export function realtimeRoutes(
  ctx: AppContext,
  upgradeWebSocket: UpgradeWebSocket<WebSocket>,
  closers: Array<() => Promise<void> | void>,
): Hono<AppEnv> {
  const realtime = realtimeFor(ctx);
  closers.push(() => realtime.close());
  const { hub } = realtime;
  const app = new Hono<AppEnv>();

  app.get('/', wsSession(ctx, hub), upgradeWebSocket((c) => {
    const { accountId, sessionId } = c.get('session');
    let conn: ReturnType<RealtimeHub['add']> | undefined;
    return {
      onOpen: (_event, ws) => {
        const raw = ws.raw!;
        conn = hub.add(accountId, {
          send: (data) => raw.send(data),
          ping: () => raw.ping(),
          terminate: () => raw.terminate(),
          close: (code, reason) => raw.close(code, reason),
        }, sessionId);
        const registered = conn;
        raw.on('pong', () => registered.alive());
        // Registered before the cursor is read: a change committed meanwhile is not lost (hub.hello).
        ctx.db.select({ cursor: accounts.cursor }).from(accounts).where(eq(accounts.id, accountId)).limit(1)
          .then(([row]) => hub.hello(registered, row?.cursor ?? 0))
          .catch((err: unknown) => {
            ctx.logger.warn('realtime: reading the cursor failed', describeError(err));
            hub.remove(registered);
            raw.close(1011, 'server error');
          });
      },
      onMessage: () => conn?.alive(),
      onClose: () => {
        if (conn) hub.remove(conn);
      },
      onError: () => {
        if (conn) hub.remove(conn);
      },
    };
  }));

  return app;
}
