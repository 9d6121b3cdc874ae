// Session tokens. A token is 32 random bytes (base64url) handed to the client once; the database
// keeps only SHA-256 of it. The CSRF token of a web session is an HMAC of the session id under the
// server secret, so it needs no storage and cannot be computed without the secret.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'coffer_session';
const TOKEN_FORM = /^[A-Za-z0-9_-]{43}$/;

export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

export function isTokenForm(token: string): boolean {
  return TOKEN_FORM.test(token);
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function csrfToken(secret: Uint8Array, sessionId: string): string {
  return createHmac('sha256', secret).update('coffer/csrf').update(sessionId).digest('base64url');
}

/**
 * When a session ends unless used again: `idleSeconds` after its last use, and never later than
 * `maxSeconds` after its log-in.
 */
export function sessionEndsAt(
  session: { createdAt: Date; lastSeenAt: Date },
  limits: { sessionIdleSeconds: number; sessionMaxSeconds: number },
): Date {
  return new Date(Math.min(
    session.lastSeenAt.getTime() + limits.sessionIdleSeconds * 1000,
    session.createdAt.getTime() + limits.sessionMaxSeconds * 1000,
  ));
}

/** Compares two strings in time independent of where they differ. */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
