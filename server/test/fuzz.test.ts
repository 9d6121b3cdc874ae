// 1,000 seeded random malformed requests: the answers are 4xx with {code, message} (a few random
// requests happen to be valid), never a 5xx, and the server keeps serving.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { b64, chunkIdOf, hexId, rand, signup, startTestServer, type Client, type TestServer } from './helpers.js';

function prng(seed: number) {
  let x = seed >>> 0;
  const next = () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x / 2 ** 32;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
  };
}

const SEED = 20261122;

describe('malformed requests', () => {
  let s: TestServer;
  let c: Client;
  let ids: string[];
  beforeAll(async () => {
    s = await startTestServer({ config: { rateLimits: { account: { limit: 100_000, windowSeconds: 60 }, address: { limit: 100_000, windowSeconds: 60 } } } });
    c = await signup(s.app);
    const folder = await c.createNode('folder');
    const file = await c.createNode('file', folder.id);
    ids = [folder.id, file.id, c.rootNodeId];
  });
  afterAll(() => s.close());

  it('answers 1,000 seeded random malformed requests with 4xx and keeps serving', async () => {
    const r = prng(SEED);
    const weird = ['', '%', '%zz', '..', '../..', '%2e%2e', 'A'.repeat(5000), '\u0000', '💥', 'null', '-1', '1e309', 'ABCDEF'.repeat(6), "'; drop table nodes; --"];
    const segment = () => r.pick([hexId(), chunkIdOf(), r.pick(ids), r.pick(weird), String(r.int(1e9)), encodeURIComponent(r.pick(weird))]);
    const templates = [
      () => `/api/nodes/${segment()}`, () => `/api/nodes/${segment()}/children?after=${segment()}&limit=${r.pick(['0', '-5', 'x', '1001', '10', '99999999999999999999'])}`,
      () => '/api/nodes', () => `/api/nodes/${segment()}/trash`, () => `/api/nodes/${segment()}/restore`,
      () => `/api/nodes/${segment()}/versions`, () => `/api/nodes/${segment()}/versions/${segment()}`,
      () => '/api/uploads', () => '/api/chunks/check', () => `/api/chunks/${segment()}?upload=${segment()}`,
      () => `/api/chunks/batch?upload=${segment()}`,
      () => `/api/changes?since=${r.pick(['-1', 'x', '1.5', '', '9007199254740993', '0'])}&limit=${r.pick(['0', 'a', '5000'])}`,
      () => '/api/auth/login', () => '/api/auth/signup', () => '/api/auth/prelogin', () => '/api/auth/recover',
      () => `/api/auth/sessions/${segment()}`, () => '/api/account/passphrase', () => `/api/devices/${segment()}`, () => '/api/devices',
      () => '/api/trash?after=' + segment(), () => `/api/${segment()}`,
    ];
    const value = (depth = 0): unknown => {
      switch (r.int(depth > 2 ? 6 : 9)) {
        case 0: return null;
        case 1: return r.int(2) === 0;
        case 2: return r.pick([0, -1, 1.5, 2 ** 53, -(2 ** 31), 1e308, Number.MAX_SAFE_INTEGER]);
        case 3: return r.pick(weird);
        case 4: return r.pick([hexId(), chunkIdOf(), b64(rand(r.int(100))), b64(rand(32)) + '=', 'AAAA+/']);
        case 5: return '';
        case 6: return Array.from({ length: r.int(4) }, () => value(depth + 1));
        case 7: return Object.fromEntries(Array.from({ length: r.int(5) }, () => [r.pick(FIELDS), value(depth + 1)]));
        default: return { email: r.pick(['a@b', 'x', '', 'A'.repeat(300)]), client: r.pick(['web', 'cli', 'x']) };
      }
    };
    const body = (): string | Uint8Array | undefined => {
      switch (r.int(6)) {
        case 0: return undefined;
        case 1: return r.pick(['{', '[]', 'null', '"x"', '{"a":', '\u0000', '1', 'true', '{"email":{}}']);
        case 2: return rand(r.int(2000));
        default: return JSON.stringify(Object.fromEntries(Array.from({ length: r.int(8) }, () => [r.pick(FIELDS), value()])));
      }
    };
    const statuses = new Map<number, number>();
    for (let i = 0; i < 1000; i++) {
      const path = r.pick(templates)();
      const method = r.pick(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD']);
      const headers: Record<string, string> = {};
      const auth = r.int(5);
      if (auth < 3) headers.authorization = `Bearer ${c.token}`;
      else if (auth === 3) headers.authorization = r.pick(['Bearer', 'Bearer x', `Basic ${c.token}`, `Bearer ${c.token}x`]);
      if (r.int(2)) headers['content-type'] = r.pick(['application/json', 'text/plain', 'application/octet-stream']);
      if (r.int(3) === 0) headers['content-digest'] = r.pick(['sha-256=:x:', 'garbage', `sha-256=:${Buffer.alloc(32).toString('base64')}:`]);
      if (r.int(3) === 0) headers['coffer-chunks'] = r.pick(['', 'x', `${chunkIdOf()}:0`, `${chunkIdOf()}:99999999`, `${chunkIdOf()}:10, ${chunkIdOf()}:20`, `${chunkIdOf()}:-1`, Array(17).fill(`${chunkIdOf()}:1`).join(',')]);
      if (r.int(4) === 0) headers.cookie = r.pick(['coffer_session=x', `coffer_session=${c.token}`, 'a=b; coffer_session=']);
      const b = method === 'GET' || method === 'HEAD' ? undefined : body();
      let url: string;
      try {
        url = new URL(path, 'http://localhost').toString();
      } catch {
        continue;
      }
      const res = await s.app.request(url, { method, headers, ...(b !== undefined ? { body: b as BodyInit } : {}) });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      // A few random requests happen to be valid (e.g. GET /api/devices): those may succeed.
      expect(res.status, `${method} ${path.slice(0, 120)}`).toBeLessThan(500);
      if (res.status >= 400 && method !== 'HEAD') {
        const answer = await res.json();
        expect(typeof answer.code).toBe('string');
        expect(typeof answer.message).toBe('string');
      }
    }
    const answered4xx = [...statuses].filter(([st]) => st >= 400).reduce((a, [, n]) => a + n, 0);
    expect(answered4xx).toBeGreaterThan(900);
    const health = await s.app.request('/healthz');
    expect(await health.json()).toEqual({ ok: true });
    expect((await c.request('GET', `/api/nodes/${c.rootNodeId}`)).status).toBe(200);
  });
});

const FIELDS = ['email', 'loginKey', 'client', 'id', 'parentId', 'kind', 'nameHash', 'wrappedKey', 'metadata', 'uploadId',
  'ids', 'nodeId', 'baseVersion', 'manifest', 'chunkIds', 'deviceId', 'publicKey', 'name', 'kdf', 'slots', 'root',
  'accountId', 'recoveryLoginKey', 'accountPublicKey', 'newKdf', 'newLoginKey', 'passphraseSlot', '__proto__', 'constructor'];
