// The account: its public parts, key slots and usage; passphrase change; passkey credentials.
import { and, eq } from 'drizzle-orm';
import { Hono } from 'hono';
import { requireSession, type AppContext, type AppEnv } from '../context.js';
import { accounts, sessions, webauthnCredentials } from '../db/schema/core.js';
import { ApiError, notFound } from '../errors.js';
import { MAX_SLOT } from '../limits.js';
import { kdfParams, loginVerifier, verifierMatches } from '../services/accounts.js';
import { consume, limitKey } from '../services/rate-limit.js';
import { sessionsEnded } from '../session-cache.js';
import { csrfToken } from '../sessions.js';
import { base64url, base64urlExact, readJson } from '../validate.js';
import { refuseOtherMethods } from './method.js';

export function accountRoutes(ctx: AppContext): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.use('*', requireSession(ctx));

  r.get('/', async (c) => {
    const { accountId, sessionId, viaCookie } = c.get('session');
    const [a] = await ctx.db.select().from(accounts).where(eq(accounts.id, accountId));
    if (!a) throw notFound();
    return c.json({
      accountId: a.id, email: a.email, kdf: a.kdf, accountPublicKey: a.accountPublicKey,
      slots: { passphrase: a.passphraseSlot, recovery: a.recoverySlot }, rootNodeId: a.rootNodeId,
      quotaBytes: ctx.config.quotaBytes, usedBytes: a.usedBytes, cursor: a.cursor,
      // Every tab of the browser shares the cookie, and so the session: a tab opened later, or one
      // whose token a new log-in replaced, reads the token here. Only a page of this origin can
      // read this answer (no CORS), and a cross-site request does not carry the cookie at all.
      ...(viaCookie ? { csrfToken: csrfToken(ctx.secret, sessionId) } : {}),
    });
  });

  /** Re-wraps the account key under a new passphrase (format §4.3); other sessions are ended. */
  r.put('/passphrase', async (c) => {
    const { accountId, sessionId } = c.get('session');
    const body = await readJson(c);
    const loginKey = base64urlExact(body.loginKey, 'loginKey', 32);
    const newKdf = kdfParams(body.newKdf, 'newKdf');
    const newLoginKey = base64urlExact(body.newLoginKey, 'newLoginKey', 32);
    const passphraseSlot = base64url(body.passphraseSlot, 'passphraseSlot', MAX_SLOT);
    await consume(ctx.db, limitKey('passphrase-account', accountId), ctx.config.rateLimits.account);
    await ctx.db.transaction(async (tx) => {
      const [a] = await tx.select().from(accounts).where(eq(accounts.id, accountId)).for('update');
      if (!a || !verifierMatches(a.loginVerifier, loginVerifier(loginKey))) {
        throw new ApiError(401, 'LOGIN_FAILED', 'The current login key is wrong');
      }
      await tx.update(accounts).set({ kdf: newKdf, loginVerifier: loginVerifier(newLoginKey), passphraseSlot })
        .where(eq(accounts.id, accountId));
      const others = await tx.select({ id: sessions.id }).from(sessions).where(eq(sessions.accountId, accountId));
      for (const s of others) if (s.id !== sessionId) await tx.delete(sessions).where(eq(sessions.id, s.id));
    });
    sessionsEnded(ctx, accountId);
    return c.body(null, 204);
  });

  r.get('/passkeys', async (c) => {
    const { accountId } = c.get('session');
    const rows = await ctx.db.select().from(webauthnCredentials).where(eq(webauthnCredentials.accountId, accountId));
    return c.json({
      passkeys: rows.map((p) => ({ id: p.id, createdAt: p.createdAt.toISOString(), hasPrfSlot: p.prfSlot !== null })),
    });
  });
  r.delete('/passkeys/:id', async (c) => {
    const { accountId } = c.get('session');
    // A credential id is base64url (WebAuthn); anything else names no passkey.
    if (!/^[A-Za-z0-9_-]{1,1400}$/.test(c.req.param('id'))) throw notFound('No such passkey');
    const gone = await ctx.db.delete(webauthnCredentials)
      .where(and(eq(webauthnCredentials.accountId, accountId), eq(webauthnCredentials.id, c.req.param('id'))))
      .returning({ id: webauthnCredentials.id });
    if (gone.length === 0) throw notFound('No such passkey');
    return c.body(null, 204);
  });

  refuseOtherMethods(r, ['/', '/passphrase', '/passkeys', '/passkeys/:id']);
  return r;
}
