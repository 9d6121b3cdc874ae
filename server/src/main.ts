// Starts Coffer: reads and checks the configuration (exit 2 on mistakes), opens the database
// (migrating it) and the blob store, listens, and shuts down cleanly on SIGTERM/SIGINT.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { createApp } from './app.js';
import { CircuitBreakerStore } from './blob/breaker.js';
import { FolderBlobStore } from './blob/folder.js';
import { S3BlobStore } from './blob/s3.js';
import type { BlobStore } from './blob/store.js';
import { ConfigError, loadConfig, type Config, type S3Config } from './config.js';
import type { AppContext } from './context.js';
import { openDatabase } from './db/client.js';
import { lockEmbeddedDatabase } from './db/pglite-lock.js';
import { Events } from './events.js';
import { createLogger, describeError } from './logger.js';
import { scheduleGc } from './services/gc.js';
import { realtimeFor } from './realtime/index.js';
import { loadServerSecret } from './secret.js';

function readConfig(): Config {
  try {
    return loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`Coffer cannot start: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

async function main(): Promise<void> {
  const config = readConfig();
  const logger = createLogger(config.logLevel);
  const secret = await startStep((why) => `COFFER_DATA_DIR (${config.dataDir}) cannot be used: ${why}`, async () => {
    await mkdir(config.dataDir, { recursive: true });
    return loadServerSecret(config.dataDir, config.serverSecret);
  });

  const database = await startStep((why) => databaseProblem(config, why), async () => {
    if (config.databaseUrl) return openDatabase({ url: config.databaseUrl, answerTimeoutMs: config.dbAnswerTimeoutMs });
    const dir = join(config.dataDir, 'db');
    lockEmbeddedDatabase(dir);
    return openDatabase({ pgliteDir: dir });
  });
  let store: BlobStore;
  if (config.s3) {
    const s3Config = config.s3;
    store = await startStep((why) => blobStoreProblem(s3Config, why), async () => {
      const s3 = new S3BlobStore(s3Config);
      try {
        await s3.ensureBucket();
      } catch (err) {
        await s3.close();
        throw err;
      }
      return s3;
    });
  } else {
    store = new FolderBlobStore(join(config.dataDir, 'blobs'));
  }
  const blobs = new CircuitBreakerStore(store);
  blobs.onFailure = (err) => logger.warn('blob store failure', describeError(err));

  const ctx: AppContext = { config, db: database.db, blobs, logger, events: new Events(), secret };
  const { app, injectWebSocket, closers } = createApp(ctx);
  const stopGc = scheduleGc(ctx);
  // Realtime push: with PostgreSQL, LISTEN before announcing, so no change is missed at start.
  await realtimeFor(ctx).ready;

  const server = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, (info) => {
    process.stdout.write(`Coffer is running at http://${config.host}:${info.port}/\n`);
  });
  server.once('error', (err: NodeJS.ErrnoException) => {
    const why = err.code === 'EADDRINUSE' ? 'is in use by another program: stop it, or set PORT to another port'
      : err.code === 'EACCES' ? 'needs privileges: set PORT to 1024 or above' : `cannot be used (${err.code ?? err.message})`;
    cannotStart(`port ${config.port} on ${config.host} ${why}`);
  });
  injectWebSocket(server);
  // Idle keep-alive connections stay open longer than clients' own idle timeouts (undici: 4 s),
  // so a client never reuses a connection the server is just closing.
  if ('keepAliveTimeout' in server) {
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 66_000;
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal });
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    if ('closeIdleConnections' in server) server.closeIdleConnections();
    for (const close of closers) await close();
    await Promise.race([closed, new Promise((r) => setTimeout(r, 5000).unref())]);
    await stopGc();
    await blobs.close();
    await database.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

/** Says why Coffer cannot start, in one line, and exits with 2 (a mistake in the set-up). */
function cannotStart(message: string): never {
  process.stderr.write(`Coffer cannot start: ${message}\n`);
  process.exit(2);
}

class StartupError extends Error {}

/** Runs one step of the start; when it fails, says which part of the set-up to look at and why. */
async function startStep<T>(explain: (why: string) => string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    throw new StartupError(explain(rootCause(err)));
  }
}

/** The innermost cause's message (a failed query wraps the driver's error), without query text. */
function rootCause(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  if (!(e instanceof Error)) return String(e);
  const code = (e as { code?: unknown }).code;
  // The S3 client names an error only when the answer had a body; a HEAD's 403 is "UnknownError".
  const status = (e as { $metadata?: { httpStatusCode?: unknown } }).$metadata?.httpStatusCode;
  const message = e.message.split('\n')[0]!.replace(/^Failed query:.*/, 'a query failed');
  if (typeof status === 'number') return `${message} (HTTP ${status})`;
  return typeof code === 'string' && !message.includes(code) ? `${message} (${code})` : message;
}

/** Where the database is, for the message: never the URL itself, which may hold a password. */
function databaseProblem(config: Config, why: string): string {
  if (!config.databaseUrl) {
    return `the embedded database in ${join(config.dataDir, 'db')} cannot be opened: ${why}` +
      (why.startsWith('another Coffer server') ? '; stop that one, or give this one its own COFFER_DATA_DIR' : '');
  }
  const url = new URL(config.databaseUrl);
  return `the PostgreSQL database "${decodeURIComponent(url.pathname.slice(1))}" at ${url.hostname}:${url.port || 5432} ` +
    `(DATABASE_URL) cannot be used (${why}): check that PostgreSQL runs there and the database exists`;
}

/** Which bucket where, for the message: never the credentials, nor anything in the endpoint's user part. */
function blobStoreProblem(s3: S3Config, why: string): string {
  let where = `in region ${s3.region}`;
  if (s3.endpoint) {
    const url = new URL(s3.endpoint);
    where = `at ${url.protocol}//${url.host}`;
  }
  const hint = /HTTP 40[13]\b/.test(why) ? 'check S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY and their rights on the bucket'
    : 'check S3_ENDPOINT, S3_REGION and that the store runs there';
  return `the S3 bucket "${s3.bucket}" ${where} (S3_*) cannot be used (${why}): ${hint}`;
}

main().catch((err) => {
  if (err instanceof StartupError) cannotStart(err.message);
  process.stderr.write(`Coffer failed to start: ${JSON.stringify(describeError(err))}\n`);
  process.exit(1);
});
