// Sign-up, log-in (passphrase or recovery code), log-out and sessions (docs/api.md §Authentication).
import { randomBytes } from 'node:crypto';
import { and, desc, eq } from 'drizzle-orm';
import { Hono, type Context } from 'hono';
import { deleteCookie, setCookie } from 'hono/cookie';
import { requireSession, type AppContext, type AppEnv, type ClientKind } from '../context.js';
import { accounts, devices, nodes, sessions } from '../db/schema/core.js';
import { ApiError, notFound } from '../errors.js';
import { MAX_METADATA, MAX_SLOT, MAX_WRAPPED_KEY } from '../limits.js';
import { clientAddress, viaHttps } from '../proxy.js';
import { DUMMY_VERIFIER, fakeKdf, kdfParams, loginVerifier, verifierMatches } from '../services/accounts.js';
import { isUniqueViolation } from '../services/errors-db.js';
import { consume, limitKey } from '../services/rate-limit.js';
import { sessionsEnded } from '../session-cache.js';
import { refuseOtherMethods } from './method.js';
import { SESSION_COOKIE, csrfToken, hashToken, newToken, sessionEndsAt } from '../sessions.js';
import {
  base64url, base64urlExact, email, id16, object, oneOf, optional, readJson, string,
} from '../validate.js';

const CLIENTS = ['web', 'cli'] as const;

const loginFailed = () => new ApiError(401, 'LOGIN_FAILED', 'Wrong e-mail or key');

/** Opens a session and answers with its token (CLI) or cookie + CSRF token (web). */
async function openSession(ctx: AppContext, c: Context, accountId: string, client: ClientKind) {
  const token = newToken();
  const sessionId = randomBytes(16).toString('hex');
  await ctx.db.insert(sessions).values({ id: sessionId, accountId, tokenHash: hashToken(token), client });
  if (client === 'cli') return { sessionId, token };
  setCookie(c, SESSION_COOKIE, token, {
    httpOnly: true, sameSite: 'Strict', path: '/', secure: viaHttps(c, ctx.config.trustedProxies),
  });
  return { sessionId, csrfToken: csrfToken(ctx.secret, sessionId) };
}

