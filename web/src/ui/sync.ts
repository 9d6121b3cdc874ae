// Live sync: a WebSocket on /api/ws (cookie auth) says "changed"; we then page through
// GET /api/changes?since= and tell the view which nodes changed. When the server no longer keeps
// the changes after our cursor (410 CURSOR_EXPIRED), we take its current cursor and have the view
// reload everything instead.
import { api, ApiError } from '../http';

export type SyncState = { state: 'synced' | 'syncing' | 'offline'; pending: number };

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
  let running: Promise<void> | null = null;
  let again = false;

  const pull = async () => {
    if (running) { again = true; return running; }
    running = (async () => {
      do {
        again = false;
        const ids = new Set<string>();
        let more = true;
        let pages = 0;
        let expired = false;
        while (more && !stopped) {
          let page: Changes;
          try {
            page = await api<Changes>(`/api/changes?since=${cursor}&limit=500`);
          } catch (err) {
            if (!(err instanceof ApiError && err.code === 'CURSOR_EXPIRED' && typeof err.body.cursor === 'number')) throw err;
            cursor = err.body.cursor; // follow on from the server's cursor; the view reloads below
            expired = true;
            continue;
          }
          for (const c of page.changes) ids.add(c.nodeId);
          cursor = page.next ?? cursor;
          more = page.more;
          pages++;
          onState({ state: 'syncing', pending: ids.size });
        }
        if (ids.size > 0 || expired) await onChanged([...ids], pages > 4 || expired);
      } while (again && !stopped);
    })().finally(() => { running = null; });
    return running;
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
      // Catch up on whatever happened while we were away.
      pull().then(() => onState({ state: 'synced', pending: 0 }), () => onState({ state: 'offline', pending: 0 }));
    };
    ws.onmessage = (ev) => {
      let msg: { type?: string; cursor?: number };
      try { msg = JSON.parse(String(ev.data)); } catch { return; }
      if (msg.type === 'changed' && (msg.cursor === undefined || msg.cursor > cursor)) {
        onState({ state: 'syncing', pending: 0 });
        pull().then(() => onState({ state: 'synced', pending: 0 }), () => onState({ state: 'offline', pending: 0 }));
      }
    };
    ws.onclose = () => {
      ws = null;
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
    const delay = Math.min(30_000, 500 * 2 ** Math.min(retry, 6)) * (0.75 + Math.random() * 0.5);
    timer = setTimeout(connect, delay);
  };

  const online = () => { if (!ws) { clearTimeout(timer); retry = 0; connect(); } };
  window.addEventListener('online', online);
  connect();
  return () => {
    stopped = true;
    clearTimeout(timer);
    window.removeEventListener('online', online);
    ws?.close();
  };
}
