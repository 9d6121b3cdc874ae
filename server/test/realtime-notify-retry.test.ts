// The retry queue of failed change NOTIFYs (src/realtime/notify-retry.ts), with a scripted `send`
// and fake timers. The same against a real PostgreSQL is in realtime-fanout.test.ts.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ChangeEvent } from '../src/realtime/fanout.js';
import { NotifyRetry } from '../src/realtime/notify-retry.js';

const A = 'a'.repeat(32);
const B = 'b'.repeat(32);
const C = 'c'.repeat(32);

/** A `send` that fails while `down` is set, records what went out, and can be held per call. */
function scriptedSend() {
  const state = {
    down: false,
    sent: [] as ChangeEvent[],
    tries: 0,
    /** When set, the next send waits for it before failing or succeeding. */
    hold: undefined as Promise<void> | undefined,
    send: async (event: ChangeEvent) => {
      state.tries++;
      const hold = state.hold;
      state.hold = undefined;
      const down = state.down; // decided when sent, as a wire would
      if (hold) await hold;
      if (down) throw new Error('connection closed');
      state.sent.push(event);
    },
  };
  return state;
}

describe('NotifyRetry', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sends a failed NOTIFY again with backoff until it goes out, without holding up the caller', async () => {
    const wire = scriptedSend();
    const problems: string[] = [];
    const q = new NotifyRetry({ send: wire.send, retryMs: 100, onError: (m) => problems.push(m) });
    wire.down = true;
    await q.notify({ accountId: A, cursor: 7 }); // resolves after the first try, never rejects
    expect(q.pendingCursor(A)).toBe(7);
    expect(problems).toHaveLength(1);

    await vi.advanceTimersByTimeAsync(100); // 1st retry fails: next in 200 ms
    expect(wire.tries).toBe(2);
    await vi.advanceTimersByTimeAsync(199);
    expect(wire.tries).toBe(2);
    await vi.advanceTimersByTimeAsync(1); // 2nd retry fails: next in 400 ms
    expect(wire.tries).toBe(3);
    wire.down = false; // the database is back
    await vi.advanceTimersByTimeAsync(400);
    expect(wire.sent).toEqual([{ accountId: A, cursor: 7 }]);
    expect(q.pending).toBe(0);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(wire.tries).toBe(4); // nothing more once it went out
    q.close();
  });

  it('keeps only the latest cursor of an account, and drops it once a newer NOTIFY went out', async () => {
    const wire = scriptedSend();
    const q = new NotifyRetry({ send: wire.send, retryMs: 100 });
    wire.down = true;
    await q.notify({ accountId: A, cursor: 1 });
    await q.notify({ accountId: A, cursor: 3 });
    await q.notify({ accountId: A, cursor: 2 }); // late and older: changes nothing
    await q.notify({ accountId: B, cursor: 5 });
    expect([q.pending, q.pendingCursor(A), q.pendingCursor(B)]).toEqual([2, 3, 5]);

    wire.down = false;
    await q.notify({ accountId: B, cursor: 6 }); // B's own newer change goes out: B's entry goes
    expect(q.pendingCursor(B)).toBeUndefined();
    // ...and, the database answering again, A's waiting one is sent at once, not after the backoff
    await vi.advanceTimersByTimeAsync(0);
    expect(wire.sent).toEqual([{ accountId: B, cursor: 6 }, { accountId: A, cursor: 3 }]);
    expect(q.pending).toBe(0);
    q.close();
  });

  it('does not keep a NOTIFY that failed after a newer one of the account went out', async () => {
    const wire = scriptedSend();
    const q = new NotifyRetry({ send: wire.send, retryMs: 100 });
    let release!: () => void;
    wire.down = true;
    wire.hold = new Promise<void>((r) => (release = r));
    const older = q.notify({ accountId: A, cursor: 4 }); // on its way, will fail
    wire.down = false;
    await q.notify({ accountId: A, cursor: 5 }); // overtakes it and goes out
    release();
    await older;
    expect(q.pending).toBe(0);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(wire.sent).toEqual([{ accountId: A, cursor: 5 }]);
    q.close();
  });

  it('holds at most maxPending accounts, dropping the longest waiting, and reports it once', async () => {
    const wire = scriptedSend();
    const problems: string[] = [];
    const q = new NotifyRetry({ send: wire.send, retryMs: 100, maxPending: 2, onError: (m) => problems.push(m) });
    wire.down = true;
    await q.notify({ accountId: A, cursor: 1 });
    await q.notify({ accountId: B, cursor: 1 });
    await q.notify({ accountId: A, cursor: 2 }); // A changed again: now B waited longest
    await q.notify({ accountId: C, cursor: 1 });
    await q.notify({ accountId: B, cursor: 2 });
    expect(q.pending).toBe(2);
    expect([q.pendingCursor(A), q.pendingCursor(B), q.pendingCursor(C)]).toEqual([undefined, 2, 1]);
    expect(problems.filter((p) => p.includes('dropping'))).toHaveLength(1);
    q.close();
  });

  it('stops retrying once closed', async () => {
    const wire = scriptedSend();
    const q = new NotifyRetry({ send: wire.send, retryMs: 100 });
    wire.down = true;
    await q.notify({ accountId: A, cursor: 1 });
    q.close();
    wire.down = false;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(wire.tries).toBe(1);
  });

  it('gives what still waits one last try when closed with a drain time, without waiting for the backoff', async () => {
    const wire = scriptedSend();
    const problems: string[] = [];
    const q = new NotifyRetry({ send: wire.send, retryMs: 10_000, onError: (m) => problems.push(m) });
    wire.down = true;
    await q.notify({ accountId: A, cursor: 3 });
    await q.notify({ accountId: B, cursor: 5 });
    wire.down = false; // the database answers again, the next retry is 10 s away: the process stops now
    await q.close(1000);
    expect(wire.sent).toEqual([{ accountId: A, cursor: 3 }, { accountId: B, cursor: 5 }]);
    expect(q.pending).toBe(0);
    expect(problems.filter((p) => p.includes('shutdown'))).toEqual([]);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(wire.tries).toBe(4); // two first tries, two last ones, nothing after
  });

  it('waits for a round under way, at most the drain time, then drops what is left and says so', async () => {
    const wire = scriptedSend();
    const problems: string[] = [];
    const q = new NotifyRetry({ send: wire.send, retryMs: 100, onError: (m) => problems.push(m) });
    wire.down = true;
    await q.notify({ accountId: A, cursor: 1 });
    let release!: () => void;
    wire.hold = new Promise((r) => { release = r; });
    await vi.advanceTimersByTimeAsync(100); // a retry is under way, held on the wire (and fails)
    expect(wire.tries).toBe(2);
    const closing = q.close(1000);
    let closed = false;
    void closing.then(() => { closed = true; });
    await vi.advanceTimersByTimeAsync(500);
    expect(closed).toBe(false);
    release(); // the held retry fails; the last round tries again and fails too
    await vi.advanceTimersByTimeAsync(0);
    expect(wire.tries).toBe(3);
    await vi.advanceTimersByTimeAsync(1000);
    await closing;
    expect(q.pending).toBe(0);
    expect(problems.filter((p) => p.includes('at shutdown'))).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(wire.tries).toBe(3);
  });
});
