// The edge of the server: errors as {code, message}, body limits, security headers, no CORS,
// metrics, a blob store outage as 503 with Retry-After (nothing half-written), clean logs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CircuitBreakerStore } from '../src/blob/breaker.js';
import type { FolderBlobStore } from '../src/blob/folder.js';
import { blobKey, type Blob, type BlobStore } from '../src/blob/store.js';
import { pathOnly } from '../src/logger.js';
import { chunkIdOf, digestHeader, rand, signup, startTestServer, type Client, type TestServer } from './helpers.js';

/** The real folder store, switchable into an outage where every call fails. */
class FlakyStore implements BlobStore {
  readonly kind = 'folder';
  down = false;
  constructor(readonly inner: FolderBlobStore) {}
  #check() {
    if (this.down) throw new Error('connect ECONNREFUSED 127.0.0.1:9');
  }
  async put(key: string, data: Uint8Array) { this.#check(); return this.inner.put(key, data); }
  async get(key: string): Promise<Blob | null> { this.#check(); return this.inner.get(key); }
  async has(key: string) { this.#check(); return this.inner.has(key); }
  async delete(key: string) { this.#check(); return this.inner.delete(key); }
  async ping() { this.#check(); return this.inner.ping(); }
}

describe('edges', () => {
  let s: TestServer;
  let c: Client;
  let flaky: FlakyStore;
  const logs: string[] = [];
  beforeAll(async () => {
    s = await startTestServer({ logs, blobs: (folder) => new CircuitBreakerStore((flaky = new FlakyStore(folder)), { threshold: 3, cooldownMs: 30_000 }) });
    c = await signup(s.app);
  });
  afterAll(() => s.close());

  it('answers unknown routes, wrong methods and malformed JSON with {code, message}', async () => {
    const cases: Array<[string, string, string | undefined, number, string]> = [
      ['GET', '/api/nope', undefined, 404, 'NOT_FOUND'],
      ['DELETE', '/api/auth/login', undefined, 405, 'METHOD_NOT_ALLOWED'],
      ['PUT', '/api/nodes', '{}', 405, 'METHOD_NOT_ALLOWED'],
      ['POST', '/api/nodes', '{"id":', 400, 'MALFORMED_JSON'],
      ['POST', '/api/nodes', '[1,2]', 400, 'MALFORMED_JSON'],
      ['POST', '/api/nodes', 'null', 400, 'MALFORMED_JSON'],
      ['POST', '/api/auth/prelogin', '{"email":"a\\u0000b@example.test"}', 400, 'INVALID_INPUT'],
      ['GET', '/api/devices/a%00b', undefined, 404, 'NOT_FOUND'],
      ['DELETE', '/api/devices/%00', undefined, 404, 'NOT_FOUND'],
      ['DELETE', '/api/account/passkeys/%00', undefined, 404, 'NOT_FOUND'],
      ['PUT', '/api/links', '{}', 405, 'METHOD_NOT_ALLOWED'],
      ['GET', `/api/links/${'0'.repeat(32)}`, undefined, 405, 'METHOD_NOT_ALLOWED'],
      ['POST', `/api/public/links/${'0'.repeat(32)}`, '{}', 405, 'METHOD_NOT_ALLOWED'],
      ['GET', `/api/public/links/${'0'.repeat(32)}/open`, undefined, 405, 'METHOD_NOT_ALLOWED'],
      ['GET', '/api/chunks/check', undefined, 405, 'METHOD_NOT_ALLOWED'],
      ['PUT', '/api/chunks/batch', undefined, 405, 'METHOD_NOT_ALLOWED'],
      ['POST', '/api/nodes', '{"id":"ABC"}', 400, 'INVALID_INPUT'],
      ['POST', '/', undefined, 405, 'METHOD_NOT_ALLOWED'],
    ];
    for (const [method, path, body, status, code] of cases) {
      const res = await c.request(method, path, body === undefined ? undefined : new TextEncoder().encode(body), { 'content-type': 'application/json' });
      expect(res.status, `${method} ${path}`).toBe(status);
      const json = await res.json();
      expect(json.code, `${method} ${path}`).toBe(code);
      expect(typeof json.message).toBe('string');
    }
  });

  it('refuses bodies over the limit with 413 BODY_TOO_LARGE', async () => {
    const big = `{"email":"${'a'.repeat(2 * 1024 * 1024)}"}`;
    const res = await s.app.request('/api/auth/prelogin', { method: 'POST', body: big, headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(413);
    // The rest of the body is left unread, so the connection must not be used again.
    expect(res.headers.get('connection')).toBe('close');
    expect((await res.json()).code).toBe('BODY_TOO_LARGE');
  });

  it('sends a strict CSP and security headers, and no CORS headers', async () => {
    const page = await s.app.request('/s/0123', { headers: { origin: 'https://evil.example' } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const csp = page.headers.get('content-security-policy')!;
    for (const part of ["default-src 'self'", "script-src 'self' 'wasm-unsafe-eval'", "object-src 'none'", "frame-ancestors 'none'", "base-uri 'none'", "connect-src 'self'"]) {
      expect(csp).toContain(part);
    }
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    const preflight = await s.app.request('/api/account', { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' } });
    expect(preflight.status).toBeGreaterThanOrEqual(400);
    for (const res of [page, preflight]) expect([...res.headers.keys()].some((k) => k.startsWith('access-control-'))).toBe(false);
  });

  it('exposes Prometheus metrics by route pattern and status', async () => {
    await c.request('GET', `/api/nodes/${c.rootNodeId}`);
    const text = await (await s.app.request('/metrics')).text();
    expect(text).toMatch(/coffer_http_requests_total\{method="GET",route="\/api\/nodes\/:id",status="200"\} \d+/);
    expect(text).toMatch(/coffer_http_request_duration_seconds_bucket\{method="GET",route="\/api\/nodes\/:id",status="200",le="0.05"\} \d+/);
    expect(text).not.toContain(c.rootNodeId);
  });

  it('answers 503 STORAGE_UNAVAILABLE with Retry-After while the blob store is down, and recovers', async () => {
    const file = await c.createNode('file');
    const { uploadId } = await c.json('POST', '/api/uploads', { nodeId: file.id }, 201);
    flaky.down = true;
    const chunk = { id: chunkIdOf(), data: rand(1000) };
    for (let i = 0; i < 4; i++) {
      const res = await c.request('PUT', `/api/chunks/${chunk.id}?upload=${uploadId}`, chunk.data, { 'content-digest': digestHeader(chunk.data) });
      expect(res.status).toBe(503);
      expect((await res.json()).code).toBe('STORAGE_UNAVAILABLE');
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    // Nothing half-written: no chunk row, no blob, nothing charged.
    expect((await c.json('POST', '/api/chunks/check', { uploadId, ids: [chunk.id] })).missing).toEqual([chunk.id]);
    expect((await c.json('GET', '/api/account')).usedBytes).toBe(0);
    flaky.down = false;
    expect(await flaky.inner.has(blobKey(c.accountId, chunk.id))).toBe(false);
    // The breaker is open: still 503 until its cool-down ends, without touching the store.
    const stillOpen = await c.request('PUT', `/api/chunks/${chunk.id}?upload=${uploadId}`, chunk.data, { 'content-digest': digestHeader(chunk.data) });
    expect(stillOpen.status).toBe(503);
  });

  it('logs structured JSON lines without tokens, query strings or keys', async () => {
    const secretQuery = 'token=supersecretvalue123';
    await c.request('GET', `/api/changes?since=0&${secretQuery}`);
    await s.app.request('/api/auth/login', { method: 'POST', body: JSON.stringify({ email: c.email, loginKey: c.loginKey, client: 'cli' }) });
    expect(logs.length).toBeGreaterThan(0);
    for (const line of logs) {
      const entry = JSON.parse(line);
      expect(typeof entry.msg).toBe('string');
      expect(line).not.toContain(c.token);
      expect(line).not.toContain(c.loginKey);
      expect(line).not.toContain('supersecretvalue123');
    }
    expect(pathOnly('/api/x?token=abc#frag')).toBe('/api/x');
    expect(pathOnly('http://h:1/p/q?x#y')).toBe('/p/q');
  });
});
