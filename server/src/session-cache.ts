// Session rows remembered for a moment, by token hash. Every authenticated request needs its
// session; without this, a burst of small requests spends half its database work looking up the
// same row again and again.
//
// Every deletion of sessions (log-out, revoke, passphrase change, idle expiry, collection) ends with
// `sessionsEnded` once it has committed: this process forgets the account's entries at once, and the
// realtime fan-out NOTIFYs every other process on the same PostgreSQL, which forget them too, within
// milliseconds (realtime/fanout.ts). An entry is trusted for at most SESSION_CACHE_MS in any case,
// the bound for a process that misses the notification (LISTEN connection down). docs/api.md,
// threat-model.md.
//
// A read that began before a deletion committed may return the deleted row after the notification
// was handled; `epoch` lets requireSession leave such a row out of the cache (context.ts).
import type { AppContext } from './context.js';
import type { sessions } from './db/schema/core.js';

/** Default lifetime of an entry (COFFER_SESSION_CACHE_MS). */
export const SESSION_CACHE_MS = 1000;
/** Entries beyond this are dropped oldest first; a cache miss only costs a query. */
const MAX_ENTRIES = 10_000;

/**
 * What a request may read of a cached session. Not its device: a session can be linked to another
 * device while cached (PUT /api/auth/sessions/current/device), so routes read that from the table.
 */
export type SessionRow = Omit<typeof sessions.$inferSelect, 'deviceId'>;

export class SessionCache {
  readonly #entries = new Map<string, { row: SessionRow; at: number }>();
  #epoch = 0;

  constructor(readonly ttlMs = SESSION_CACHE_MS) {}

  /** Changes whenever entries are forgotten. A row read while it changed may be stale: do not `set` it. */
  get epoch(): number {
    return this.#epoch;
  }

  get(tokenHash: string, now = performance.now()): SessionRow | undefined {
    const entry = this.#entries.get(tokenHash);
    if (!entry) return undefined;
    if (now - entry.at > this.ttlMs) {
      this.#entries.delete(tokenHash);
      return undefined;
    }
    return entry.row;
  }

  set(tokenHash: string, row: SessionRow, now = performance.now()): void {
    this.#entries.delete(tokenHash);
    if (this.#entries.size >= MAX_ENTRIES) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(tokenHash, { row, at: now });
  }

  /** Forgets the entries of one account (at most MAX_ENTRIES to scan), or of all with `null`. */
  forget(accountId: string | null): void {
    this.#epoch++;
    if (accountId === null) {
      this.#entries.clear();
      return;
    }
    for (const [hash, entry] of this.#entries) if (entry.row.accountId === accountId) this.#entries.delete(hash);
  }

  /** Forgets everything. */
  clear(): void {
    this.forget(null);
  }
}

const caches = new WeakMap<AppContext, SessionCache>();

/** The session cache of an app context, created on first use. */
export function sessionCacheFor(ctx: AppContext): SessionCache {
  let cache = caches.get(ctx);
  if (!cache) {
    cache = new SessionCache(ctx.config.sessionCacheMs);
    caches.set(ctx, cache);
  }
  return cache;
}

/**
 * Call after every deletion of sessions, once its transaction has committed (never inside it: the
 * other processes would then re-read the rows before they are gone, and cache them). Forgets the
 * cached sessions of `accountId` (`null`: of every account) here, and has the realtime fan-out
 * announce it to the other server processes. The announcement carries the account id only.
 */
export function sessionsEnded(ctx: AppContext, accountId: string | null): void {
  sessionCacheFor(ctx).forget(accountId);
  ctx.events.emit('sessionsEnded', { accountId });
}
