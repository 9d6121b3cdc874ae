// The in-process half of real-time push (docs/api.md "Sync"): which WebSockets belong to which
// account, what cursor each of them has been told, and the keep-alive loop.
//
// The hub knows nothing about HTTP, PostgreSQL or the `ws` package: a socket is the small
// `RealtimeSocket` interface below, so the hub is tested with plain objects and used by the
// `/api/ws` route with real sockets. Cross-process fan-out (LISTEN/NOTIFY) lives in `fanout.ts`
// and calls `publish()` here.

/** What the hub needs from a WebSocket. */
export interface RealtimeSocket {
  /** Sends one text frame. Must not throw for a closing socket (the hub guards anyway). */
  send(data: string): void;
  /** Sends a protocol-level ping; the peer answers with a pong, reported via `Connection.alive()`. */
  ping(): void;
  /** Drops the connection without a closing handshake. */
  terminate(): void;
  /** Closes with a closing handshake; when absent the hub terminates instead. */
  close?(code: number, reason: string): void;
}

/** Close code sent when the session behind a socket has ended (log-out, revoked session). */
export const SESSION_ENDED = 4001;

/** Messages the server sends (docs/api.md "Sync"). */
export type ServerMessage =
  | { type: 'hello'; cursor: number }
  | { type: 'changed'; cursor: number }
  | { type: 'ping' };

export interface HubOptions {
  /** Interval of the keep-alive loop: `{"type":"ping"}` + a protocol ping per socket. Default 25 s. */
  pingIntervalMs?: number;
  /** Called when a send fails; never receives message contents beyond type and cursor. */
  onError?: (err: unknown) => void;
}

/** One registered socket. */
export class Connection {
  /** The highest cursor this socket has been told (hello or changed). */
  cursor = 0;
  /** Set by `alive()`; cleared by each keep-alive round. A socket still clear one round later is dead. */
  isAlive = true;
  closed = false;

  constructor(
    readonly accountId: string,
    readonly socket: RealtimeSocket,
    /** The session that opened the socket, so ending the session closes it. */
    readonly sessionId: string | null = null,
  ) {}

  /** Marks the socket alive: call it on every pong and every message from the client. */
  alive(): void {
    this.isAlive = true;
  }
}

export class RealtimeHub {
  readonly #byAccount = new Map<string, Set<Connection>>();
  readonly #pingIntervalMs: number;
  readonly #onError: (err: unknown) => void;
  #timer: ReturnType<typeof setInterval> | undefined;
  #count = 0;

  constructor(options: HubOptions = {}) {
    this.#pingIntervalMs = options.pingIntervalMs ?? 25_000;
    this.#onError = options.onError ?? (() => {});
    if (!(this.#pingIntervalMs > 0)) throw new RangeError('pingIntervalMs must be positive');
  }

  /** Number of open sockets in this process. */
  get size(): number {
    return this.#count;
  }

  /** Open sockets of one account in this process. */
  countFor(accountId: string): number {
    return this.#byAccount.get(accountId)?.size ?? 0;
  }

  /** Number of accounts with at least one open socket in this process. */
  get accounts(): number {
    return this.#byAccount.size;
  }

  /**
   * Registers a socket. Register first, then read the account's cursor and call `hello()`: a
   * change committed in between is then either in the cursor read or delivered by `publish()`.
   */
  add(accountId: string, socket: RealtimeSocket, sessionId: string | null = null): Connection {
    const conn = new Connection(accountId, socket, sessionId);
    let set = this.#byAccount.get(accountId);
    if (!set) this.#byAccount.set(accountId, (set = new Set()));
    set.add(conn);
    this.#count++;
    return conn;
  }

  /** Sends `{"type":"hello","cursor":N}`; N never goes below a cursor already sent to this socket. */
  hello(conn: Connection, cursor: number): void {
    if (conn.closed) return;
    conn.cursor = Math.max(conn.cursor, cursor);
    this.#send(conn, { type: 'hello', cursor: conn.cursor });
  }

  /** Unregisters a socket (idempotent). Call it from the socket's close handler. */
  remove(conn: Connection): void {
    if (conn.closed) return;
    conn.closed = true;
    const set = this.#byAccount.get(conn.accountId);
    if (set?.delete(conn)) this.#count--;
    if (set && set.size === 0) this.#byAccount.delete(conn.accountId);
  }

  /**
   * Tells every socket of `accountId` in this process that its cursor moved to `cursor`.
   * Sockets that already know this cursor (or a later one) get nothing, so a change that arrives
   * twice (locally and back through NOTIFY) or late is sent once, in increasing order.
   * Returns the number of sockets written to.
   */
  publish(accountId: string, cursor: number): number {
    const set = this.#byAccount.get(accountId);
    if (!set) return 0;
    let sent = 0;
    for (const conn of set) {
      if (conn.closed || cursor <= conn.cursor) continue;
      conn.cursor = cursor;
      this.#send(conn, { type: 'changed', cursor });
      sent++;
    }
    return sent;
  }

  /** Accounts with sockets here, for re-synchronising after a missed notification window. */
  connectedAccounts(): string[] {
    return [...this.#byAccount.keys()];
  }

  /** Session ids behind the open sockets. */
  sessionIds(): string[] {
    const ids = new Set<string>();
    for (const set of this.#byAccount.values()) for (const conn of set) if (conn.sessionId) ids.add(conn.sessionId);
    return [...ids];
  }

  /** Closes (code 4001) every socket opened by one of these sessions. Returns how many. */
  endSessions(sessionIds: Iterable<string>): number {
    const ended = new Set(sessionIds);
    let closed = 0;
    for (const set of [...this.#byAccount.values()]) {
      for (const conn of [...set]) {
        if (!conn.sessionId || !ended.has(conn.sessionId)) continue;
        this.remove(conn);
        closed++;
        try {
          if (conn.socket.close) conn.socket.close(SESSION_ENDED, 'session ended');
          else conn.socket.terminate();
        } catch (err) {
          this.#onError(err);
          this.#terminate(conn);
        }
      }
    }
    return closed;
  }

  /** Starts the keep-alive loop (idempotent). The timer does not keep the process alive. */
  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.sweep(), this.#pingIntervalMs);
    this.#timer.unref?.();
  }

  /** Stops the keep-alive loop and terminates every socket. */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    for (const set of [...this.#byAccount.values()]) {
      for (const conn of [...set]) {
        this.remove(conn);
        this.#terminate(conn);
      }
    }
  }

  /**
   * One keep-alive round: a socket that did not answer since the previous round is terminated;
   * every other socket gets `{"type":"ping"}` and a protocol ping. Exposed for tests.
   */
  sweep(): void {
    for (const set of [...this.#byAccount.values()]) {
      for (const conn of [...set]) {
        if (!conn.isAlive) {
          this.remove(conn);
          this.#terminate(conn);
          continue;
        }
        conn.isAlive = false;
        this.#send(conn, { type: 'ping' });
        try {
          conn.socket.ping();
        } catch (err) {
          this.#onError(err);
        }
      }
    }
  }

  #send(conn: Connection, message: ServerMessage): void {
    try {
      conn.socket.send(JSON.stringify(message));
    } catch (err) {
      this.#onError(err);
      this.remove(conn);
      this.#terminate(conn);
    }
  }

  #terminate(conn: Connection): void {
    try {
      conn.socket.terminate();
    } catch (err) {
      this.#onError(err);
    }
  }
}
