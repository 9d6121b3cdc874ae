// Retries of the change NOTIFYs that failed (docs/api.md "Sync").
//
// After a change commits, its process tells the others by `NOTIFY coffer_changes,
// '<accountId>:<cursor>'` (fanout.ts). When that NOTIFY fails (the connection broke, the answer
// deadline ended it, the database was briefly unavailable), the other processes' LISTEN
// connections may well be fine, so they would catch up at nothing: their sockets would learn of
// the change only at the account's next change, maybe never. So a failed one is kept and sent
// again, with backoff, until it goes out.
//
// What is kept is small and bounded. A hub needs only an account's latest cursor, so the queue
// holds one cursor per account, the latest that failed; an entry goes as soon as a NOTIFY of that
// cursor or a newer one for the account has gone out (a retry or a later change's own); and at most
// `maxPending` accounts wait, the one that waited longest being dropped for a new one (reported).
// Nothing here blocks a request: `notify()` resolves after the first attempt and never rejects,
// and the retries run on a timer.
import type { ChangeEvent } from './fanout.js';

export interface NotifyRetryOptions {
  /** Sends one NOTIFY; rejects when it failed. */
  send: (event: ChangeEvent) => Promise<void>;
  /** First delay before a retry; doubles after each failed round up to `maxRetryMs`. Default 500 ms. */
  retryMs?: number;
  /** Longest delay between retries. Default 30 s. */
  maxRetryMs?: number;
  /** Most accounts waiting for a retry. Default 10 000 (about a megabyte). */
  maxPending?: number;
  /** Reports failures and drops. Messages carry no secrets (no payload either). */
  onError?: (message: string, err: unknown) => void;
}

export class NotifyRetry {
  readonly #send: NotifyRetryOptions['send'];
  readonly #retryMs: number;
  readonly #maxRetryMs: number;
  readonly #maxPending: number;
  readonly #onError: NonNullable<NotifyRetryOptions['onError']>;
  /** Account → latest cursor whose NOTIFY failed; oldest-changed first (a Map keeps insertion order). */
  readonly #pending = new Map<string, number>();
  /**
   * Accounts with a NOTIFY under way → how many, and the highest cursor that went out meanwhile:
   * one that fails after a newer one went out (they race on the wire) is not kept.
   */
  readonly #inFlight = new Map<string, { count: number; sent: number }>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #delay: number;
  #flushing = false;
  /** The round under way, if any (close waits for it). */
  #round: Promise<void> | undefined;
  #closed = false;
  /** Set once an overflow has been reported, until the queue empties again. */
  #overflowed = false;

