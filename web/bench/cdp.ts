// A minimal Chrome DevTools Protocol client over `--remote-debugging-pipe`, for the transfer part of
// the web benchmark. Why not Playwright there: Playwright sends `Network.enable` to every page and
// dedicated worker it attaches to, and with network inspection on, Chromium serialises each request
// body (base64, into the `Network.requestWillBeSent` event) and keeps it for `getRequestPostData`.
// Measured on this machine, a worker PUTting 4 MiB bodies to a sink server ran at ~8 MB/s under
// Playwright and ~80 MB/s without it. A user's browser has no DevTools attached, so the bench must
// not either: this client only uses Target, Page, Runtime, DOM and Browser (no Network domain).
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';

type Json = Record<string, unknown>;
interface Message { id?: number; method?: string; params?: Json; result?: Json; error?: { message: string }; sessionId?: string }

export class PipeBrowser {
  readonly proc: ChildProcess;
  #out: Writable;
  #next = 0;
  #pending = new Map<number, { resolve: (v: Json) => void; reject: (e: Error) => void; method: string }>();
  #listeners = new Set<(m: Message) => void>();

  constructor(executable: string, args: string[]) {
    this.proc = spawn(executable, [...args, '--remote-debugging-pipe', 'about:blank'], { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'] });
    this.#out = this.proc.stdio[3] as Writable;
    const inp = this.proc.stdio[4] as Readable;
    let buf = Buffer.alloc(0);
    inp.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      let i: number;
      while ((i = buf.indexOf(0)) >= 0) {
        const msg = JSON.parse(buf.subarray(0, i).toString('utf8')) as Message;
        buf = buf.subarray(i + 1);
        if (msg.id !== undefined) {
          const p = this.#pending.get(msg.id);
          this.#pending.delete(msg.id);
          if (msg.error) p?.reject(new Error(`${p.method}: ${msg.error.message}`));
          else p?.resolve(msg.result ?? {});
        } else for (const l of this.#listeners) l(msg);
      }
    });
  }

  send<T = Json>(method: string, params: Json = {}, sessionId?: string): Promise<T> {
    const id = ++this.#next;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: Json) => void, reject, method });
      this.#out.write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + '\0');
    });
  }

  on(listener: (m: Message) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  waitFor(pred: (m: Message) => boolean, timeoutMs: number): Promise<Message> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { off(); reject(new Error('CDP event timeout')); }, timeoutMs);
      const off = this.on((m) => {
        if (pred(m)) { clearTimeout(timer); off(); resolve(m); }
      });
    });
  }

  async close(): Promise<void> {
    await this.send('Browser.close').catch(() => {});
    if (this.proc.exitCode === null) await new Promise((r) => { this.proc.once('exit', r); setTimeout(r, 5000); });
    if (this.proc.exitCode === null) this.proc.kill('SIGKILL');
  }
}

/** One page (flattened session) with the few helpers the bench needs. */
export class PipePage {
  workerSessions = new Set<string>();

  private constructor(readonly b: PipeBrowser, readonly sessionId: string) {
    b.on((m) => {
      if (m.sessionId === sessionId && m.method === 'Target.attachedToTarget') {
        const p = m.params as { sessionId: string; targetInfo: { type: string } };
        if (p.targetInfo.type === 'worker') this.workerSessions.add(p.sessionId);
        void b.send('Runtime.runIfWaitingForDebugger', {}, p.sessionId).catch(() => {});
      }
      if (m.method === 'Target.detachedFromTarget') this.workerSessions.delete((m.params as { sessionId: string }).sessionId);
    });
  }

  static async open(b: PipeBrowser, initScript: string): Promise<PipePage> {
    const { targetId } = await b.send<{ targetId: string }>('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await b.send<{ sessionId: string }>('Target.attachToTarget', { targetId, flatten: true });
    const p = new PipePage(b, sessionId);
    await b.send('Page.enable', {}, sessionId);
    await b.send('Page.addScriptToEvaluateOnNewDocument', { source: initScript }, sessionId);
    // Attach to dedicated workers (Runtime only, for heap figures); nothing waits on the debugger.
    await b.send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: false, flatten: true }, sessionId);
    return p;
  }

  async goto(url: string): Promise<void> {
    const loaded = this.b.waitFor((m) => m.sessionId === this.sessionId && m.method === 'Page.loadEventFired', 60_000);
    await this.b.send('Page.navigate', { url }, this.sessionId);
    await loaded;
  }

  async eval<T>(expression: string): Promise<T> {
    const r = await this.b.send<{ result: { value: T }; exceptionDetails?: { text: string; exception?: { description?: string } } }>(
      'Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true }, this.sessionId);
    if (r.exceptionDetails) throw new Error(`evaluate: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    return r.result.value;
  }

  /** Polls a boolean expression in the page every `everyMs`. */
  async until(expression: string, timeoutMs: number, everyMs = 50): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!(await this.eval<boolean>(`!!(${expression})`))) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${expression}`);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  }

  /** Sets an input's value the way typing does (SolidJS listens to `input`). */
  fill(selector: string, value: string): Promise<void> {
    return this.eval(`(() => { const el = document.querySelector(${JSON.stringify(selector)});
      Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set.call(el, ${JSON.stringify(value)});
      el.dispatchEvent(new Event('input', { bubbles: true })); el.dispatchEvent(new Event('change', { bubbles: true })); })()`);
  }

  click(expression: string): Promise<void> {
    return this.eval(`(${expression}).click()`);
  }

  async setInputFiles(selector: string, files: string[]): Promise<void> {
    const { root } = await this.b.send<{ root: { nodeId: number } }>('DOM.getDocument', { depth: 0 }, this.sessionId);
    const { nodeId } = await this.b.send<{ nodeId: number }>('DOM.querySelector', { nodeId: root.nodeId, selector }, this.sessionId);
    await this.b.send('DOM.setFileInputFiles', { nodeId, files }, this.sessionId);
  }

  async heapUsed(): Promise<{ page: number; worker: number }> {
    const h = await this.b.send<{ usedSize: number }>('Runtime.getHeapUsage', {}, this.sessionId);
    let worker = 0;
    for (const s of this.workerSessions) {
      const w = await this.b.send<{ usedSize: number }>('Runtime.getHeapUsage', {}, s).catch(() => ({ usedSize: 0 }));
      worker = Math.max(worker, w.usedSize);
    }
    return { page: h.usedSize, worker };
  }
}

export function pipeSpawned(b: PipeBrowser): number | undefined {
  return b.proc.pid;
}
