// What every route gets: configuration, database, blob store, logger, events and the server
// secret. `requireSession` authenticates a request (bearer token, or cookie + CSRF header) and sets
// `c.get('session')`.
import { eq } from 'drizzle-orm';
import { getCookie } from 'hono/cookie';
import { createMiddleware } from 'hono/factory';
import type { BlobStore } from './blob/store.js';
import type { Config } from './config.js';
import type { Db } from './db/client.js';
import { sessions } from './db/schema/core.js';
import { ApiError } from './errors.js';
import type { Events } from './events.js';
import type { Logger } from './logger.js';
import { sessionCacheFor, sessionsEnded } from './session-cache.js';
import { SESSION_COOKIE, csrfToken, hashToken, isTokenForm, safeEqual, sessionEndsAt } from './sessions.js';

export interface AppContext {
  config: Config;
  db: Db;
  blobs: BlobStore;
  logger: Logger;
  events: Events;
  /** At least 32 bytes; keys HMACs (fake KDF salts, CSRF tokens). Never logged. */
  secret: Uint8Array;
}

export type ClientKind = 'web' | 'cli';

export interface Session {
  accountId: string;
  sessionId: string;
  client: ClientKind;
  /** The session came as the cookie (so non-GET requests carry the CSRF token). */
  viaCookie: boolean;
}

/** Hono environment of the app: variables set by middleware. */
export interface AppEnv {
  Variables: { session: Session };
}

const SAFE_METHODS = new Set(['GET', 'HEAD']);
const LAST_SEEN_GRANULARITY_MS = 60_000;

const unauthenticated = () => new ApiError(401, 'UNAUTHENTICATED', 'Log in first');

/** Middleware: 401 UNAUTHENTICATED without a live session, 403 CSRF_FAILED for a cookie without CSRF. */
export function requireSession(ctx: AppContext) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const authorization = c.req.header('authorization');
    let token: string | undefined;
    let viaCookie = false;
    if (authorization !== undefined) {
      const m = /^Bearer (\S+)$/.exec(authorization);
      token = m?.[1];
    } else {
      token = getCookie(c, SESSION_COOKIE);
      viaCookie = true;
    }
    if (!token || !isTokenForm(token)) throw unauthenticated();

    const tokenHash = hashToken(token);
    const cache = sessionCacheFor(ctx);
    let row = cache.get(tokenHash);
    if (!row) {
      // Sessions ended while the query ran (here or, announced, in another process) may be in its
      // answer, read before their deletion committed: such a row serves this request only.
      const epoch = cache.epoch;
      [row] = await ctx.db.select().from(sessions).where(eq(sessions.tokenHash, tokenHash)).limit(1);
      if (!row) throw unauthenticated();
      if (cache.epoch === epoch) cache.set(tokenHash, row);
    }

    const now = new Date();
    if (now > sessionEndsAt(row, ctx.config)) {
      await ctx.db.delete(sessions).where(eq(sessions.id, row.id));
      sessionsEnded(ctx, row.accountId);
      throw unauthenticated();
    }
    if (viaCookie && !SAFE_METHODS.has(c.req.method)) {
      const sent = c.req.header('x-csrf-token') ?? '';
      if (!safeEqual(sent, csrfToken(ctx.secret, row.id))) {
        throw new ApiError(403, 'CSRF_FAILED', 'Missing or wrong X-CSRF-Token header');
      }
    }
    if (now.getTime() - row.lastSeenAt.getTime() > LAST_SEEN_GRANULARITY_MS) {
      await ctx.db.update(sessions).set({ lastSeenAt: now }).where(eq(sessions.id, row.id));
      row.lastSeenAt = now; // the cached row too, so the next requests do not write again
    }
    c.set('session', { accountId: row.accountId, sessionId: row.id, client: row.client as ClientKind, viaCookie });
    await next();
  });
}
