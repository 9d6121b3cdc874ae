// Ending a session in one server process reaches the session cache of another at once: two real
// server processes on one PostgreSQL database, each caching sessions for 60 s
// (COFFER_SESSION_CACHE_MS), so a refusal within seconds can only come from the NOTIFY
// (session-cache.ts, realtime/fanout.ts).
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { createTestDatabase, NO_POSTGRES, postgresUrl } from '../../tests/support/env.js';
import { startServer, type RunningServer } from '../../tests/support/server.js';
import type { BlobStore } from '../src/blob/store.js';
import { defaultConfig } from '../src/config.js';
import { requireSession, type AppContext, type AppEnv } from '../src/context.js';
import type { Db } from '../src/db/client.js';
import { ApiError } from '../src/errors.js';
import { Events } from '../src/events.js';
import { createLogger } from '../src/logger.js';
import { decodePayload, decodeSessionsPayload, encodeSessionsPayload } from '../src/realtime/fanout.js';
import { SessionCache, sessionCacheFor, type SessionRow } from '../src/session-cache.js';
import { hashToken } from '../src/sessions.js';
import { b64, Client, hexId, kdfText, loginAgain, on, over, rand, refusedWithin, signup } from './helpers.js';

/** A long cache lifetime: any prompt refusal is the notification's doing. */
const CACHE_MS = 60_000;
/** How long a refusal may take to arrive (generous; it takes milliseconds). */
const PROMPT_MS = 5_000;

async function status(c: Client): Promise<number> {
  const res = await c.request('GET', '/api/account');
  await res.arrayBuffer();
  return res.status;
}

describe('forgetting ended sessions', () => {
  const row = (accountId: string): SessionRow => ({
    id: hexId(), accountId, tokenHash: hexId(), client: 'cli', createdAt: new Date(), lastSeenAt: new Date(),
  });

  it('forgets one account\'s entries, or all, and moves the epoch either way', () => {
    const cache = new SessionCache(CACHE_MS);
    const [a, b] = [hexId(), hexId()];
    cache.set('a1', row(a), 0);
    cache.set('a2', row(a), 0);
    cache.set('b1', row(b), 0);
    const before = cache.epoch;
    cache.forget(a);
    expect([cache.get('a1', 0), cache.get('a2', 0)]).toEqual([undefined, undefined]);
    expect(cache.get('b1', 0)?.accountId).toBe(b);
    expect(cache.epoch).toBeGreaterThan(before);
    const middle = cache.epoch;
    cache.forget(null);
    expect(cache.get('b1', 0)).toBeUndefined();
    expect(cache.epoch).toBeGreaterThan(middle);
  });

  it('encodes the announcement with the account id only; the change decoder ignores it', () => {
    const a = hexId();
    expect(encodeSessionsPayload(a)).toBe(`sessions:${a}`);
    expect(decodeSessionsPayload(encodeSessionsPayload(a))).toBe(a);
    expect(decodeSessionsPayload(encodeSessionsPayload(null))).toBeNull();
    expect(decodePayload(encodeSessionsPayload(a))).toBeNull();
    for (const bad of ['sessions:', 'sessions:ABC', `sessions:${a}x`, `${a}:1`, 'hb:x:1']) {
      expect(decodeSessionsPayload(bad)).toBeUndefined();
    }
    expect(() => encodeSessionsPayload('not-an-id')).toThrow(TypeError);
  });

  it('does not cache a row read while the account\'s sessions were being forgotten', async () => {
    // A database whose session lookups wait until the test answers them.
    const lookups: Array<(rows: SessionRow[]) => void> = [];
    const db = { select: () => ({ from: () => ({ where: () => ({ limit: () => new Promise((r) => lookups.push(r)) }) }) }) };
    const ctx: AppContext = {
      config: defaultConfig({ sessionCacheMs: CACHE_MS }), db: db as unknown as Db, blobs: {} as BlobStore,
      logger: createLogger('error', () => {}), events: new Events(), secret: new Uint8Array(32),
    };
    const app = new Hono<AppEnv>().get('/', requireSession(ctx), (c) => c.text(c.get('session').sessionId));
    app.onError((err, c) => (err instanceof ApiError ? c.json({ code: err.code }, err.status) : c.text(String(err), 500)));
    const token = b64(rand(32));
    const session = { ...row(hexId()), tokenHash: hashToken(token) };
    const cache = sessionCacheFor(ctx);
    const get = () => app.request('/', { headers: { authorization: `Bearer ${token}` } });
    const answer = async (rows: SessionRow[]) => {
      while (lookups.length === 0) await new Promise((r) => setTimeout(r, 1));
      lookups.shift()!(rows);
    };

    // Nothing forgotten while the lookup ran: the row is cached.
    const plain = get();
    await answer([session]);
    expect((await plain).status).toBe(200);
    expect(cache.get(session.tokenHash)).toBeDefined();
    cache.forget(session.accountId);

    // The lookup starts, the account's sessions are forgotten (an announcement), then the answer
    // comes: read before the deletion committed, it serves that request but is not cached...
    const racing = get();
    while (lookups.length === 0) await new Promise((r) => setTimeout(r, 1));
    cache.forget(session.accountId);
    await answer([session]);
    expect((await racing).status).toBe(200);
    expect(cache.get(session.tokenHash)).toBeUndefined();
    // ...so the next request asks the database, which no longer has it.
    const after = get();
    await answer([]);
    const refused = await after;
    expect([refused.status, (await refused.json()).code]).toEqual([401, 'UNAUTHENTICATED']);
  });
});

