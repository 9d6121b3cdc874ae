// Session rows remembered for a moment, by token hash. Every authenticated request needs its
// session; without this, a burst of small requests spends half its database work looking up the
// same row again and again.
//
// An entry is trusted for at most SESSION_CACHE_MS. Whenever this process deletes sessions (log-out,
// revoke, passphrase change, idle expiry, collection) it forgets every entry, so here the deletion
// takes effect at once; another server process on the same PostgreSQL keeps honouring a revoked
// session for at most SESSION_CACHE_MS (docs/api.md, threat-model.md).
import type { AppContext } from './context.js';
import type { sessions } from './db/schema/core.js';

export const SESSION_CACHE_MS = 1000;
/** Entries beyond this are dropped oldest first; a cache miss only costs a query. */
const MAX_ENTRIES = 10_000;

export type SessionRow = typeof sessions.$inferSelect;

export class SessionCache {
  readonly #entries = new Map<string, { row: SessionRow; at: number }>();

  get(tokenHash: string, now = performance.now()): SessionRow | undefined {
    const entry = this.#entries.get(tokenHash);
    if (!entry) return undefined;
    if (now - entry.at > SESSION_CACHE_MS) {
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

  /** Forgets everything: called after any deletion of sessions. */
  clear(): void {
    this.#entries.clear();
  }
}

const caches = new WeakMap<AppContext, SessionCache>();

/** The session cache of an app context, created on first use. */
export function sessionCacheFor(ctx: AppContext): SessionCache {
  let cache = caches.get(ctx);
  if (!cache) {
    cache = new SessionCache();
    caches.set(ctx, cache);
  }
  return cache;
}
