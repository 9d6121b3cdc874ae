// Coffer download service worker: turns a decrypted stream into a browser download, so large
// files never sit in memory as one buffer. The page sends a MessagePort and an id; the crypto
// worker posts the stream over that port ({ name, mime, size, stream }), so the bytes come here
// without passing through the page; the page hears on `ack` when it may open /__coffer_dl/<id>.
// Registered with the scope /__coffer_dl/ (src/ui/download.ts), so no other request of the vault
// comes through it; it serves only /__coffer_dl/<random id>.
const pending = new Map();

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('message', (event) => {
  const data = event.data;
  if (!data || data.type !== 'coffer-download-port' || typeof data.id !== 'string') return;
  const { id, port, ack } = data;
  if (!(port instanceof MessagePort) || !(ack instanceof MessagePort)) return;
  // This worker stays alive until the stream has come (or a minute has passed).
  event.waitUntil(new Promise((resolve) => {
    setTimeout(resolve, 60000);
    port.onmessage = (m) => {
      port.close();
      resolve();
      const item = m.data;
      if (!item || !(item.stream instanceof ReadableStream)) return;
      pending.set(id, item);
      // Forget a download nobody fetched within a minute.
      setTimeout(() => pending.delete(id), 60000);
      ack.postMessage({ ok: true });
      ack.close();
    };
  }));
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
