// Server configuration, read once from the environment and validated with one clear message per
// mistake (main.ts prints them and exits with status 2).
import { resolve } from 'node:path';
import { DB_ANSWER_TIMEOUT_MS } from './db/answer-deadline.js';
import { parseTrustedProxies } from './proxy.js';
import { SESSION_CACHE_MS } from './session-cache.js';

export interface S3Config {
  endpoint?: string;
  bucket: string;
  region: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  forcePathStyle: boolean;
}

export interface RateLimit { limit: number; windowSeconds: number }

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  /** PostgreSQL URL; without it the server uses PGlite in `dataDir/db`. */
  databaseUrl?: string;
  /**
   * How long PostgreSQL may owe an answer before the connection is ended and its requests get 503
   * DATABASE_UNAVAILABLE (db/answer-deadline.ts); it must outlast the slowest legitimate statement.
   */
  dbAnswerTimeoutMs: number;
  /** S3 blob store; without it chunks go to `dataDir/blobs`. */
  s3?: S3Config;
  quotaBytes: number;
  keepVersions: number;
  gcGraceSeconds: number;
  gcIntervalSeconds: number;
  uploadTtlSeconds: number;
  /** A session unused this long ends. */
  sessionIdleSeconds: number;
  /** A session ends this long after its log-in, however much it is used. */
  sessionMaxSeconds: number;
  /**
   * How long a process may answer from its session cache. Ended sessions are announced to every
   * process at once (session-cache.ts); this bounds the rest, when an announcement is missed.
   */
  sessionCacheMs: number;
  /** Changes older than this leave the feed (a client further behind reloads fully). */
  changesRetentionDays: number;
  /** How often each WebSocket gets a ping (which also ends sockets of sessions that have ended). */
  wsPingMs: number;
  logLevel: LogLevel;
  /** The web vault's build, served from the same origin. */
  webDist: string;
  /** From COFFER_SERVER_SECRET (base64url or hex, ≥ 32 bytes); else a file in the data dir. */
  serverSecret?: string;
  /** Attempts at secret-guessing endpoints, per e-mail/account and per client address. */
  rateLimits: { account: RateLimit; address: RateLimit };
  /** Proxies (addresses, CIDR ranges) whose X-Forwarded-For and X-Forwarded-Proto are believed (proxy.ts). */
  trustedProxies: readonly string[];
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** Configuration used by tests and the benchmark: everything small and in memory unless given. */
export function defaultConfig(overrides: Partial<Config> = {}): Config {
  return {
    port: 8787,
    host: '127.0.0.1',
    dataDir: resolve('.coffer-data'),
    dbAnswerTimeoutMs: DB_ANSWER_TIMEOUT_MS,
    quotaBytes: 10 * 2 ** 30,
    keepVersions: 50,
    gcGraceSeconds: 3600,
    gcIntervalSeconds: 600,
    uploadTtlSeconds: 24 * 3600,
    sessionIdleSeconds: 30 * 24 * 3600,
    sessionMaxSeconds: 90 * 24 * 3600,
    sessionCacheMs: SESSION_CACHE_MS,
    changesRetentionDays: 30,
    wsPingMs: 25_000,
    logLevel: 'info',
    webDist: resolve(import.meta.dirname, '../../web/dist'),
    rateLimits: { account: { limit: 10, windowSeconds: 60 }, address: { limit: 60, windowSeconds: 60 } },
    trustedProxies: [],
    ...overrides,
  };
}

