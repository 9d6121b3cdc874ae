// Cross-process fan-out of "an account's cursor moved" (docs/api.md "Sync").
//
// With PostgreSQL every server process LISTENs on `coffer_changes`; after a change commits, the
// process that made it delivers to its own sockets at once and sends
// `NOTIFY coffer_changes, '<accountId>:<cursor>'`, which reaches every process (itself included;
// the hub drops the repeat because the cursor is not newer). With PGlite there is one process, so
// delivery is in-process only.
//
// The same channel carries "sessions of an account ended" (`sessions:<accountId>`, or `sessions:*`
// for any account), sent after the deletion commits, so that every process drops those sessions
// from its cache (session-cache.ts). The account id is the only thing in it: no token, no hash.
//
// Notifications sent while a LISTEN connection is down are lost; after each (re)connect the
// fan-out asks `loadCursor` for the current cursor of every account with sockets here, so no
// client stays behind, and reports every session as possibly ended.
import postgres from 'postgres';
import type { RealtimeHub } from './hub.js';

export const CHANNEL = 'coffer_changes';

export interface ChangeEvent {
  accountId: string;
  cursor: number;
}

export interface Fanout {
  /** Delivers a committed change to every socket of the account in every process. */
  publish(event: ChangeEvent): Promise<void>;
  /** Tells every process that sessions of the account (`null`: of any account) ended. */
  endSessions(accountId: string | null): Promise<void>;
  /** Stops listening and closes the connections this fan-out opened. */
  close(): Promise<void>;
}

const ACCOUNT_ID = /^[0-9a-f]{32}$/;

/** `<accountId>:<cursor>` — the NOTIFY payload. */
export function encodePayload(event: ChangeEvent): string {
  if (!ACCOUNT_ID.test(event.accountId)) throw new TypeError('accountId must be 32 lowercase hex digits');
  if (!Number.isSafeInteger(event.cursor) || event.cursor < 0) throw new RangeError('cursor must be a safe integer ≥ 0');
  return `${event.accountId}:${event.cursor}`;
}

/** Parses a NOTIFY payload; returns null for anything malformed (ignored, never thrown). */
export function decodePayload(payload: string): ChangeEvent | null {
  const m = /^([0-9a-f]{32}):(\d{1,15})$/.exec(payload);
  if (!m) return null;
  return { accountId: m[1]!, cursor: Number(m[2]) };
}

const SESSIONS_PREFIX = 'sessions:';

/** `sessions:<accountId>`, or `sessions:*` for any account. */
export function encodeSessionsPayload(accountId: string | null): string {
  if (accountId !== null && !ACCOUNT_ID.test(accountId)) throw new TypeError('accountId must be 32 lowercase hex digits');
  return `${SESSIONS_PREFIX}${accountId ?? '*'}`;
}

/** The account of a `sessions:` payload, `null` for any account, `undefined` when it is not one. */
export function decodeSessionsPayload(payload: string): string | null | undefined {
  if (!payload.startsWith(SESSIONS_PREFIX)) return undefined;
  const rest = payload.slice(SESSIONS_PREFIX.length);
  if (rest === '*') return null;
  return ACCOUNT_ID.test(rest) ? rest : undefined;
}

/**
 * In-process fan-out, for PGlite (one process owns the database). Ended sessions need no message:
 * the process that ended them has already forgotten them.
 */
export function localFanout(hub: RealtimeHub): Fanout {
  return {
    publish: async (event) => {
      hub.publish(event.accountId, event.cursor);
    },
    endSessions: async () => {},
    close: async () => {},
  };
}

export interface PgFanoutOptions {
  /** PostgreSQL URL. The fan-out opens its own clients: one LISTEN connection + one for NOTIFY. */
  url: string;
  hub: RealtimeHub;
  /** Current cursor of an account, used to catch up after the LISTEN connection (re)connects. */
  loadCursor?: (accountId: string) => Promise<number | null>;
  /**
   * Sessions of an account (`null`: of any account) ended, in some process (this one too: its own
   * notifications come back). Also called with `null` after each (re)LISTEN, since notifications
   * sent while nobody listened are lost.
   */
  onSessionsEnded?: (accountId: string | null) => void;
  /** Reports failures (connection errors, failed NOTIFY). Messages carry no secrets. */
  onError?: (message: string, err: unknown) => void;
  /**
   * Every `heartbeatMs` the fan-out NOTIFYs itself; when the previous heartbeat has not come back,
   * the LISTEN connection is replaced (postgres.js reconnects by itself after a clean close, this
   * covers the rest: half-open sockets, a reconnect that failed). Default 10 s.
   */
  heartbeatMs?: number;
  /** First retry delay when LISTEN fails; doubles up to 30 s. Default 500 ms. */
  retryMs?: number;
  /** application_name of the connections (lets tests find and kill them). Default `coffer-realtime`. */
  applicationName?: string;
}

