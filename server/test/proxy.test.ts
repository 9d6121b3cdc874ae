// The client's address and scheme behind trusted proxies (COFFER_TRUSTED_PROXIES), and only there.
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { clientAddress, parseTrustedProxies, viaHttps } from '../src/proxy.js';
import { startTestServer, type TestServer } from './helpers.js';

/** What the server makes of a request from `socket` with `headers`, given the trusted list. */
async function seen(trusted: string[], socket: string, headers: Record<string, string> = {}, url = 'http://vault.test/') {
  const app = new Hono();
  app.get('/', (c) => c.json({ address: clientAddress(c, trusted), https: viaHttps(c, trusted) }));
  const res = await app.request(url, { headers }, { incoming: { socket: { remoteAddress: socket } } });
  return (await res.json()) as { address: string; https: boolean };
}

describe('trusted proxies', () => {
  it('reads addresses and CIDR ranges, and names each entry it cannot read', () => {
    expect(parseTrustedProxies(' 10.0.0.0/8, 192.168.1.7 ,fd00::/8,::1,').entries).toEqual(['10.0.0.0/8', '192.168.1.7', 'fd00::/8', '::1']);
    const bad = parseTrustedProxies('10.0.0.0/33,proxy.internal,1.2.3.4/8/9,fd00::/129,10.0.0.1/x');
    expect(bad.entries).toEqual([]);
    expect(bad.problems).toHaveLength(5);
    expect(bad.problems[1]).toContain('"proxy.internal"');
    expect(loadConfig({}).trustedProxies).toEqual([]);
    expect(loadConfig({ COFFER_TRUSTED_PROXIES: '10.0.0.0/8' }).trustedProxies).toEqual(['10.0.0.0/8']);
    expect(() => loadConfig({ COFFER_TRUSTED_PROXIES: 'lb' })).toThrow(ConfigError);
  });

  it('believes no forwarding header by default', async () => {
    const spoofed = { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https' };
    expect(await seen([], '10.1.2.3', spoofed)).toEqual({ address: '10.1.2.3', https: false });
    // Nor from a peer outside the list.
    expect(await seen(['10.0.0.0/8'], '198.51.100.4', spoofed)).toEqual({ address: '198.51.100.4', https: false });
  });

  it('takes the nearest hop a trusted proxy vouches for, reading X-Forwarded-For from the right', async () => {
    const trusted = ['10.0.0.0/8', 'fd00::/8'];
    // The client wrote "1.1.1.1" itself; the edge proxy appended the address it saw.
    expect((await seen(trusted, '10.0.0.5', { 'x-forwarded-for': '1.1.1.1, 203.0.113.9' })).address).toBe('203.0.113.9');
    // Two trusted proxies in a row are skipped.
    expect((await seen(trusted, '10.0.0.5', { 'x-forwarded-for': '203.0.113.9, 10.9.9.9' })).address).toBe('203.0.113.9');
    // IPv4-mapped sockets, IPv6 hops, a port on a hop.
    expect((await seen(trusted, '::ffff:10.0.0.5', { 'x-forwarded-for': '2001:db8::7' })).address).toBe('2001:db8::7');
    expect((await seen(trusted, 'fd00::1', { 'x-forwarded-for': '203.0.113.9:51234' })).address).toBe('203.0.113.9');
    // Nothing forwarded, or a hop that is not an address: the proxy itself.
    expect((await seen(trusted, '10.0.0.5')).address).toBe('10.0.0.5');
    expect((await seen(trusted, '10.0.0.5', { 'x-forwarded-for': '203.0.113.9, unknown' })).address).toBe('10.0.0.5');
  });

  it('believes X-Forwarded-Proto only from a trusted proxy', async () => {
    expect((await seen(['10.0.0.5'], '10.0.0.5', { 'x-forwarded-proto': 'https' })).https).toBe(true);
    expect((await seen(['10.0.0.5'], '10.0.0.5', { 'x-forwarded-proto': 'http' })).https).toBe(false);
    expect((await seen([], '10.0.0.5', {}, 'https://vault.test/')).https).toBe(true);
  });
});

describe('per-address rate limits behind a proxy', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({
      config: { trustedProxies: ['10.0.0.0/8'], rateLimits: { account: { limit: 100, windowSeconds: 60 }, address: { limit: 3, windowSeconds: 60 } } },
    });
  });
  afterAll(() => s?.close());

  const login = (socket: string, forwardedFor?: string) => s.app.request('/api/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(forwardedFor ? { 'x-forwarded-for': forwardedFor } : {}) },
    body: JSON.stringify({ email: 'nobody@example.test', loginKey: 'A'.repeat(43), client: 'cli' }),
  }, { incoming: { socket: { remoteAddress: socket } } });

  it('counts clients behind the proxy apart, and a client outside cannot dodge its count with the header', async () => {
    const statuses = async (socket: string, forwardedFor?: string) => {
      const out: number[] = [];
      for (let i = 0; i < 4; i++) out.push((await login(socket, forwardedFor)).status);
      return out;
    };
    // Two users behind the same proxy: each has their own three attempts.
    expect(await statuses('10.0.0.5', '203.0.113.1')).toEqual([401, 401, 401, 429]);
    expect(await statuses('10.0.0.5', '203.0.113.2')).toEqual([401, 401, 401, 429]);
    // A direct client rotating X-Forwarded-For is still one address.
    const direct: number[] = [];
    for (let i = 0; i < 4; i++) direct.push((await login('198.51.100.4', `203.0.113.${10 + i}`)).status);
    expect(direct).toEqual([401, 401, 401, 429]);
  });
});
