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
// A change NOTIFY that fails (the connection broke, the answer deadline ended it, the database was
// briefly unavailable) is sent again with backoff until it goes out (notify-retry.ts): the other
// processes may be listening all along, and would otherwise learn of the change only at the
// account's next one. Only the latest cursor per account waits, and a bounded number of accounts.
//
// Notifications sent while a LISTEN connection is down are lost; after each (re)connect the
// fan-out asks `loadCursor` for the current cursor of every account with sockets here (until it
// gets an answer for each), so no client stays behind, and reports every session as possibly ended.
//
// A LISTEN connection that PostgreSQL stops answering without closing it (a frozen server, a path
// or proxy that lost it) looks exactly like an idle one: postgres.js reconnects only after a close.
// So the fan-out's connections carry the answer deadline of the pool (answer-deadline.ts: a LISTEN,
// NOTIFY or start-up left unanswered ends its connection), and a heartbeat to itself finds the idle
// LISTEN connection that went silent.
import postgres from 'postgres';
import { DB_ANSWER_TIMEOUT_MS, watchedSockets } from '../db/answer-deadline.js';
import type { RealtimeHub } from './hub.js';
import { NotifyRetry } from './notify-retry.js';

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
/** How long a shutting-down process tries to send the NOTIFYs that failed before (NotifyRetry.close). */
const NOTIFY_DRAIN_MS = 1000;

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
   * How long PostgreSQL may owe the fan-out an answer (COFFER_DB_ANSWER_TIMEOUT_MS): a connection
   * of the fan-out that owes one for longer is ended, and a heartbeat that has not come back within
   * it has the LISTEN connection replaced. Default DB_ANSWER_TIMEOUT_MS (40 s).
   */
  answerTimeoutMs?: number;
  /**
   * Every `heartbeatMs` the fan-out NOTIFYs itself, unless a heartbeat is still on its way; one
   * that has not come back within `answerTimeoutMs` has the LISTEN connection replaced (postgres.js
   * reconnects by itself after a close, this covers the rest: half-open sockets, a reconnect that
   * failed). Default a quarter of `answerTimeoutMs` (10 s).
   */
  heartbeatMs?: number;
  /** First retry delay when LISTEN or a change NOTIFY fails; doubles up to 30 s. Default 500 ms. */
  retryMs?: number;
  /** Most accounts whose change NOTIFY waits for a retry (notify-retry.ts). Default 10 000. */
  maxPendingNotifies?: number;
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
  const answerTimeoutMs = options.answerTimeoutMs ?? DB_ANSWER_TIMEOUT_MS;
  const heartbeatMs = options.heartbeatMs ?? answerTimeoutMs / 4;
  const retryMs = options.retryMs ?? 500;
  // `socket` is a documented option its type declarations lack (as in db/client.ts). The LISTEN
  // connection postgres.js opens for a client takes the client's options, this one included.
  const clientOptions: postgres.Options<{}> & { socket: ReturnType<typeof watchedSockets> } = {
    max: 1,
    onnotice: () => {},
    // No array types to learn (NOTIFY takes two strings), and postgres.js drops the promise of that
    // first query of a connection: one cut off by the deadline would be an unhandled rejection.
    fetch_types: false,
    connection: { application_name: options.applicationName ?? 'coffer-realtime' },
    socket: watchedSockets({ ms: answerTimeoutMs }),
  };
  // A random tag tells this process's heartbeats from other processes' ones.
  const tag = `hb:${Math.random().toString(36).slice(2)}`;
  let closed = false;
  /** The current generation; NOTIFYs go here even while its LISTEN is still starting. */
  let sql: postgres.Sql = postgres(options.url, clientOptions);
  let listening = false;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let heartbeatSent = 0;
  let heartbeatSeen = 0;
  /** When the heartbeat still on its way (heartbeatSent > heartbeatSeen) was sent. */
  let heartbeatAt = 0;
  let connecting = false;
  /** Bumped by each catch-up, so that an older one still retrying stops. */
  let catchUps = 0;
  // Sent on whichever generation is current at the time of each try.
  const notifier = new NotifyRetry({
    send: async (event) => {
      await sql.notify(CHANNEL, encodePayload(event));
    },
    retryMs,
    maxPending: options.maxPendingNotifies,
    onError,
  });

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

  // The first queries after a stall may well fail (the pool behind loadCursor may hold connections
  // that died with the LISTEN one, each found out only at its deadline), and a catch-up given up
  // would leave the sockets behind until the account's next change: so it goes on, with backoff,
  // from the account that failed, until every account has been answered for or a newer catch-up
  // (after the next reconnect) takes over.
  const resync = async () => {
    const { loadCursor } = options;
    if (!loadCursor) return;
    const round = ++catchUps;
    let pending = hub.connectedAccounts();
    let delay = retryMs;
    while (pending.length > 0) {
      let failed: unknown;
      for (const [i, accountId] of pending.entries()) {
        if (closed || round !== catchUps) return;
        if (hub.countFor(accountId) === 0) continue;
        try {
          const cursor = await loadCursor(accountId);
          if (cursor !== null) hub.publish(accountId, cursor);
        } catch (err) {
          failed = err;
          pending = pending.slice(i); // the database is not answering: no use asking for the others now
          break;
        }
      }
      if (failed === undefined) return;
      onError(`realtime: catching up after reconnect failed, retrying in ${delay} ms`, failed);
      await new Promise((resolve) => setTimeout(resolve, delay).unref?.());
      delay = Math.min(delay * 2, 30_000);
    }
  };

  // Called by postgres.js on each LISTEN: the first of a generation and after its own reconnects.
  // Anything NOTIFYed while nobody listened is lost, so catch up from the database every time
  // (cheap: one query per account with sockets here; nothing at start-up). postgres.js goes on
  // LISTENing after a first LISTEN of the generation failed, too: once it succeeds, the retry with a
  // new generation is not needed any more.
  const onListen = (generation: postgres.Sql) => () => {
    if (generation !== sql) return;
    if (retryTimer) clearTimeout(retryTimer);
    retryTimer = undefined;
    listening = true;
    heartbeatSeen = heartbeatSent;
    notifier.kick(); // the database answers again
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
      sql = postgres(options.url, clientOptions);
      void old.end({ timeout: 0 }).catch(() => {});
    }
    const generation = sql;
    try {
      await generation.listen(CHANNEL, onNotify, onListen(generation));
      if (generation === sql) listening = true;
    } catch (err) {
      if (closed || listening) return; // listening: postgres.js's own retry got there first
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
      if (performance.now() - heartbeatAt < answerTimeoutMs) return;
      onError('realtime: LISTEN connection stopped answering, reconnecting', new Error('heartbeat lost'));
      void connect(retryMs, true);
      return;
    }
    heartbeatSent++;
    heartbeatAt = performance.now();
    sql.notify(CHANNEL, `${tag}:${heartbeatSent}`).then(
      () => notifier.kick(),
      (err: unknown) => onError('realtime: heartbeat NOTIFY failed', err),
    );
  }, heartbeatMs);
  heartbeat.unref?.();

  await connect(retryMs, false);

  return {
    publish: async (event) => {
      encodePayload(event); // a malformed event throws here, before anything is delivered
      hub.publish(event.accountId, event.cursor);
      await notifier.notify(event);
    },
    endSessions: async (accountId) => {
      try {
        await sql.notify(CHANNEL, encodeSessionsPayload(accountId));
      } catch (err) {
        onError('realtime: NOTIFY of ended sessions failed; other processes rely on their cache lifetime', err);
      }
    },
    close: async () => {
      // Changes whose NOTIFY failed get a last try while the connection is still open.
      await notifier.close(NOTIFY_DRAIN_MS);
      closed = true;
      clearInterval(heartbeat);
      if (retryTimer) clearTimeout(retryTimer);
      await sql.end({ timeout: 2 }).catch(() => {});
    },
  };
}
