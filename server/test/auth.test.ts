import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../src/db/client.js';
import { collectGarbage } from '../src/services/gc.js';
import { SESSION_CACHE_MS, SessionCache, sessionCacheFor, type SessionRow } from '../src/session-cache.js';
import { b64, hexId, kdfText, rand, signup, signupBody, startTestServer, type TestServer } from './helpers.js';

const json = (body: unknown, headers: Record<string, string> = {}) => ({
  method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body),
});

describe('accounts and sessions', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ config: { rateLimits: { account: { limit: 5, windowSeconds: 60 }, address: { limit: 1000, windowSeconds: 60 } } } });
  });
  afterAll(() => s.close());

  it('signs up, logs in with the login key, and refuses a wrong one', async () => {
    const email = `a${hexId()}@example.test`;
    const loginKey = b64(rand(32));
    const recoveryKey = b64(rand(32));
    const body = signupBody(email, loginKey, recoveryKey, 'cli');
    const res = await s.app.request('/api/auth/signup', json(body));
    expect(res.status).toBe(201);
    const created = await res.json();
    expect(created).toMatchObject({ accountId: body.accountId, rootNodeId: body.root.nodeId });
    expect(typeof created.token).toBe('string');

    const again = await s.app.request('/api/auth/signup', json({ ...body, accountId: hexId() }));
    expect(again.status).toBe(409);
    expect((await again.json()).code).toBe('EMAIL_TAKEN');

    const ok = await s.app.request('/api/auth/login', json({ email, loginKey, client: 'cli' }));
    expect(ok.status).toBe(200);
    const session = await ok.json();
    expect(session.accountId).toBe(body.accountId);

    const account = await s.app.request('/api/account', { headers: { authorization: `Bearer ${session.token}` } });
    const read = await account.json();
    expect(read).toMatchObject({ accountId: body.accountId, email, kdf: body.kdf, rootNodeId: body.root.nodeId, cursor: 0 });
    expect(read).not.toHaveProperty('csrfToken');

    const bad = await s.app.request('/api/auth/login', json({ email, loginKey: b64(rand(32)), client: 'cli' }));
    expect(bad.status).toBe(401);
    expect((await bad.json()).code).toBe('LOGIN_FAILED');

    const recovered = await s.app.request('/api/auth/recover', json({ email, recoveryLoginKey: recoveryKey, client: 'cli' }));
    expect(recovered.status).toBe(200);
    expect((await recovered.json()).recoverySlot).toBe(body.slots.recovery);
    const wrongRecovery = await s.app.request('/api/auth/recover', json({ email, recoveryLoginKey: loginKey, client: 'cli' }));
    expect(wrongRecovery.status).toBe(401);
  });

  it('prelogin gives the real kdf for an account and a stable fake one otherwise', async () => {
    const c = await signup(s.app);
    const real = await (await s.app.request('/api/auth/prelogin', json({ email: c.email }))).json();
    const acct = await c.json('GET', '/api/account');
    expect(real.kdf).toBe(acct.kdf);
    const unknown = `nobody${hexId()}@example.test`;
    const a = await (await s.app.request('/api/auth/prelogin', json({ email: unknown }))).json();
    const b = await (await s.app.request('/api/auth/prelogin', json({ email: unknown }))).json();
    expect(a.kdf).toBe(b.kdf);
    expect(Buffer.from(a.kdf, 'base64url')).toHaveLength(26);
    const other = await (await s.app.request('/api/auth/prelogin', json({ email: `x${unknown}` }))).json();
    expect(other.kdf).not.toBe(a.kdf);
  });

  it('web sessions use an HttpOnly SameSite=Strict cookie and need the CSRF token to write', async () => {
    const email = `w${hexId()}@example.test`;
    const loginKey = b64(rand(32));
    const res = await s.app.request('/api/auth/signup', json(signupBody(email, loginKey, b64(rand(32)), 'web')));
    expect(res.status).toBe(201);
    const { csrfToken, rootNodeId, token } = await res.json();
    expect(token).toBeUndefined();
    const setCookie = res.headers.get('set-cookie')!;
    expect(setCookie).toMatch(/coffer_session=/);
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Strict/i);
    expect(setCookie).not.toMatch(/Secure/); // plain http here
    const cookie = setCookie.split(';')[0]!;

    expect((await s.app.request('/api/account', { headers: { cookie } })).status).toBe(200);
    const node = { id: hexId(), parentId: rootNodeId, kind: 'folder', nameHash: hexId() + hexId(), wrappedKey: b64(rand(82)), metadata: b64(rand(300)) };
    const noCsrf = await s.app.request('/api/nodes', json(node, { cookie }));
    expect(noCsrf.status).toBe(403);
    expect((await noCsrf.json()).code).toBe('CSRF_FAILED');
    const wrongCsrf = await s.app.request('/api/nodes', json(node, { cookie, 'x-csrf-token': csrfToken.slice(1) + 'A' }));
    expect(wrongCsrf.status).toBe(403);
    const withCsrf = await s.app.request('/api/nodes', json(node, { cookie, 'x-csrf-token': csrfToken }));
    expect(withCsrf.status).toBe(201);
    // Another tab of the browser reads the session's token with the account (bearer sessions have none).
    const account = await s.app.request('/api/account', { headers: { cookie } });
    expect((await account.json()).csrfToken).toBe(csrfToken);

    const https = await s.app.request('https://vault.example/api/auth/login', json({ email, loginKey, client: 'web' }));
    expect(https.headers.get('set-cookie')).toMatch(/Secure/);
  });

  it('lists and revokes sessions; a revoked or logged-out token is refused', async () => {
    const c = await signup(s.app);
    const second = await (await s.app.request('/api/auth/login', json({ email: c.email, loginKey: c.loginKey, client: 'cli' }))).json();
    const { sessions } = await c.json('GET', '/api/auth/sessions');
    expect(sessions).toHaveLength(2);
    expect(sessions.filter((x: { current: boolean }) => x.current)).toHaveLength(1);
    expect((await c.request('DELETE', `/api/auth/sessions/${second.sessionId}`)).status).toBe(204);
    const revoked = await s.app.request('/api/account', { headers: { authorization: `Bearer ${second.token}` } });
    expect(revoked.status).toBe(401);
    expect((await revoked.json()).code).toBe('UNAUTHENTICATED');
    expect((await c.request('POST', '/api/auth/logout')).status).toBe(204);
    expect((await c.request('GET', '/api/account')).status).toBe(401);
  });

  it('ends a session unused for longer than the idle limit', async () => {
    const c = await signup(s.app);
    expect((await c.request('GET', '/api/account')).status).toBe(200);
    await s.ctx.db.execute(sql`update sessions set last_seen_at = now() - interval '31 days' where account_id = ${c.accountId}`);
    sessionCacheFor(s.ctx).clear(); // as SESSION_CACHE_MS passing would: the row is read again
    const res = await c.request('GET', '/api/account');
    expect(res.status).toBe(401);
    expect((await res.json()).code).toBe('UNAUTHENTICATED');
  });

  it('ends a session past its lifetime however recently it was used, and says when each one ends', async () => {
    const c = await signup(s.app);
    const { sessions: [listed] } = await c.json('GET', '/api/auth/sessions');
    const { sessionIdleSeconds, sessionMaxSeconds } = s.ctx.config;
    expect(Date.parse(listed.endsAt) - Date.parse(listed.lastSeenAt)).toBe(sessionIdleSeconds * 1000);

    // Logged in long ago, used a moment ago: the lifetime, not the idle limit, ends it first.
    const loggedIn = sessionMaxSeconds - sessionIdleSeconds + 3600;
    await s.ctx.db.execute(sql`update sessions set created_at = now() - make_interval(secs => ${loggedIn}),
      last_seen_at = now() - interval '10 seconds' where account_id = ${c.accountId}`);
    sessionCacheFor(s.ctx).clear();
    const { sessions: [aged] } = await c.json('GET', '/api/auth/sessions');
    expect(Date.parse(aged.endsAt) - Date.parse(aged.createdAt)).toBe(sessionMaxSeconds * 1000);

    await s.ctx.db.execute(sql`update sessions set created_at = now() - make_interval(secs => ${sessionMaxSeconds + 1})
      where account_id = ${c.accountId}`);
    sessionCacheFor(s.ctx).clear();
    const res = await c.request('GET', '/api/account');
    expect(res.status).toBe(401);
    expect((await res.json()).code).toBe('UNAUTHENTICATED');
    expect(await queryRows(s.ctx.db, sql`select id from sessions where account_id = ${c.accountId}`)).toEqual([]);
  });

  it('collects sessions past their lifetime, and only those', async () => {
    const c = await signup(s.app);
    const login = () => s.app.request('/api/auth/login', json({ email: c.email, loginKey: c.loginKey, client: 'cli' }));
    const old = await (await login()).json();
    const young = await (await login()).json();
    await s.ctx.db.execute(sql`update sessions set created_at = now() - make_interval(secs => ${s.ctx.config.sessionMaxSeconds + 1}),
      last_seen_at = now() where id = ${old.sessionId}`);
    await collectGarbage(s.ctx);
    const left = await queryRows<{ id: string }>(s.ctx.db, sql`select id from sessions where account_id = ${c.accountId}`);
    expect(left).toHaveLength(2); // the sign-up's session and the young one
    expect(left.map((r) => r.id)).toContain(young.sessionId);
    expect(left.map((r) => r.id)).not.toContain(old.sessionId);
  });

  it('stops honouring a session deleted behind its back (another process) once the cache entry is old', async () => {
    const c = await signup(s.app);
    expect((await c.request('GET', '/api/account')).status).toBe(200);
    await s.ctx.db.execute(sql`delete from sessions where account_id = ${c.accountId}`);
    await new Promise((r) => setTimeout(r, SESSION_CACHE_MS + 50));
    expect((await c.request('GET', '/api/account')).status).toBe(401);
  });

  it('changes the passphrase: old login key stops working, new one works', async () => {
    const c = await signup(s.app);
    const newLoginKey = b64(rand(32));
    const wrong = await c.request('PUT', '/api/account/passphrase', { loginKey: b64(rand(32)), newKdf: kdfText(), newLoginKey, passphraseSlot: b64(rand(62)) });
    expect(wrong.status).toBe(401);
    const ok = await c.request('PUT', '/api/account/passphrase', { loginKey: c.loginKey, newKdf: kdfText(), newLoginKey, passphraseSlot: b64(rand(62)) });
    expect(ok.status).toBe(204);
    expect((await s.app.request('/api/auth/login', json({ email: c.email, loginKey: c.loginKey, client: 'cli' }))).status).toBe(401);
    expect((await s.app.request('/api/auth/login', json({ email: c.email, loginKey: newLoginKey, client: 'cli' }))).status).toBe(200);
  });

  it('refuses a KDF below the floor or above the ceiling at sign-up (clients could never open it)', async () => {
    const body = signupBody(`k${hexId()}@example.test`, b64(rand(32)), b64(rand(32)), 'cli');
    for (const [at, value] of [[1, 1024], [1, 1_048_577], [5, 2], [5, 65]] as const) {
      const kdf = Buffer.from(body.kdf, 'base64url');
      kdf.writeUInt32BE(value, at);
      const res = await s.app.request('/api/auth/signup', json({ ...body, kdf: kdf.toString('base64url') }));
      expect(res.status, `${at}: ${value}`).toBe(400);
    }
    const ceiling = Buffer.from(body.kdf, 'base64url');
    ceiling.writeUInt32BE(1_048_576, 1);
    ceiling.writeUInt32BE(64, 5);
    expect((await s.app.request('/api/auth/signup', json({ ...body, kdf: ceiling.toString('base64url') }))).status).toBe(201);
  });

  it('rate-limits log-in attempts per account with 429 and Retry-After', async () => {
    const c = await signup(s.app);
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 7; i++) {
      const res = await s.app.request('/api/auth/login', json({ email: c.email, loginKey: b64(rand(32)), client: 'cli' }));
      statuses.push(res.status);
      if (res.status === 429) retryAfter = res.headers.get('retry-after');
    }
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses.slice(5)).toEqual([429, 429]);
    expect(Number(retryAfter)).toBeGreaterThan(0);
    // Even the right key is refused while limited: guessing cannot go on.
    const right = await s.app.request('/api/auth/login', json({ email: c.email, loginKey: c.loginKey, client: 'cli' }));
    expect(right.status).toBe(429);
  });
});

describe('session cache', () => {
  const row = (id: string): SessionRow => ({
    id, accountId: hexId(), tokenHash: id, client: 'cli', createdAt: new Date(), lastSeenAt: new Date(),
  });

  it('answers for SESSION_CACHE_MS, then asks the database again', () => {
    const cache = new SessionCache();
    const r = row('a');
    cache.set('a', r, 1000);
    expect(cache.get('a', 1000 + SESSION_CACHE_MS)).toBe(r);
    expect(cache.get('a', 1001 + SESSION_CACHE_MS)).toBeUndefined();
    expect(cache.get('a', 1000)).toBeUndefined(); // the stale entry was dropped
  });

  it('forgets everything on clear', () => {
    const cache = new SessionCache();
    cache.set('a', row('a'), 0);
    cache.set('b', row('b'), 0);
    cache.clear();
    expect(cache.get('a', 0)).toBeUndefined();
    expect(cache.get('b', 0)).toBeUndefined();
  });
});