export function loadConfig(env: NodeJS.ProcessEnv): Config {
  const problems: string[] = [];
  const base = defaultConfig();

  const int = (name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    if (!/^\d+$/.test(raw.trim())) {
      problems.push(`${name} must be a whole number, got "${raw}"`);
      return fallback;
    }
    const n = Number(raw.trim());
    if (n < min || n > max) {
      problems.push(`${name} must be between ${min} and ${max}, got ${n}`);
      return fallback;
    }
    return n;
  };
  const bool = (name: string, fallback: boolean): boolean => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    if (['1', 'true', 'yes'].includes(raw.toLowerCase())) return true;
    if (['0', 'false', 'no'].includes(raw.toLowerCase())) return false;
    problems.push(`${name} must be true or false, got "${raw}"`);
    return fallback;
  };

  const port = int('PORT', base.port, 0, 65535);
  const host = env.HOST || base.host;
  const dataDir = resolve(env.COFFER_DATA_DIR || base.dataDir);

  let databaseUrl: string | undefined;
  if (env.DATABASE_URL) {
    try {
      const u = new URL(env.DATABASE_URL);
      if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
        problems.push('DATABASE_URL must start with postgres:// or postgresql://');
      } else databaseUrl = env.DATABASE_URL;
    } catch {
      problems.push('DATABASE_URL is not a valid URL');
    }
  }

  let s3: S3Config | undefined;
  const s3Vars = ['S3_ENDPOINT', 'S3_BUCKET', 'S3_REGION', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY'];
  if (s3Vars.some((v) => env[v])) {
    if (!env.S3_BUCKET) problems.push('S3_BUCKET is required when any S3_* variable is set');
    if (Boolean(env.S3_ACCESS_KEY_ID) !== Boolean(env.S3_SECRET_ACCESS_KEY)) {
      problems.push('S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY must be set together');
    }
    if (env.S3_ENDPOINT) {
      try {
        new URL(env.S3_ENDPOINT);
      } catch {
        problems.push('S3_ENDPOINT is not a valid URL');
      }
    }
    s3 = {
      bucket: env.S3_BUCKET ?? '',
      region: env.S3_REGION || 'us-east-1',
      forcePathStyle: bool('S3_FORCE_PATH_STYLE', Boolean(env.S3_ENDPOINT)),
      ...(env.S3_ENDPOINT ? { endpoint: env.S3_ENDPOINT } : {}),
      ...(env.S3_ACCESS_KEY_ID ? { accessKeyId: env.S3_ACCESS_KEY_ID } : {}),
      ...(env.S3_SECRET_ACCESS_KEY ? { secretAccessKey: env.S3_SECRET_ACCESS_KEY } : {}),
    };
  }

  const logLevel = (env.LOG_LEVEL || base.logLevel) as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);

  if (env.COFFER_SERVER_SECRET !== undefined && decodeSecret(env.COFFER_SERVER_SECRET) === null) {
    problems.push('COFFER_SERVER_SECRET must be at least 32 bytes as hex or base64url');
  }

  const proxies = parseTrustedProxies(env.COFFER_TRUSTED_PROXIES ?? '');
  problems.push(...proxies.problems);

  const config: Config = {
    ...base,
    port,
    host,
    dataDir,
    dbAnswerTimeoutMs: int('COFFER_DB_ANSWER_TIMEOUT_MS', base.dbAnswerTimeoutMs, 1000, 600_000),
    quotaBytes: int('COFFER_QUOTA_BYTES', base.quotaBytes, 0),
    keepVersions: int('COFFER_KEEP_VERSIONS', base.keepVersions, 1, 1_000_000),
    gcGraceSeconds: int('COFFER_GC_GRACE_SECONDS', base.gcGraceSeconds, 0),
    gcIntervalSeconds: int('COFFER_GC_INTERVAL_SECONDS', base.gcIntervalSeconds, 1),
    uploadTtlSeconds: int('COFFER_UPLOAD_TTL_SECONDS', base.uploadTtlSeconds, 1),
    sessionIdleSeconds: int('COFFER_SESSION_IDLE_SECONDS', base.sessionIdleSeconds, 60),
    sessionMaxSeconds: int('COFFER_SESSION_MAX_SECONDS', base.sessionMaxSeconds, 60),
    sessionCacheMs: int('COFFER_SESSION_CACHE_MS', base.sessionCacheMs, 0, 60_000),
    changesRetentionDays: int('COFFER_CHANGES_RETENTION_DAYS', base.changesRetentionDays, 1, 36_500),
    wsPingMs: int('COFFER_WS_PING_MS', base.wsPingMs, 10, 3_600_000),
    logLevel,
    webDist: resolve(env.COFFER_WEB_DIST || base.webDist),
    rateLimits: {
      account: { limit: int('COFFER_RATE_LIMIT_ACCOUNT', base.rateLimits.account.limit, 1), windowSeconds: 60 },
      address: { limit: int('COFFER_RATE_LIMIT_ADDRESS', base.rateLimits.address.limit, 1), windowSeconds: 60 },
    },
    trustedProxies: proxies.entries,
    ...(databaseUrl ? { databaseUrl } : {}),
    ...(s3 ? { s3 } : {}),
    ...(env.COFFER_SERVER_SECRET ? { serverSecret: env.COFFER_SERVER_SECRET } : {}),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** Accepts hex or base64url; returns null unless it decodes to at least 32 bytes. */
export function decodeSecret(text: string): Uint8Array | null {
  const t = text.trim();
  const bytes = /^[0-9a-fA-F]+$/.test(t) && t.length % 2 === 0
    ? Buffer.from(t, 'hex')
    : /^[A-Za-z0-9_-]+$/.test(t) ? Buffer.from(t, 'base64url') : null;
  return bytes && bytes.length >= 32 ? new Uint8Array(bytes) : null;
}
