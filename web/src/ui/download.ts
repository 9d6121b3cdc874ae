// Where decrypted bytes go: the File System Access API when the browser has it, else the
// download service worker (public/sw.js), else, for small files only, a Blob.
// A stream that fails its integrity check errors the sink, so no partial file is kept as good.
import * as facade from '../crypto/facade';
import type { DownloadProgress, DownloadStream } from '../crypto/types';
import { ApiError } from '../http';

type Picker = (opts: { suggestedName?: string }) => Promise<{ createWritable(): Promise<WritableStream<Uint8Array>> }>;
const BLOB_LIMIT = 256 * 1024 * 1024;

let swReady: Promise<ServiceWorkerRegistration | null> | null = null;

/**
 * The download worker controls only `/__coffer_dl/`: the hidden frame's navigation there is all it
 * serves. Controlling the whole origin, as it once did, sent every request of the vault through
 * its fetch event, and Chromium then kept each chunk PUT's body in the page's process (about as
 * many bytes as were uploaded, never given back; docs/benchmarks.md). A registration of that
 * wider scope left by an earlier version is removed.
 */
export function registerDownloadWorker(): Promise<ServiceWorkerRegistration | null> {
  if (swReady) return swReady;
  swReady = (async () => {
    if (!('serviceWorker' in navigator)) return null;
    try {
      for (const old of await navigator.serviceWorker.getRegistrations()) {
        if (old.scope === `${location.origin}/`) await old.unregister();
      }
      const reg = await navigator.serviceWorker.register('/sw.js', { scope: '/__coffer_dl/' });
      const sw = reg.installing ?? reg.waiting ?? reg.active;
      if (sw && sw.state !== 'activated') {
        await new Promise<void>((resolve) => {
          sw.addEventListener('statechange', () => { if (sw.state === 'activated') resolve(); });
          setTimeout(resolve, 5000);
        });
      }
      return reg.active ? reg : null;
    } catch {
      return null;
    }
  })();
  return swReady;
}

export type SinkKind = 'fsa' | 'sw' | 'blob';

export function fsaAvailable(): boolean {
  return typeof (window as unknown as { showSaveFilePicker?: Picker }).showSaveFilePicker === 'function'
    && localStorage.getItem('coffer.download') !== 'sw';
}

/** Must run inside the click handler (user activation) before any await. */
export function pickFile(name: string): Promise<WritableStream<Uint8Array>> | null {
  if (!fsaAvailable()) return null;
  const picker = (window as unknown as { showSaveFilePicker: Picker }).showSaveFilePicker;
  return picker({ suggestedName: name }).then((h) => h.createWritable());
}

