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
import { ConfigError, loadConfig, type Config } from './config.js';
import type { AppContext } from './context.js';
import { openDatabase } from './db/client.js';
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
  await mkdir(config.dataDir, { recursive: true });
  const secret = await loadServerSecret(config.dataDir, config.serverSecret);

  const database = await openDatabase(config.databaseUrl ? { url: config.databaseUrl } : { pgliteDir: join(config.dataDir, 'db') });
  let store: BlobStore;
  if (config.s3) {
    const s3 = new S3BlobStore(config.s3);
    await s3.ensureBucket();
    store = s3;
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

main().catch((err) => {
  process.stderr.write(`Coffer failed to start: ${JSON.stringify(describeError(err))}\n`);
  process.exit(1);
});
