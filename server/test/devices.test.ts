// Devices and the sessions that belong to them: registering a device (or saying "this session is
// that device") links the calling session to it, and removing the device ends its sessions through
// the same path as revoking one (docs/api.md §Authentication, threat-model.md "A stolen device").
// In process on PGlite and on PostgreSQL, then across two server processes on one PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createTestDatabase, NO_POSTGRES, postgresUrl } from '../../tests/support/env.js';
import { startServer, type RunningServer } from '../../tests/support/server.js';
import {
  b64, Client, hexId, loginAgain as login, on, over, rand, refusedWithin, signup, signupBody, startTestServer, type TestServer,
} from './helpers.js';

interface SessionJson { id: string; deviceId: string | null; current: boolean }
interface DeviceJson { deviceId: string; current: boolean; sessions: number }

const deviceBody = (deviceId = hexId()) => ({
  deviceId, publicKey: b64(rand(32)), name: b64(rand(60)), slot: b64(rand(110)),
});

/** Registers a new device through `c`'s session; returns its id. */
async function register(c: Client): Promise<string> {
  const body = deviceBody();
  await c.json('POST', '/api/devices', body, 201);
  return body.deviceId;
}

async function status(c: Client): Promise<number> {
  const res = await c.request('GET', '/api/account');
  await res.arrayBuffer();
  return res.status;
}

async function errorOf(res: Response): Promise<[number, string]> {
  return [res.status, ((await res.json()) as { code: string }).code];
}

async function sessionsOf(c: Client): Promise<SessionJson[]> {
  return (await c.json<{ sessions: SessionJson[] }>('GET', '/api/auth/sessions', undefined, 200)).sessions;
}

function deviceSessions(name: string, db: 'pglite' | 'postgres', skip: boolean) {
  describe.skipIf(skip)(`devices and their sessions: ${name}${skip ? ` ${NO_POSTGRES}` : ''}`, () => {
    let s: TestServer;
    beforeAll(async () => {
      s = await startTestServer({ db });
    });
    afterAll(() => s?.close());

    it('registering a device links the calling session to it; the session list shows deviceId', async () => {
      const alice = await signup(s.app);
      const { client: other, sessionId: otherId } = await login(s.app, alice);
      const laptop = await register(alice);

      const sessions = await sessionsOf(alice);
      expect(sessions.find((x) => x.current)?.deviceId).toBe(laptop);
      expect(sessions.find((x) => x.id === otherId)?.deviceId).toBeNull();
      // The other session is told which device is the caller's, and how many sessions each has.
      const listed = (await other.json<{ devices: DeviceJson[] }>('GET', '/api/devices', undefined, 200)).devices;
      expect(listed.map((d) => [d.deviceId, d.current, d.sessions])).toEqual([[laptop, false, 1]]);
      expect(await alice.json('GET', `/api/devices/${laptop}`, undefined, 200)).toMatchObject({ current: true, sessions: 1 });
      // A device that never said "this session is me" again was still seen: its session was used.
      const { lastSeenAt } = (await alice.json<{ devices: Array<{ lastSeenAt: string | null }> }>('GET', '/api/devices', undefined, 200)).devices[0]!;
      const used = (await alice.json<{ sessions: Array<{ current: boolean; lastSeenAt: string }> }>('GET', '/api/auth/sessions', undefined, 200))
        .sessions.find((x) => x.current)!.lastSeenAt;
      expect(lastSeenAt).toBe(used);
    });

    it('PUT /api/auth/sessions/current/device links another session to an existing device of the account', async () => {
      const alice = await signup(s.app);
      const laptop = await register(alice);
      const { client: again, sessionId } = await login(s.app, alice);

      const res = await again.request('PUT', '/api/auth/sessions/current/device', { deviceId: laptop });
      expect(res.status, await res.text()).toBe(204);
      expect((await sessionsOf(alice)).find((x) => x.id === sessionId)?.deviceId).toBe(laptop);
      const device = await again.json('GET', `/api/devices/${laptop}`, undefined, 200);
      expect(device).toMatchObject({ current: true, sessions: 2 });
      expect(device.lastSeenAt).not.toBeNull(); // saying so counts as the device being seen

      // Unknown ids, and other accounts' devices, are not found; malformed ones are refused.
      const bob = await signup(s.app);
      const bobs = await register(bob);
      for (const deviceId of [hexId(), bobs]) {
        expect(await errorOf(await again.request('PUT', '/api/auth/sessions/current/device', { deviceId }))).toEqual([404, 'NOT_FOUND']);
      }
      for (const deviceId of ['x', laptop.toUpperCase(), 7, null]) {
        const bad = await again.request('PUT', '/api/auth/sessions/current/device', { deviceId });
        const body = await bad.json() as { code: string; message: string };
        expect([bad.status, body.code, typeof body.message]).toEqual([400, 'INVALID_INPUT', 'string']);
      }
      expect((await sessionsOf(alice)).find((x) => x.id === sessionId)?.deviceId).toBe(laptop);
      for (const method of ['GET', 'POST', 'DELETE']) {
        expect(await errorOf(await again.request(method, '/api/auth/sessions/current/device'))).toEqual([405, 'METHOD_NOT_ALLOWED']);
      }
      expect(await errorOf(await s.app.request('/api/auth/sessions/current/device', {
        method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ deviceId: laptop }),
      }))).toEqual([401, 'UNAUTHENTICATED']);
    });

    it('deleting a device ends every session of it, and no other session', async () => {
      const alice = await signup(s.app); // the phone, no device of its own
      const laptop = await login(s.app, alice);
      const laptopId = await register(laptop.client);
      const laptopAgain = await login(s.app, alice);
      expect((await laptopAgain.client.request('PUT', '/api/auth/sessions/current/device', { deviceId: laptopId })).status).toBe(204);
      const desktop = await login(s.app, alice);
      const desktopId = await register(desktop.client);
      const bob = await signup(s.app);
      for (const c of [alice, laptop.client, laptopAgain.client, desktop.client, bob]) expect(await status(c)).toBe(200);

      const res = await alice.request('DELETE', `/api/devices/${laptopId}`);
      expect(res.status, await res.text()).toBe(204);

      expect(await errorOf(await laptop.client.request('GET', '/api/account'))).toEqual([401, 'UNAUTHENTICATED']);
      expect(await errorOf(await laptopAgain.client.request('GET', '/api/account'))).toEqual([401, 'UNAUTHENTICATED']);
      for (const c of [alice, desktop.client, bob]) expect(await status(c)).toBe(200);
      const left = await sessionsOf(alice);
      expect(left).toHaveLength(2);
      expect(left.find((x) => x.current)?.deviceId).toBeNull();
      expect(left.find((x) => x.id === desktop.sessionId)?.deviceId).toBe(desktopId);
      expect(await errorOf(await alice.request('GET', `/api/devices/${laptopId}`))).toEqual([404, 'NOT_FOUND']);
      expect((await alice.json('GET', `/api/devices/${desktopId}`, undefined, 200)).sessions).toBe(1);
      // Gone is gone: a second delete, an unknown id and another account's device are not found.
      for (const id of [laptopId, hexId(), 'not-an-id']) {
        expect(await errorOf(await alice.request('DELETE', `/api/devices/${id}`))).toEqual([404, 'NOT_FOUND']);
      }
      const bobs = await register(bob);
      expect(await errorOf(await alice.request('DELETE', `/api/devices/${bobs}`))).toEqual([404, 'NOT_FOUND']);
      expect(await status(bob)).toBe(200);
    });

    it('deleting one\'s own device ends one\'s own session too, and a web session loses its cookie', async () => {
      const alice = await signup(s.app);
      const other = await login(s.app, alice);
      const own = await register(alice);
      expect((await alice.request('DELETE', `/api/devices/${own}`)).status).toBe(204);
      expect(await errorOf(await alice.request('GET', '/api/account'))).toEqual([401, 'UNAUTHENTICATED']);
      expect(await status(other.client)).toBe(200);

      const signedUp = await s.app.request('/api/auth/signup', {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify(signupBody(`w${hexId()}@example.test`, b64(rand(32)), b64(rand(32)), 'web')),
      });
      expect(signedUp.status).toBe(201);
      const { csrfToken } = await signedUp.json() as { csrfToken: string };
      const cookie = signedUp.headers.get('set-cookie')!.split(';')[0]!;
      const web = { cookie, 'x-csrf-token': csrfToken, 'content-type': 'application/json' };
      const browser = deviceBody();
      expect((await s.app.request('/api/devices', { method: 'POST', headers: web, body: JSON.stringify(browser) })).status).toBe(201);
      const removed = await s.app.request(`/api/devices/${browser.deviceId}`, { method: 'DELETE', headers: web });
      expect(removed.status).toBe(204);
      expect(removed.headers.get('set-cookie')).toMatch(/^coffer_session=;/);
      expect(await errorOf(await s.app.request('/api/account', { headers: { cookie } }))).toEqual([401, 'UNAUTHENTICATED']);
    });
  });
}

