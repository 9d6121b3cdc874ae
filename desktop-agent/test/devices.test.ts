// `coffer devices` lists the account's devices by their sealed names; `coffer remove-device ID`
// removes another one, which ends its sessions: that COFFER_HOME is told to log in again.
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../tests/support/server.ts';
import { coffer, newAccount, tempDir, type RunResult } from './helpers.ts';

const EXIT = { OK: 0, ERROR: 1, USAGE: 2, AUTH: 3 };

interface Device { deviceId: string; name: string | null; createdAt: string; lastSeenAt: string | null; current: boolean }

function ok(r: RunResult): RunResult {
  if (r.code !== 0) throw new Error(`coffer exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

const json = <T>(r: RunResult): T => JSON.parse(ok(r).stdout) as T;

describe('coffer devices and remove-device', () => {
  let server: RunningServer;
  let dir: string;
  let first: Record<string, string>;
  let second: Record<string, string>;
  let firstId: string;
  let secondId: string;

  beforeAll(async () => {
    server = await startServer();
    dir = await tempDir('devices');
    first = await newAccount(server.url, dir);
    // The same account, logged in from a second, empty COFFER_HOME.
    second = { ...first, COFFER_HOME: join(dir, 'home-second') };
    ok(await coffer(['login', '--quiet'], second));
    firstId = json<{ deviceId: string }>(await coffer(['status', '--json'], first)).deviceId;
    secondId = json<{ deviceId: string }>(await coffer(['status', '--json'], second)).deviceId;
  });
  afterAll(async () => {
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('lists both devices with their names, this one marked, and as JSON without the slot', async () => {
    const listed = ok(await coffer(['devices'], first)).stdout.trim().split('\n');
    expect(listed).toHaveLength(2);
    const line = (id: string) => listed.find((l) => l.startsWith(`${id}  `))!;
    for (const id of [firstId, secondId]) {
      expect(line(id)).toMatch(/^[0-9a-f]{32} {2}coffer CLI on \S+ {2}added \d{4}-\d\d-\d\d \d\d:\d\d:\d\d {2}last seen /);
    }
    expect(line(firstId)).toMatch(/\(this one\)$/);
    expect(line(secondId)).not.toContain('(this one)');

    const { devices } = json<{ devices: Array<Device & { slot?: unknown }> }>(await coffer(['devices', '--json'], first));
    expect(devices.map((d) => d.deviceId).sort()).toEqual([firstId, secondId].sort());
    for (const d of devices) {
      expect(d.name).toMatch(/^coffer CLI on /);
      expect(d).not.toHaveProperty('slot');
      expect(d.current).toBe(d.deviceId === firstId);
      expect(Number.isNaN(Date.parse(d.createdAt))).toBe(false);
    }
    expect(ok(await coffer(['--help'], {})).stdout).toMatch(/\n {2}devices +\S.*\n {2}remove-device +\S/);
  });

  it('shows the device of each session in `coffer sessions`', async () => {
    type Session = { id: string; current: boolean; deviceId: string | null; deviceName: string | null };
    const { sessions } = json<{ sessions: Session[] }>(await coffer(['sessions', '--json'], first));
    const own = sessions.find((x) => x.current)!;
    expect(own.deviceId).toBe(firstId);
    expect(own.deviceName).toMatch(/^coffer CLI on /);
    const lines = ok(await coffer(['sessions'], first)).stdout.trim().split('\n');
    expect(lines.find((l) => l.startsWith(own.id))).toContain('coffer CLI on ');
  });

  it('says "(name unreadable)" for a name that does not open, and removes that device all the same', async () => {
    // A third log-in registers a device whose name is random bytes (as a damaged record would be).
    const third = { ...first, COFFER_HOME: join(dir, 'home-third') };
    ok(await coffer(['login', '--quiet'], third));
    const { token } = JSON.parse(await readFile(join(third.COFFER_HOME, 'session.json'), 'utf8')) as { token: string };
    const strangeId = randomBytes(16).toString('hex');
    const res = await fetch(`${server.url}/api/devices`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ deviceId: strangeId, publicKey: randomBytes(32).toString('base64url'), name: randomBytes(60).toString('base64url') }),
    });
    expect(res.status).toBe(201);
    ok(await coffer(['logout'], third));

    const listed = ok(await coffer(['devices'], first)).stdout;
    expect(listed).toContain(`${strangeId}  (name unreadable)  added `);
    const { devices } = json<{ devices: Device[] }>(await coffer(['devices', '--json'], first));
    expect(devices.find((d) => d.deviceId === strangeId)?.name).toBeNull();
    const removed = ok(await coffer(['remove-device', strangeId], first));
    expect(removed.stdout).toContain(`removed device ${strangeId} (name unreadable)`);
  });

  it('refuses to remove this device, and says so for an id that is malformed or not the account\'s', async () => {
    const own = await coffer(['remove-device', firstId], first);
    expect(own.code).toBe(EXIT.USAGE);
    expect(own.stderr).toContain('coffer logout');
    const malformed = await coffer(['remove-device', 'abc'], first);
    expect(malformed.code).toBe(EXIT.USAGE);
    expect(malformed.stderr).toContain('coffer devices');
    const unknown = await coffer(['remove-device', '--json', 'f'.repeat(32)], first);
    expect(unknown.code).toBe(EXIT.ERROR);
    expect(JSON.parse(unknown.stdout)).toMatchObject({ ok: false, code: 'NOT_FOUND' });
    expect(unknown.stderr).toContain(`the account has no device ${'f'.repeat(32)} (\`coffer devices\` lists them)`);
    expect(json<{ devices: Device[] }>(await coffer(['devices', '--json'], first)).devices).toHaveLength(2);
  });

  it('removes the other device, which logs it out', async () => {
    ok(await coffer(['ls'], second));
    const removed = ok(await coffer(['remove-device', secondId], first));
    expect(removed.stdout.trim()).toMatch(/^removed coffer CLI on \S+; its sessions are ended$/);
    const { devices } = json<{ devices: Device[] }>(await coffer(['devices', '--json'], first));
    expect(devices.map((d) => d.deviceId)).toEqual([firstId]);

    const out = await coffer(['ls'], second);
    expect(out.code).toBe(EXIT.AUTH);
    expect(out.stderr).toContain('coffer login');
    ok(await coffer(['ls'], first));
    // Gone now: a second removal is an unknown id.
    expect((await coffer(['remove-device', secondId], first)).code).toBe(EXIT.ERROR);
  });
});
