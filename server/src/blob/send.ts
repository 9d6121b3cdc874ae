// The response that sends one blob (a chunk record).
import type { ServerResponse } from 'node:http';
import type { Context } from 'hono';
import type { Blob } from './store.js';

/**
 * Sends `blob` with `headers` (and its Content-Length). Behind @hono/node-server its bytes go to
 * the socket as they are, so they are handed back to the store (Blob.release) only when the Node
 * response has closed: sent in full, or the connection gone.
 */
export function blobResponse(c: Context, blob: Blob, headers: Record<string, string>): Response {
  const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
  if (blob.release && outgoing) outgoing.once('close', blob.release);
  return c.body(blob.bytes ?? blob.stream, 200, { ...headers, 'Content-Length': String(blob.size) });
}