  constructor(options: NotifyRetryOptions) {
    this.#send = options.send;
    this.#retryMs = options.retryMs ?? 500;
    this.#maxRetryMs = options.maxRetryMs ?? 30_000;
    this.#maxPending = options.maxPending ?? 10_000;
    if (!Number.isSafeInteger(this.#maxPending) || this.#maxPending < 1) throw new RangeError('maxPending must be an integer ≥ 1');
    this.#onError = options.onError ?? (() => {});
    this.#delay = this.#retryMs;
  }

  /** Accounts waiting for a retry. */
  get pending(): number {
    return this.#pending.size;
  }

  /** The cursor waiting for a retry for an account, if any. */
  pendingCursor(accountId: string): number | undefined {
    return this.#pending.get(accountId);
  }

  /** Sends a change's NOTIFY once; keeps it for a retry when that fails. Never rejects. */
  async notify(event: ChangeEvent): Promise<void> {
    try {
      await this.#attempt(event);
    } catch (err) {
      this.#onError('realtime: NOTIFY failed; it is sent again with backoff', err);
      return;
    }
    // It went out, so the database answers again: no use waiting for the backoff.
    this.kick();
  }

  /** Retries now, with the shortest delay (the database answers again: a NOTIFY or LISTEN went through). */
  kick(): void {
    if (this.#closed || this.#flushing || this.#pending.size === 0) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#delay = this.#retryMs;
    void this.#flush();
  }

  /**
   * Stops retrying. What still waits gets one last round first (a process shutting down may be
   * the only one that knows of those changes), for at most `drainMs`; what is then still unsent
   * is dropped and reported.
   */
  async close(drainMs = 0): Promise<void> {
    if (this.#closed) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (drainMs > 0 && (this.#pending.size > 0 || this.#round)) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<void>((resolve) => { timer = setTimeout(resolve, drainMs); });
      const lastRound = (async () => {
        await this.#round; // a round under way first: it may already be sending them
        await this.#flush();
      })();
      await Promise.race([lastRound, late]);
      clearTimeout(timer);
    }
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending.size > 0) {
      this.#onError(
        `realtime: ${this.#pending.size} account(s) still wait for a NOTIFY at shutdown; dropped (their other processes' sockets catch up at their next change or reconnect)`,
        new Error('notify retry queue dropped at close'),
      );
      this.#pending.clear();
    }
  }

  /** One NOTIFY; on failure the cursor is kept (unless a newer one went out) and the error rethrown. */
  async #attempt(event: ChangeEvent): Promise<void> {
    const { accountId, cursor } = event;
    let flight = this.#inFlight.get(accountId);
    if (!flight) this.#inFlight.set(accountId, (flight = { count: 0, sent: -1 }));
    flight.count++;
    try {
      await this.#send(event);
      flight.sent = Math.max(flight.sent, cursor);
      const waiting = this.#pending.get(accountId);
      if (waiting !== undefined && waiting <= cursor) this.#pending.delete(accountId);
      if (this.#pending.size === 0) this.#overflowed = false;
    } catch (err) {
      if (cursor > flight.sent) this.#keep(accountId, cursor);
      throw err;
    } finally {
      if (--flight.count === 0) this.#inFlight.delete(accountId);
    }
  }

  #keep(accountId: string, cursor: number): void {
    if (this.#closed) return;
    const waiting = this.#pending.get(accountId);
    if (waiting !== undefined) {
      if (waiting >= cursor) return;
      this.#pending.delete(accountId); // re-inserted below: the most recently changed go last
    } else if (this.#pending.size >= this.#maxPending) {
      const oldest = this.#pending.keys().next().value!;
      this.#pending.delete(oldest);
      if (!this.#overflowed) {
        this.#overflowed = true;
        this.#onError(
          `realtime: more than ${this.#maxPending} accounts wait for a NOTIFY; dropping the longest waiting (their other processes' sockets catch up at their next change or reconnect)`,
          new Error('notify retry queue full'),
        );
      }
    }
    this.#pending.set(accountId, cursor);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#closed || this.#flushing || this.#timer || this.#pending.size === 0) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#flush();
    }, this.#delay);
    this.#timer.unref?.();
  }

  /** One round (see #round), unless one is under way. */
  #flush(): Promise<void> {
    if (this.#closed || this.#flushing) return Promise.resolve();
    const round = this.#runRound();
    this.#round = round;
    void round.finally(() => {
      if (this.#round === round) this.#round = undefined;
    });
    return round;
  }

  /** Each waiting account in turn, stopping at the first failure (the database is not answering). */
  async #runRound(): Promise<void> {
    this.#flushing = true;
    let failed = false;
    try {
      for (const accountId of [...this.#pending.keys()]) {
        if (this.#closed) return;
        const cursor = this.#pending.get(accountId);
        if (cursor === undefined) continue; // a newer NOTIFY went out meanwhile
        try {
          await this.#attempt({ accountId, cursor });
        } catch (err) {
          failed = true;
          this.#delay = Math.min(this.#delay * 2, this.#maxRetryMs);
          this.#onError(`realtime: retrying a NOTIFY failed, ${this.#pending.size} waiting, next try in ${this.#delay} ms`, err);
          break;
        }
      }
    } finally {
      this.#flushing = false;
    }
    if (!failed) this.#delay = this.#retryMs;
    this.#schedule(); // NOTIFYs that failed during the round
  }
}
