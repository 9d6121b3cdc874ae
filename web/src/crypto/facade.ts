// The page's only door to cryptography. Every call is forwarded to one Web Worker
// (src/crypto/worker.ts) by hand-written message passing: {t:'call', id, m, a} goes in,
// {t:'ok'|'err'|'ev', id, ...} comes back. Keys never cross this boundary; `lock()` terminates
// the worker (and its X25519 helper, dh-worker.ts), so every key it held is gone, and the next call
// starts a fresh, empty worker.
import { ApiError, session, sessionEnded } from '../http';
import type { Method, WorkerApi } from './types';

type Pending = { resolve: (v: unknown) => void; reject: (e: unknown) => void; onEvent?: (v: unknown) => void };

let worker: Worker | null = null;
/** The crypto worker's X25519 helper (dh-worker.ts), started and ended with it. */
let helper: Worker | null = null;
let nextId = 1;
const pending = new Map<number, Pending>();

function start(): Worker {
  if (worker) return worker;
  const w = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'coffer-crypto' });
  w.onmessage = (ev: MessageEvent) => {
    const msg = ev.data as { t: string; id: number; v?: unknown; code?: string; message?: string; status?: number; retryAfter?: number };
    const p = pending.get(msg.id);
    if (!p) return;
    if (msg.t === 'ev') p.onEvent?.(msg.v);
    else {
      pending.delete(msg.id);
      if (msg.t === 'ok') p.resolve(msg.v);
      else {
        if (msg.code === 'UNAUTHENTICATED') sessionEnded();
        p.reject(new ApiError(msg.code ?? 'UNKNOWN', msg.message ?? 'Error', msg.status ?? 0, {}, msg.retryAfter));
      }
    }
  };
  w.onerror = (ev) => {
    ev.preventDefault();
    for (const [, p] of pending) p.reject(new ApiError('WORKER_FAILED', 'The crypto worker failed to start.', 0));
    pending.clear();
  };
  worker = w;
  // A fresh worker learns the CSRF token of the current cookie session (never a key).
  w.postMessage({ t: 'call', id: 0, m: 'setSession', a: [session.csrfToken] });
  // Its X25519 helper talks to it over a channel of their own; the page sees none of that traffic.
  // If the helper cannot start, it never reports ready and the crypto worker does the work alone.
  const h = new Worker(new URL('./dh-worker.ts', import.meta.url), { type: 'module', name: 'coffer-x25519' });
  h.onerror = (ev) => ev.preventDefault();
  const channel = new MessageChannel();
  h.postMessage({ port: channel.port1 }, [channel.port1]);
  w.postMessage({ t: 'dh', port: channel.port2 }, [channel.port2]);
  helper = h;
  return w;
}

export interface CallHandle<T> {
  id: number;
  result: Promise<T>;
}

/**
 * Starts a call; `onEvent` receives progress events the worker emits along the way. `transfer`
 * lists what in `args` moves to the worker instead of being copied (a MessagePort).
 */
export function begin<M extends Method>(
  method: M,
  args: Parameters<WorkerApi[M]>,
  onEvent?: (v: unknown) => void,
  transfer: Transferable[] = [],
): CallHandle<ReturnType<WorkerApi[M]>> {
  const w = start();
  const id = nextId++;
  const result = new Promise<ReturnType<WorkerApi[M]>>((resolve, reject) => {
    pending.set(id, { resolve: resolve as (v: unknown) => void, reject, onEvent });
  });
  w.postMessage({ t: 'call', id, m: method, a: args }, transfer);
  return { id, result };
}

export function call<M extends Method>(method: M, ...args: Parameters<WorkerApi[M]>): Promise<ReturnType<WorkerApi[M]>> {
  return begin(method, args).result;
}

/** Pause, resume or cancel a running upload started with `begin('upload', ...)`. */
export function control(id: number, action: 'pause' | 'resume' | 'cancel'): void {
  worker?.postMessage({ t: 'ctl', id, action });
}

/** Drops every key: the worker and its memory are discarded. */
export function lock(): void {
  if (!worker) return;
  worker.terminate();
  worker = null;
  helper?.terminate();
  helper = null;
  for (const [, p] of pending) p.reject(new ApiError('LOCKED', 'The vault was locked.', 0));
  pending.clear();
}

/**
 * Starts the (empty) worker ahead of a login, unlock or sign-up form's submit, so loading its code,
 * compiling the Argon2id wasm and touching its 64 MiB happen while the passphrase is typed. It holds
 * no key until asked.
 */
export function warm(): void {
  call('prepareKdf').catch(() => {}); // only speed depends on it
}

export function isRunning(): boolean {
  return worker !== null;
}