describe.skipIf(!postgresUrl)(`ended sessions across two processes on PostgreSQL${postgresUrl ? '' : ` (${NO_POSTGRES})`}`, () => {
  let db: { url: string; drop: () => Promise<void> };
  let admin: postgres.Sql;
  let one: RunningServer;
  let two: RunningServer;

  beforeAll(async () => {
    db = await createTestDatabase();
    admin = postgres(db.url, { max: 1, onnotice: () => {} });
    const env = { DATABASE_URL: db.url, COFFER_SESSION_CACHE_MS: String(CACHE_MS) };
    one = await startServer(env);
    // The second one collects every second, for the idle-expiry test (nothing else is idle).
    two = await startServer({ ...env, COFFER_GC_INTERVAL_SECONDS: '1' }); // after the first: it migrated the database
  });
  afterAll(async () => {
    await one?.stop();
    await two?.stop();
    await admin?.end();
    await db?.drop();
  });

  it('a process answers from its cache: a deletion nobody announces goes unnoticed there (the control)', async () => {
    const alice = await signup(over(one));
    expect(await status(on(two, alice))).toBe(200); // two caches the session
    await admin`delete from sessions where account_id = ${alice.accountId}`;
    expect(await status(on(one, alice))).toBe(401); // one never cached it
    expect(await status(on(two, alice))).toBe(200); // two still has it, for CACHE_MS
  });

  it('log-out through one process is refused by the other at once; other accounts keep their cache', async () => {
    const alice = await signup(over(one));
    const bob = await signup(over(one));
    expect(await status(on(two, alice))).toBe(200);
    expect(await status(on(two, bob))).toBe(200);
    // Bob's row goes unannounced: two answering for it afterwards shows his entry was kept.
    await admin`delete from sessions where account_id = ${bob.accountId}`;

    expect((await alice.request('POST', '/api/auth/logout')).status).toBe(204);
    expect(await refusedWithin(on(two, alice), PROMPT_MS)).toBeLessThan(PROMPT_MS);
    expect(await status(on(two, bob))).toBe(200);
  });

  it('revoking a session through one process ends it in the other; the revoking session lives on', async () => {
    const alice = await signup(over(one));
    const { client: stolen, sessionId } = await loginAgain(over(two), alice);
    expect(await status(stolen)).toBe(200);
    expect(await status(on(two, alice))).toBe(200);

    expect((await alice.request('DELETE', `/api/auth/sessions/${sessionId}`)).status).toBe(204);
    expect(await refusedWithin(stolen, PROMPT_MS)).toBeLessThan(PROMPT_MS);
    expect(await status(on(two, alice))).toBe(200);
  });

  it('a passphrase change through one process ends the other sessions in the other process', async () => {
    const alice = await signup(over(one));
    const { client: other } = await loginAgain(over(two), alice);
    expect(await status(other)).toBe(200);

    const res = await alice.request('PUT', '/api/account/passphrase', {
      loginKey: alice.loginKey, newKdf: kdfText(), newLoginKey: b64(rand(32)), passphraseSlot: b64(rand(62)),
    });
    expect(res.status, await res.text()).toBe(204);
    expect(await refusedWithin(other, PROMPT_MS)).toBeLessThan(PROMPT_MS);
    expect(await status(on(two, alice))).toBe(200);
  });

  it('a session the collector of one process expires is refused by the other at once', async () => {
    const alice = await signup(over(one));
    expect(await status(on(one, alice))).toBe(200); // one caches it, with a fresh last use
    await admin`update sessions set last_seen_at = now() - interval '31 days' where account_id = ${alice.accountId}`;
    expect(await refusedWithin(on(one, alice), PROMPT_MS)).toBeLessThan(PROMPT_MS); // two collects within ~1 s
    const [left] = await admin`select count(*)::int as n from sessions where account_id = ${alice.accountId}`;
    expect(left!.n).toBe(0);
  });
});
