// Structured JSON-line logs. Callers pass fields, never raw headers or URLs: `pathOnly` strips
// query strings and fragments, and nothing here ever sees Authorization, cookies or tokens.
import type { LogLevel } from './config.js';

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export function createLogger(level: LogLevel, write: (line: string) => void = (l) => process.stdout.write(l)): Logger {
  const log = (at: LogLevel) => (msg: string, fields: Record<string, unknown> = {}) => {
    if (ORDER[at] < ORDER[level]) return;
    write(`${JSON.stringify({ time: new Date().toISOString(), level: at, msg, ...fields })}\n`);
  };
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

/** The path of a URL without query string or fragment (which may carry secrets). */
export function pathOnly(url: string): string {
  const cut = url.search(/[?#]/);
  const path = cut === -1 ? url : url.slice(0, cut);
  return path.replace(/^[a-z]+:\/\/[^/]*/i, '') || '/';
}

/** An error for the log: name, message and code, with anything token-like removed. */
export function describeError(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { error: 'non-error thrown' };
  // A failed query's message ends with its parameters (an e-mail address, say): they stay out.
  const scrub = (s: string) => s.replace(/(\bparams: )[^\n]*/g, '$1[redacted]')
    .replace(/(bearer\s+)\S+/gi, '$1[redacted]').replace(/[A-Za-z0-9_-]{32,}/g, '[redacted]');
  return {
    error: err.name,
    message: scrub(err.message),
    ...('code' in err && typeof err.code === 'string' ? { code: err.code } : {}),
    stack: err.stack ? scrub(err.stack).split('\n').slice(0, 6).join('\n') : undefined,
  };
}
