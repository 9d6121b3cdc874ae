// @ts-check
// The worker thread behind the node:crypto backend's sealChunk (backend.ts): the chunk id HMAC, the
// chunk key and AES-256-GCM of each chunk (format §6.2, §6.3), off the thread that chunks the file.
// Plain JavaScript on purpose: a worker does not inherit the tsx loader the CLI runs under.
//
// Message in:  { seq, idKey, keyKey, header, nonce, aadPrefix, body, plainLength }: body is the
//              padded chunk (the plaintext is body[0 .. plainLength)), in a SharedArrayBuffer or
//              in a transferred ArrayBuffer.
// Message out: { seq, id, key, record } with record's buffer transferred, or { seq, error } when the
//              job failed; a transferred body goes back as `body`. Jobs are answered in order.
import { createCipheriv, createHmac } from 'node:crypto';
import { parentPort } from 'node:worker_threads';

const TAG_BYTES = 16;
const STEP = 65536;

/**
 * id = HMAC(idKey, plain), key = HMAC(keyKey, id),
 * record = header || nonce || AES-256-GCM(key, nonce, body, aadPrefix || id) (ct || tag).
 * @param {{ idKey: Uint8Array, keyKey: Uint8Array, header: Uint8Array, nonce: Uint8Array, aadPrefix: Uint8Array, body: Uint8Array, plainLength: number }} job
 */
function sealChunk(job) {
  const { header, nonce, body } = job;
  const id = createHmac('sha256', job.idKey).update(body.subarray(0, job.plainLength)).digest();
  const key = createHmac('sha256', job.keyKey).update(id).digest();
  try {
    const c = createCipheriv('aes-256-gcm', key, nonce);
    c.setAAD(Buffer.concat([job.aadPrefix, id]));
    // allocUnsafeSlow: an unpooled, transferable buffer, every byte of which is written below.
    const record = Buffer.allocUnsafeSlow(header.length + nonce.length + body.length + TAG_BYTES);
    record.set(header, 0);
    record.set(nonce, header.length);
    let at = header.length + nonce.length;
    // In 64 KiB steps: each update() output is a small heap allocation copied once into the record.
    for (let i = 0; i < body.length; i += STEP) {
      const part = c.update(body.subarray(i, Math.min(body.length, i + STEP)));
      record.set(part, at);
      at += part.length;
    }
    const tail = c.final();
    record.set(tail, at);
    record.set(c.getAuthTag(), at + tail.length);
    if (at + tail.length + TAG_BYTES !== record.length) throw new Error('chunk worker: record length mismatch');
    return { id: new Uint8Array(id), key: new Uint8Array(key), record: new Uint8Array(record.buffer, record.byteOffset, record.length) };
  } finally {
    key.fill(0);
  }
}

const port = parentPort;
if (!port) throw new Error('chunk-worker.mjs runs as a worker thread only');
port.on('message', (job) => {
  const back = job.body?.buffer instanceof ArrayBuffer ? { body: job.body } : {};
  const transfer = back.body ? [back.body.buffer] : [];
  try {
    const { id, key, record } = sealChunk(job);
    port.postMessage({ seq: job.seq, id, key, record, ...back }, [record.buffer, ...transfer]);
    key.fill(0); // postMessage has cloned it
  } catch (e) {
    port.postMessage({ seq: job.seq, error: e instanceof Error ? e.message : String(e), ...back }, transfer);
  } finally {
    job.idKey.fill(0);
    job.keyKey.fill(0);
  }
});
