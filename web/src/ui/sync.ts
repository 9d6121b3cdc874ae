// Live sync: a WebSocket on /api/ws (cookie auth) says "changed"; we then page through
// GET /api/changes?since= and tell the view which nodes changed. When the server no longer keeps
// the changes after our cursor (410 CURSOR_EXPIRED), we take its current cursor and have the view
// reload everything instead. A catch-up that fails while the socket is open (the server busy, a
// proxy in the way) is tried again with backoff, and the state says "paused" meanwhile: the socket
// alone brings nothing back, it only says when something changed.
import { api, ApiError, errorCode } from '../http';

/** `paused`: connected, but the changes could not be fetched; tried again with backoff. */
export type SyncState = { state: 'synced' | 'syncing' | 'offline' | 'paused'; pending: number };

/** 0.5 s, 1 s, 2 s, ... up to 30 s, ±25 % so that the tabs of a restarted server do not come back at once. */
const backoff = (n: number) => Math.min(30_000, 500 * 2 ** Math.min(n, 6)) * (0.75 + Math.random() * 0.5);

interface Changes { changes: { cursor: number; nodeId: string; op: string }[]; next: number; more: boolean }

export function startSync(
  initialCursor: number,
  onState: (s: SyncState) => void,
  onChanged: (nodeIds: string[], all: boolean) => Promise<void>,
): () => void {
  let cursor = initialCursor;
  let ws: WebSocket | null = null;
  let stopped = false;
  let retry = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let failures = 0;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> | null = null;
  let again = false;

  const pull = async () => {
    if (running) { again = true; return running; }
    running = (async () => {
      do {
        again = false;
        const ids = new Set<string>();
        let at = cursor;
        let more = true;
        let pages = 0;
        let expired = false;
        while (more && !stopped) {
          let page: Changes;
          try {
            page = await api<Changes>(`/api/changes?since=${at}&limit=500`);
          } catch (err) {
            if (!(err instanceof ApiError && err.code === 'CURSOR_EXPIRED' && typeof err.body.cursor === 'number')) throw err;
            at = err.body.cursor; // follow on from the server's cursor; the view reloads below
            expired = true;
            continue;
          }
          for (const c of page.changes) ids.add(c.nodeId);
          at = page.next ?? at;
          more = page.more;
          pages++;
          onState({ state: 'syncing', pending: ids.size });
        }
        if (stopped) return;
        if (ids.size > 0 || expired) await onChanged([...ids], pages > 4 || expired);
        // Moved on only once the view has them: a catch-up that fails on the way (a page, or the
        // view's fetch of the changed nodes) starts again from here and skips nothing.
        cursor = at;
      } while (again && !stopped);
    })().finally(() => { running = null; });
    return running;
  };

  const open = () => ws !== null && ws.readyState === WebSocket.OPEN;

  /** Fetches what changed; while the socket is open, a failure is tried again with backoff. */
  const catchUp = () => {
    clearTimeout(retryTimer);
    pull().then(
      () => {
        failures = 0;
        if (open()) onState({ state: 'synced', pending: 0 });
      },
      (err: unknown) => {
        // Closed meanwhile: the reconnect catches up. A refused session ends the vault (http.ts).
        if (stopped || !open() || errorCode(err) === 'UNAUTHENTICATED') return;
        onState({ state: 'paused', pending: 0 });
        const wait = err instanceof ApiError && err.retryAfter ? err.retryAfter * 1000 : 0;
        clearTimeout(retryTimer); // two callers may have shared one pull: one retry
        retryTimer = setTimeout(catchUp, Math.max(wait, backoff(failures++)));
      },
    );
  };

  const connect = () => {
    if (stopped) return;
    onState({ state: retry === 0 ? 'syncing' : 'offline', pending: 0 });
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/ws`;
    try {
      ws = new WebSocket(url);
    } catch {
      return schedule();
    }
    let opened = false;
    ws.onopen = () => {
      opened = true;
      retry = 0;
      catchUp(); // whatever happened while we were away
    };
    ws.onmessage = (ev) => {
      let msg: { type?: string; cursor?: number };
      try { msg = JSON.parse(String(ev.data)); } catch { return; }
      if (msg.type === 'changed' && (msg.cursor === undefined || msg.cursor > cursor)) {
        onState({ state: 'syncing', pending: 0 });
        catchUp();
      }
    };
    ws.onclose = () => {
      ws = null;
      clearTimeout(retryTimer);
      // The server also closes the socket when the session ends, and a refused reconnect does not
      // say why: one request does (a 401 ends the vault, see http.ts onSessionEnded).
      if (opened && !stopped) pull().catch(() => {});
      schedule();
    };
    ws.onerror = () => ws?.close();
  };

  const schedule = () => {
    if (stopped) return;
    onState({ state: 'offline', pending: 0 });
    retry++;
    timer = setTimeout(connect, backoff(retry));
  };

  const online = () => { if (!ws) { clearTimeout(timer); retry = 0; connect(); } };
  window.addEventListener('online', online);
  connect();
  return () => {
    stopped = true;
    clearTimeout(timer);
    clearTimeout(retryTimer);
    window.removeEventListener('online', online);
    ws?.close();
  };
}
