// Test page for web/test/argon2.test.ts: runs worker.ts (the checks) in a dedicated worker, as the
// crypto worker runs, and hands its answer to the test.
import type { Check, Result } from './types';

(window as unknown as { runChecks: (c: Check) => Promise<Result> }).runChecks = (check) =>
  new Promise((resolve, reject) => {
    const w = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
    w.onmessage = (ev: MessageEvent<Result>) => { w.terminate(); resolve(ev.data); };
    w.onerror = (ev) => { w.terminate(); reject(new Error(ev.message || 'worker failed')); };
    w.postMessage(check);
  });