/**
 * Starts LISTENing and returns once the first LISTEN succeeded, or after the first failure (it
 * then keeps retrying in the background, so a server can start before its database).
 *
 * One postgres.js client per *generation* carries both the LISTEN connection (postgres.js keeps a
 * dedicated one) and the NOTIFY queries. When a heartbeat does not come back, the whole generation
 * is dropped and a new one made, so a half-open socket on either side cannot stall the fan-out.
 */
export async function startPgFanout(options: PgFanoutOptions): Promise<Fanout> {
  const { hub } = options;
  const onError = options.onError ?? (() => {});
  const onSessionsEnded = options.onSessionsEnded ?? (() => {});
  const heartbeatMs = options.heartbeatMs ?? 10_000;
  const retryMs = options.retryMs ?? 500;
  const connection = { application_name: options.applicationName ?? 'coffer-realtime' };
  // A random tag tells this process's heartbeats from other processes' ones.
  const tag = `hb:${Math.random().toString(36).slice(2)}`;
  let closed = false;
  /** The current generation; NOTIFYs go here even while its LISTEN is still starting. */
  let sql: postgres.Sql = postgres(options.url, { max: 1, onnotice: () => {}, connection });
  let listening = false;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let heartbeatSent = 0;
  let heartbeatSeen = 0;
  let connecting = false;

  const onNotify = (payload: string) => {
    if (payload.startsWith('hb:')) {
      if (payload.startsWith(`${tag}:`)) heartbeatSeen = Math.max(heartbeatSeen, Number(payload.slice(tag.length + 1)));
      return;
    }
    const ended = decodeSessionsPayload(payload);
    if (ended !== undefined) {
      onSessionsEnded(ended);
      return;
    }
    const event = decodePayload(payload);
    if (event) hub.publish(event.accountId, event.cursor);
  };

  const resync = async () => {
    if (!options.loadCursor) return;
    for (const accountId of hub.connectedAccounts()) {
      try {
        const cursor = await options.loadCursor(accountId);
        if (cursor !== null) hub.publish(accountId, cursor);
      } catch (err) {
        onError('realtime: catching up after reconnect failed', err);
      }
    }
  };

  // Called by postgres.js on each LISTEN: the first of a generation and after its own reconnects.
  // Anything NOTIFYed while nobody listened is lost, so catch up from the database every time
  // (cheap: one query per account with sockets here; nothing at start-up).
  const onListen = (generation: postgres.Sql) => () => {
    if (generation !== sql) return;
    heartbeatSeen = heartbeatSent;
    onSessionsEnded(null);
    void resync();
  };

  /** Makes a new generation (dropping the old one) and LISTENs; on failure retries with backoff. */
  const connect = async (delay: number, fresh: boolean): Promise<void> => {
    if (closed || connecting) return;
    connecting = true;
    listening = false;
    if (fresh) {
      const old = sql;
      sql = postgres(options.url, { max: 1, onnotice: () => {}, connection });
      void old.end({ timeout: 0 }).catch(() => {});
    }
    const generation = sql;
    try {
      await generation.listen(CHANNEL, onNotify, onListen(generation));
      if (generation === sql) listening = true;
    } catch (err) {
      if (closed) return;
      onError(`realtime: LISTEN failed, retrying in ${delay} ms`, err);
      retryTimer = setTimeout(() => void connect(Math.min(delay * 2, 30_000), true), delay);
      retryTimer.unref?.();
    } finally {
      connecting = false;
    }
  };

  const heartbeat = setInterval(() => {
    if (closed || connecting || !listening) return;
    if (heartbeatSeen < heartbeatSent) {
      onError('realtime: LISTEN connection stopped answering, reconnecting', new Error('heartbeat lost'));
      void connect(retryMs, true);
      return;
    }
    heartbeatSent++;
    sql.notify(CHANNEL, `${tag}:${heartbeatSent}`).catch((err: unknown) => onError('realtime: heartbeat NOTIFY failed', err));
  }, heartbeatMs);
  heartbeat.unref?.();

  await connect(retryMs, false);

  return {
    publish: async (event) => {
      const payload = encodePayload(event);
      hub.publish(event.accountId, event.cursor);
      try {
        await sql.notify(CHANNEL, payload);
      } catch (err) {
        onError('realtime: NOTIFY failed', err);
      }
    },
    endSessions: async (accountId) => {
      try {
        await sql.notify(CHANNEL, encodeSessionsPayload(accountId));
      } catch (err) {
        onError('realtime: NOTIFY of ended sessions failed; other processes rely on their cache lifetime', err);
      }
    },
    close: async () => {
      closed = true;
      clearInterval(heartbeat);
      if (retryTimer) clearTimeout(retryTimer);
      await sql.end({ timeout: 2 }).catch(() => {});
    },
  };
}
