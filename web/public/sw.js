// Coffer download service worker: turns a decrypted stream into a browser download, so large
// files never sit in memory as one buffer. The page sends a MessagePort and an id; the crypto
// worker posts the stream over that port ({ name, mime, size, stream }), so the bytes come here
// without passing through the page; the page hears on `ack` when it may open /__coffer_dl/<id>.
// Registered with the scope /__coffer_dl/ (src/ui/download.ts), so no other request of the vault
// comes through it; it serves only /__coffer_dl/<random id>.
//
// The stream can be long in coming (a folder's zip lists the whole folder before its first byte),
// longer than a browser lets one event hold a worker (Chromium: 5 minutes; it stops a worker with
// no event left after 30 s). So the page, told on `ack` how long this worker waits ({ wait }),
// sends { type: 'coffer-download-wait', id } every third of that while the stream is on its way:
// each is an event of its own that holds this worker, and each gives the stream the whole wait
// again. A page that stops saying so (closed, or its tab gone) is given up on: { ok: false }.
const pending = new Map();
/** id → what a 'coffer-download-wait' message does: waits afresh (until the stream has come). */
const waiting = new Map();
/** How long a stream may take after the page last said it is coming (folder-zip.test.ts shortens it). */
self.downloadWaitMs = 60000;

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('message', (event) => {
  const data = event.data;
  if (!data || typeof data.id !== 'string') return;
  if (data.type === 'coffer-download-wait') {
    const again = waiting.get(data.id);
    if (again) event.waitUntil(again());
    return;
  }
  if (data.type !== 'coffer-download-port') return;
  const { id, port, ack } = data;
  if (!(port instanceof MessagePort) || !(ack instanceof MessagePort)) return;
  let timer;
  let settle;
  const settled = new Promise((resolve) => (settle = resolve));
  const stop = () => {
    clearTimeout(timer);
    waiting.delete(id);
    port.close();
    settle();
  };
  const again = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      stop();
      ack.postMessage({ ok: false });
      ack.close();
    }, self.downloadWaitMs);
    return settled;
  };
  waiting.set(id, again);
  port.onmessage = (m) => {
    stop();
    const item = m.data;
    const ok = Boolean(item) && item.stream instanceof ReadableStream;
    if (ok) {
      pending.set(id, item);
      // Forget a download nobody fetched within a minute.
      setTimeout(() => pending.delete(id), 60000);
    }
    ack.postMessage({ ok });
    ack.close();
  };
  ack.postMessage({ wait: self.downloadWaitMs });
  event.waitUntil(again());
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (url.origin !== self.location.origin || !url.pathname.startsWith('/__coffer_dl/')) return;
  const id = url.pathname.slice('/__coffer_dl/'.length);
  const item = pending.get(id);
  if (!item) {
    event.respondWith(new Response('Download expired', { status: 404 }));
    return;
  }
  pending.delete(id);
  const encoded = encodeURIComponent(item.name).replace(/['()*]/g, (c) => '%' + c.charCodeAt(0).toString(16));
  const headers = {
    'Content-Type': item.inline ? item.mime || 'application/octet-stream' : 'application/octet-stream',
    'Content-Disposition': (item.inline ? 'inline' : 'attachment') + "; filename*=UTF-8''" + encoded,
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': 'no-store',
  };
  if (typeof item.size === 'number') headers['Content-Length'] = String(item.size);
  event.respondWith(new Response(item.stream, { headers }));
});
