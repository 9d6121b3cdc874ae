// A tiny typed emitter. After every committed transaction that writes to `changes`, the server
// emits `changed` with the account's new cursor; after every committed deletion of sessions it
// emits `sessionsEnded` (session-cache.ts). The realtime fan-out subscribes to both and tells the
// other server processes.
export interface ChangedEvent { accountId: string; cursor: number }
/** Sessions of this account ended; `null`: of any number of accounts (the collector). */
export interface SessionsEndedEvent { accountId: string | null }

export interface EventMap { changed: ChangedEvent; sessionsEnded: SessionsEndedEvent }

type Listener<T> = (event: T) => void;

export class Events {
  readonly #listeners: { [K in keyof EventMap]: Set<Listener<EventMap[K]>> } = {
    changed: new Set(), sessionsEnded: new Set(),
  };

  /** Subscribes; returns the function that unsubscribes. */
  on<K extends keyof EventMap>(name: K, listener: Listener<EventMap[K]>): () => void {
    this.#listeners[name].add(listener);
    return () => this.#listeners[name].delete(listener);
  }

  /** Calls every listener; a listener that throws does not stop the others (or the caller). */
  emit<K extends keyof EventMap>(name: K, event: EventMap[K]): void {
    for (const listener of this.#listeners[name]) {
      try {
        listener(event);
      } catch {
        // listeners log their own failures; a broken subscriber must not fail a committed write
      }
    }
  }
}