export function authRoutes(ctx: AppContext): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  const { account: perAccount, address: perAddress } = ctx.config.rateLimits;

  r.post('/prelogin', async (c) => {
    const body = await readJson(c);
    const mail = email(body.email);
    const [row] = await ctx.db.select({ kdf: accounts.kdf }).from(accounts).where(eq(accounts.email, mail));
    return c.json({ kdf: row?.kdf ?? fakeKdf(ctx.secret, mail) });
  });

  r.post('/signup', async (c) => {
    const body = await readJson(c);
    const mail = email(body.email);
    const accountId = id16(body.accountId, 'accountId');
    const kdf = kdfParams(body.kdf, 'kdf');
    const loginKey = base64urlExact(body.loginKey, 'loginKey', 32);
    const recoveryLoginKey = base64urlExact(body.recoveryLoginKey, 'recoveryLoginKey', 32);
    const accountPublicKey = base64urlExact(body.accountPublicKey, 'accountPublicKey', 32);
    const slots = object(body.slots, 'slots');
    const passphraseSlot = base64url(slots.passphrase, 'slots.passphrase', MAX_SLOT);
    const recoverySlot = base64url(slots.recovery, 'slots.recovery', MAX_SLOT);
    const root = object(body.root, 'root');
    const rootNodeId = id16(root.nodeId, 'root.nodeId');
    const wrappedKey = base64url(root.wrappedKey, 'root.wrappedKey', MAX_WRAPPED_KEY);
    const metadata = base64url(root.metadata, 'root.metadata', MAX_METADATA);
    const client = oneOf(body.client, 'client', CLIENTS);
    optional(body.deviceName, (v) => string(v, 'deviceName', 200));

    await consume(ctx.db, limitKey('signup-addr', clientAddress(c, ctx.config.trustedProxies)), perAddress);
    try {
      await ctx.db.transaction(async (tx) => {
        await tx.insert(accounts).values({
          id: accountId, email: mail, kdf, loginVerifier: loginVerifier(loginKey),
          recoveryVerifier: loginVerifier(recoveryLoginKey), accountPublicKey, passphraseSlot, recoverySlot, rootNodeId,
        });
        await tx.insert(nodes).values({ accountId, id: rootNodeId, parentId: null, kind: 'folder', wrappedKey, metadata });
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new ApiError(409, 'EMAIL_TAKEN', 'An account with this e-mail or id exists');
      throw err;
    }
    const session = await openSession(ctx, c, accountId, client);
    return c.json({ accountId, rootNodeId, ...session }, 201);
  });

  /** Log-in with the passphrase login key or the recovery login key (format §4.1, §4.3). */
  const login = (kind: 'passphrase' | 'recovery') => async (c: Context<AppEnv>) => {
    const body = await readJson(c);
    const mail = email(body.email);
    const keyField = kind === 'passphrase' ? 'loginKey' : 'recoveryLoginKey';
    const key = base64urlExact(body[keyField], keyField, 32);
    const client = oneOf(body.client, 'client', CLIENTS);

    await consume(ctx.db, limitKey('login-addr', clientAddress(c, ctx.config.trustedProxies)), perAddress);
    await consume(ctx.db, limitKey('login-account', mail), perAccount);
    const [account] = await ctx.db.select().from(accounts).where(eq(accounts.email, mail));
    const stored = account ? (kind === 'passphrase' ? account.loginVerifier : account.recoveryVerifier) : DUMMY_VERIFIER;
    const ok = verifierMatches(stored, loginVerifier(key));
    if (!account || !ok) throw loginFailed();

    const session = await openSession(ctx, c, account.id, client);
    return c.json({
      accountId: account.id, ...session,
      ...(kind === 'recovery' ? { recoverySlot: account.recoverySlot, kdf: account.kdf } : {}),
    });
  };
  r.post('/login', login('passphrase'));
  r.post('/recover', login('recovery'));

  r.use('/logout', requireSession(ctx));
  r.post('/logout', async (c) => {
    const { accountId, sessionId } = c.get('session');
    await ctx.db.delete(sessions).where(eq(sessions.id, sessionId));
    sessionsEnded(ctx, accountId);
    deleteCookie(c, SESSION_COOKIE, { path: '/' });
    return c.body(null, 204);
  });

  r.use('/sessions', requireSession(ctx));
  r.use('/sessions/*', requireSession(ctx));
  r.get('/sessions', async (c) => {
    const { accountId, sessionId } = c.get('session');
    const rows = await ctx.db.select().from(sessions).where(eq(sessions.accountId, accountId))
      .orderBy(desc(sessions.createdAt));
    return c.json({
      sessions: rows.map((s) => ({
        id: s.id, client: s.client, createdAt: s.createdAt.toISOString(), lastSeenAt: s.lastSeenAt.toISOString(),
        endsAt: sessionEndsAt(s, ctx.config).toISOString(), current: s.id === sessionId, deviceId: s.deviceId,
      })),
    });
  });
  /**
   * Marks the calling session as one of the account's devices (a browser registered before, logged
   * in again, says so on unlock), so that removing the device ends it. Counts as the device being seen.
   */
  r.put('/sessions/current/device', async (c) => {
    const { accountId, sessionId } = c.get('session');
    const body = await readJson(c);
    const deviceId = id16(body.deviceId, 'deviceId');
    // The device row is locked first, as DELETE /api/devices/:id does: a device removed meanwhile
    // is not found here, and one removed after this commits takes this session with it.
    await ctx.db.transaction(async (tx) => {
      const seen = await tx.update(devices).set({ lastSeenAt: new Date() })
        .where(and(eq(devices.accountId, accountId), eq(devices.id, deviceId))).returning({ id: devices.id });
      if (seen.length === 0) throw notFound('No such device');
      await tx.update(sessions).set({ deviceId }).where(eq(sessions.id, sessionId));
    });
    return c.body(null, 204);
  });
  r.delete('/sessions/:id', async (c) => {
    const { accountId } = c.get('session');
    const id = c.req.param('id');
    if (!/^[0-9a-f]{32}$/.test(id)) throw notFound('No such session');
    const gone = await ctx.db.delete(sessions).where(and(eq(sessions.id, id), eq(sessions.accountId, accountId)))
      .returning({ id: sessions.id });
    if (gone.length === 0) throw notFound('No such session');
    sessionsEnded(ctx, accountId);
    return c.body(null, 204);
  });

  refuseOtherMethods(r, [
    '/prelogin', '/signup', '/login', '/recover', '/logout', '/sessions', '/sessions/:id', '/sessions/current/device',
  ]);
  return r;
}
