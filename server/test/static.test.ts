// The web vault from the same origin: files, SPA fallback, no escape from the build folder, and a
// plain page when there is no build.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { b64, hexId, rand, signupBody, startTestServer, type TestServer } from './helpers.js';

describe('web vault and per-address limits', () => {
  let dist: string;
  let withBuild: TestServer;
  let withoutBuild: TestServer;
  beforeAll(async () => {
    dist = await mkdtemp(join(tmpdir(), 'coffer-dist-'));
    await mkdir(join(dist, 'assets'));
    await writeFile(join(dist, 'index.html'), '<!doctype html><title>vault index</title>');
    await writeFile(join(dist, 'assets', 'app-1234.js'), 'console.log("app")');
    withBuild = await startTestServer({ config: { webDist: dist, rateLimits: { account: { limit: 100, windowSeconds: 60 }, address: { limit: 3, windowSeconds: 60 } } } });
    withoutBuild = await startTestServer({ config: { webDist: join(dist, 'missing') } });
  });
  afterAll(async () => {
    await withBuild.close();
    await withoutBuild.close();
    await rm(dist, { recursive: true, force: true });
  });

  it('serves build files with types and caching, and index.html for app routes', async () => {
    const js = await withBuild.app.request('/assets/app-1234.js');
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/text\/javascript/);
    expect(js.headers.get('cache-control')).toContain('immutable');
    for (const path of ['/', '/s/0123456789abcdef0123456789abcdef', '/folders/x/y', '/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd']) {
      const res = await withBuild.app.request(path);
      expect(res.status, path).toBe(200);
      expect(await res.text(), path).toContain('vault index');
    }
    // A file the build does not have is not the page either (a script tag would get HTML).
    for (const path of ['/assets/app-0000.js', '/favicon.png']) expect((await withBuild.app.request(path)).status, path).toBe(404);
    const api = await withBuild.app.request('/api/unknown');
    expect((await api.json()).code).toBe('NOT_FOUND');
  });

  it('says how to build the web vault when there is no build', async () => {
    const res = await withoutBuild.app.request('/');
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('npm run build -w @coffer/web');
  });

  it('limits log-in attempts per client address across e-mails', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await withBuild.app.request('/api/auth/login', {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: `n${hexId()}@example.test`, loginKey: b64(rand(32)), client: 'cli' }),
      });
      statuses.push(res.status);
    }
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
    // Sign-ups from that address are counted separately.
    const res = await withBuild.app.request('/api/auth/signup', {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify(signupBody(`s${hexId()}@example.test`, b64(rand(32)), b64(rand(32)), 'cli')),
    });
    expect(res.status).toBe(201);
  });
});