/** Passes a stream through, reporting progress (up to four chunks queued). */
function observed(
  src: ReadableStream<Uint8Array>,
  total: number,
  onProgress: (done: number, total: number) => void,
): ReadableStream<Uint8Array> {
  const reader = src.getReader();
  let done = 0;
  return new ReadableStream<Uint8Array>(
    {
      async pull(c) {
        try {
          const r = await reader.read();
          if (r.done) {
            c.close();
          } else {
            done += r.value.byteLength;
            onProgress(done, total);
            c.enqueue(r.value);
          }
        } catch (e) {
          c.error(e);
        }
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 4 },
  );
}

function randomHex(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/**
 * Saves file `nodeId` (`version` null: the current one; on the receive page, of the link) to the
 * user's disk: into the file `picked` (File System Access API), else through the download service
 * worker, else as a Blob. Resolves once every byte is written, with the file's size; an integrity
 * failure rejects, and no file is kept as good.
 */
export function downloadFile(
  nodeId: string,
  version: number | null,
  onProgress: (done: number, total: number) => void,
  picked: Promise<WritableStream<Uint8Array>> | null,
  link = false,
): Promise<{ kind: SinkKind; size: number }> {
  return deliver(
    (port, progress) => facade.begin('sendDownload', [nodeId, version, port], progress, [port]),
    () => (link ? facade.call('linkDownload', nodeId) : facade.call('download', nodeId, version)),
    onProgress,
    picked,
  );
}

/**
 * Saves folder `folderId` with everything live below it as `<name>.zip` (the crypto worker makes
 * the archive, src/crypto/zip.ts), to the same sinks and with the same guarantees as downloadFile:
 * a chunk that fails its check rejects, and no archive is kept as good. `link`: a folder of the
 * share link open on the receive page.
 */
export function downloadFolder(
  folderId: string,
  onProgress: (done: number, total: number) => void,
  picked: Promise<WritableStream<Uint8Array>> | null,
  link = false,
): Promise<{ kind: SinkKind; size: number }> {
  return deliver(
    (port, progress) => facade.begin('sendZip', [folderId, port, link], progress, [port]),
    () => facade.call('zipFolder', folderId, link),
    onProgress,
    picked,
  );
}

/**
 * Where a download's stream goes: `send` posts it from the crypto worker to the download service
 * worker over `port`, `open` gives it to this page (for the file `picked`, or a Blob).
 */
async function deliver(
  send: (port: MessagePort, progress: (v: unknown) => void) => facade.CallHandle<{ name: string; size: number }>,
  open: () => Promise<DownloadStream>,
  onProgress: (done: number, total: number) => void,
  picked: Promise<WritableStream<Uint8Array>> | null,
): Promise<{ kind: SinkKind; size: number }> {
  const reg = picked ? null : await registerDownloadWorker();
  if (reg?.active) {
    // The crypto worker posts its stream straight to the service worker over a channel of their
    // own: the bytes never pass through this page (each hop copies them; docs/benchmarks.md).
    const sw = reg.active;
    const id = randomHex();
    const data = new MessageChannel();
    const ack = new MessageChannel();
    // Until the stream is there (a folder's zip lists the whole folder first), the service worker
    // is told every third of its wait that it is still coming, so it neither gives up on it nor is
    // stopped by the browser however long the listing takes (public/sw.js).
    let stillComing: ReturnType<typeof setInterval> | undefined;
    const ready = new Promise<void>((resolve, reject) => {
      ack.port1.onmessage = (m: MessageEvent<{ wait?: number; ok?: boolean }>) => {
        if (m.data.wait) {
          stillComing = setInterval(() => sw.postMessage({ type: 'coffer-download-wait', id }), m.data.wait / 3);
        } else if (m.data.ok) {
          resolve();
        } else {
          reject(new ApiError('DOWNLOAD_NOT_STARTED', 'The browser’s download worker stopped waiting. Try again.', 0));
        }
      };
    });
    sw.postMessage({ type: 'coffer-download-port', id, port: data.port1, ack: ack.port2 }, [data.port1, ack.port2]);
    const call = send(data.port2, (v) => {
      const p = v as DownloadProgress;
      onProgress(p.done, p.total);
    });
    try {
      await Promise.race([ready, call.result]); // a failure before the stream was sent rejects here
    } finally {
      ack.port1.close(); // nothing more to hear: no wait to start late, no give-up after a failure
      clearInterval(stillComing);
    }
    const frame = document.createElement('iframe');
    frame.hidden = true;
    frame.title = 'download';
    frame.src = `/__coffer_dl/${id}`;
    document.body.append(frame);
    try {
      const { size } = await call.result;
      onProgress(size, size);
      return { kind: 'sw', size };
    } finally {
      setTimeout(() => frame.remove(), 60_000);
    }
  }
  const ds = await open();
  return { kind: await save(ds, onProgress, picked), size: ds.size };
}

/** Writes a decrypted stream to the file `picked`, else as a Blob (small files only). */
async function save(
  ds: DownloadStream,
  onProgress: (done: number, total: number) => void,
  picked: Promise<WritableStream<Uint8Array>> | null,
): Promise<SinkKind> {
  const counted = observed(ds.stream, ds.size, onProgress);
  if (picked) {
    const writable = await picked;
    await counted.pipeTo(writable); // an error aborts the writable: the browser discards the file
    return 'fsa';
  }
  if (ds.size > BLOB_LIMIT) throw new Error('This browser cannot stream a download this large. Try Chromium or Firefox.');
  const blob = await new Response(counted).blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = ds.name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return 'blob';
}

/** Reads a small stream fully (previews). */
export async function readAll(ds: DownloadStream): Promise<Blob> {
  return new Response(ds.stream).blob().then((b) => new Blob([b], { type: ds.mime || 'application/octet-stream' }));
}