deviceSessions('PGlite', 'pglite', false);
deviceSessions('PostgreSQL', 'postgres', !postgresUrl);

/** A long cache lifetime: a prompt refusal by the other process is the notification's doing. */
const CACHE_MS = 60_000;
/** How long a refusal may take to arrive (generous; it takes milliseconds). */
const PROMPT_MS = 5_000;

describe.skipIf(!postgresUrl)(`a removed device across two processes on PostgreSQL${postgresUrl ? '' : ` (${NO_POSTGRES})`}`, () => {
  let db: { url: string; drop: () => Promise<void> };
  let one: RunningServer;
  let two: RunningServer;
  const sockets: WebSocket[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    const env = { DATABASE_URL: db.url, COFFER_SESSION_CACHE_MS: String(CACHE_MS) };
    one = await startServer(env);
    two = await startServer(env); // after the first: it migrated the database
  });
  afterAll(async () => {
    for (const ws of sockets) ws.terminate();
    await one?.stop();
    await two?.stop();
    await db?.drop();
  });

  it('removing a device through one process ends its sessions in the other at once, and closes their sockets', async () => {
    const alice = await signup(over(one));
    const { client: laptop } = await login(over(two), alice);
    const laptopId = await register(laptop);
    expect(await status(laptop)).toBe(200); // two caches the laptop's session
    expect(await status(on(two, alice))).toBe(200);

    const ws = new WebSocket(`${two.url.replace(/^http/, 'ws')}/api/ws`, ['coffer', `bearer.${laptop.token}`]);
    sockets.push(ws);
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    await new Promise((resolve, reject) => {
      ws.once('message', resolve); // the hello: the socket is registered with its session
      ws.once('error', reject);
    });

    expect((await alice.request('DELETE', `/api/devices/${laptopId}`)).status).toBe(204);
    await refusedWithin(laptop, PROMPT_MS);
    expect(await Promise.race([closed, new Promise((r) => setTimeout(() => r('still open'), PROMPT_MS))])).toBe(4001);
    expect(await status(on(two, alice))).toBe(200);
  });
});
