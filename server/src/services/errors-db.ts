// Recognises database errors by SQLSTATE, whichever driver raised them (drizzle wraps the driver's
// error in `cause`).
export function sqlState(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 4; depth++) {
    if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) return e.code;
    e = e.cause as typeof e;
  }
  return undefined;
}

export const isUniqueViolation = (err: unknown) => sqlState(err) === '23505';
export const isForeignKeyViolation = (err: unknown) => sqlState(err) === '23503';

/**
 * Errors of the connection to the database rather than of a statement (postgres.js and Node codes,
 * and ANSWER_TIMEOUT: a connection ended because the database stopped answering, db/answer-deadline.ts).
 */
const CONNECTION_CODES = new Set([
  'CONNECTION_CLOSED', 'CONNECTION_DESTROYED', 'CONNECTION_ENDED', 'CONNECT_TIMEOUT', 'ANSWER_TIMEOUT',
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
]);

/**
 * Whether the database could not be reached or went away mid-statement: a connection error, or
 * SQLSTATE class 08 (connection exception), 57P01..57P03 (shutting down, cannot connect now) or
 * 53300 (too many connections). A transaction cut off before its COMMIT was rolled back; one cut
 * off during it may have been applied (docs/api.md says so to clients).
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 4; depth++) {
    const code = e.code;
    if (typeof code === 'string') {
      if (CONNECTION_CODES.has(code) || code.startsWith('08') || /^57P0[123]$/.test(code) || code === '53300') return true;
    }
    e = e.cause as typeof e;
  }
  return false;
}
