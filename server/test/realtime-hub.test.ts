// The in-process hub: registration, monotonic delivery per socket, keep-alive and dead sockets.
// Sockets here are recording objects (the hub's own interface), not mocks of another component;
// the end-to-end tests in realtime-ws*.test.ts use real WebSockets.
import { describe, expect, it } from 'vitest';
import { RealtimeHub, SESSION_ENDED, type RealtimeSocket } from '../src/realtime/hub.js';
import { decodePayload, encodePayload, localFanout } from '../src/realtime/fanout.js';

class RecordingSocket implements RealtimeSocket {
  sent: unknown[] = [];
  pings = 0;
  terminated = false;
  closedWith: number | null = null;
  failSends = false;
  close(code: number): void {
    this.closedWith = code;
  }
  send(data: string): void {
    if (this.failSends) throw new Error('socket closed');
    this.sent.push(JSON.parse(data));
  }
  ping(): void {
    this.pings++;
  }
  terminate(): void {
    this.terminated = true;
  }
}

const A = 'a'.repeat(32);
const B = 'b'.repeat(32);

describe('RealtimeHub', () => {
  it('sends hello, then changed only to sockets of the account whose cursor moved', () => {
    const hub = new RealtimeHub();
    const a1 = new RecordingSocket();
    const a2 = new RecordingSocket();
    const b1 = new RecordingSocket();
    hub.hello(hub.add(A, a1), 3);
    hub.hello(hub.add(A, a2), 3);
    hub.hello(hub.add(B, b1), 9);
    expect(hub.size).toBe(3);
    expect(hub.publish(A, 4)).toBe(2);
    expect(a1.sent).toEqual([{ type: 'hello', cursor: 3 }, { type: 'changed', cursor: 4 }]);
    expect(a2.sent).toEqual([{ type: 'hello', cursor: 3 }, { type: 'changed', cursor: 4 }]);
    expect(b1.sent).toEqual([{ type: 'hello', cursor: 9 }]);
  });

  it('drops repeated and older cursors, so a change arriving twice is sent once', () => {
    const hub = new RealtimeHub();
    const s = new RecordingSocket();
    hub.hello(hub.add(A, s), 5);
    hub.publish(A, 5);
    hub.publish(A, 7);
    hub.publish(A, 6);
    hub.publish(A, 7);
    expect(s.sent).toEqual([{ type: 'hello', cursor: 5 }, { type: 'changed', cursor: 7 }]);
  });

  it('never lets hello go back below a change delivered while the cursor was being read', () => {
    const hub = new RealtimeHub();
    const s = new RecordingSocket();
    const conn = hub.add(A, s);
    hub.publish(A, 8); // committed after registration, before the hello's cursor read finished
    hub.hello(conn, 7);
    expect(s.sent).toEqual([{ type: 'changed', cursor: 8 }, { type: 'hello', cursor: 8 }]);
  });

  it('removes sockets idempotently and forgets empty accounts', () => {
    const hub = new RealtimeHub();
    const conn = hub.add(A, new RecordingSocket());
    hub.remove(conn);
    hub.remove(conn);
    expect(hub.size).toBe(0);
    expect(hub.accounts).toBe(0);
    expect(hub.publish(A, 1)).toBe(0);
  });

  it('pings every socket each round and terminates one that did not answer since the last round', () => {
    const hub = new RealtimeHub({ pingIntervalMs: 1000 });
    const live = new RecordingSocket();
    const dead = new RecordingSocket();
    const liveConn = hub.add(A, live);
    hub.add(A, dead);
    hub.sweep();
    expect(live.sent).toEqual([{ type: 'ping' }]);
    expect(dead.sent).toEqual([{ type: 'ping' }]);
    expect(live.pings).toBe(1);
    liveConn.alive(); // the pong came back
    hub.sweep();
    expect(dead.terminated).toBe(true);
    expect(live.terminated).toBe(false);
    expect(hub.size).toBe(1);
  });

  it('removes a socket whose send throws, and keeps serving the others', () => {
    const errors: unknown[] = [];
    const hub = new RealtimeHub({ onError: (e) => errors.push(e) });
    const bad = new RecordingSocket();
    const good = new RecordingSocket();
    hub.add(A, bad);
    hub.add(A, good);
    bad.failSends = true;
    expect(hub.publish(A, 2)).toBe(2);
    expect(bad.terminated).toBe(true);
    expect(hub.size).toBe(1);
    expect(good.sent).toEqual([{ type: 'changed', cursor: 2 }]);
    expect(errors).toHaveLength(1);
  });

  it('stop() terminates everything', () => {
    const hub = new RealtimeHub();
    const s = new RecordingSocket();
    hub.add(A, s);
    hub.start();
    hub.stop();
    expect(s.terminated).toBe(true);
    expect(hub.size).toBe(0);
  });

  it('closes with 4001 the sockets of ended sessions, and only those', () => {
    const hub = new RealtimeHub();
    const s1 = new RecordingSocket();
    const s2 = new RecordingSocket();
    const s3 = new RecordingSocket();
    hub.add(A, s1, 'session-1');
    hub.add(A, s2, 'session-2');
    hub.add(B, s3, 'session-1');
    expect(hub.sessionIds().sort()).toEqual(['session-1', 'session-2']);
    expect(hub.endSessions(['session-1'])).toBe(2);
    expect([s1.closedWith, s2.closedWith, s3.closedWith]).toEqual([SESSION_ENDED, null, SESSION_ENDED]);
    expect(hub.size).toBe(1);
    expect(hub.publish(A, 1)).toBe(1);
  });

  it('rejects a non-positive ping interval', () => {
    expect(() => new RealtimeHub({ pingIntervalMs: 0 })).toThrow(RangeError);
  });
});

describe('NOTIFY payload', () => {
  it('round-trips accountId:cursor', () => {
    expect(decodePayload(encodePayload({ accountId: A, cursor: 42 }))).toEqual({ accountId: A, cursor: 42 });
  });

  it('rejects malformed payloads instead of guessing', () => {
    for (const bad of ['', `${A}`, `${A}:`, `${A}:-1`, `${A.toUpperCase()}:1`, `${A}:1:2`, `x${A}:1`, `${A}:1e3`]) {
      expect(decodePayload(bad)).toBeNull();
    }
    expect(() => encodePayload({ accountId: 'nothex', cursor: 1 })).toThrow(TypeError);
    expect(() => encodePayload({ accountId: A, cursor: 1.5 })).toThrow(RangeError);
  });

  it('localFanout delivers in-process', async () => {
    const hub = new RealtimeHub();
    const s = new RecordingSocket();
    hub.add(A, s);
    await localFanout(hub).publish({ accountId: A, cursor: 1 });
    expect(s.sent).toEqual([{ type: 'changed', cursor: 1 }]);
  });
});
