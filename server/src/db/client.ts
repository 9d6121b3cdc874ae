// One drizzle handle type for both drivers: PGlite (embedded, the default) and PostgreSQL
// (postgres-js, with DATABASE_URL). Migrations from ../drizzle are applied when a database opens.
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { SQL } from 'drizzle-orm';
import { PgDialect, type PgDatabase, type PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { DB_ANSWER_TIMEOUT_MS, watchedSockets, type AnswerDeadline } from './answer-deadline.js';
import { openDurablePglite } from './pglite-durable.js';
import { preparedQueries, rawRows } from './pglite-prepared.js';

export type Db = PgDatabase<PgQueryResultHKT>;
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
/** Anything that runs queries: the database or an open transaction. */
export type Executor = Db | Tx;

export interface Database {
  db: Db;
  driver: 'pglite' | 'postgres';
  close(): Promise<void>;
}

export const MIGRATIONS_FOLDER = resolve(import.meta.dirname, '../../../drizzle');

export interface DatabaseOptions {
  /** PostgreSQL URL. Without it, PGlite. */
  url?: string;
  /** PGlite data directory; omitted = in memory. */
  pgliteDir?: string;
  /** postgres-js pool size. */
  maxConnections?: number;
  /**
   * PostgreSQL: how long a connection may owe an answer before it is ended and its queries fail
   * as DATABASE_UNAVAILABLE (answer-deadline.ts). PGlite runs in the process and cannot stall so.
   */
  answerTimeoutMs?: number;
}

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  if (options.url) {
    const deadline: AnswerDeadline = { ms: 0 }; // none while the migrations run: they take what they take
    // `socket` is a documented option its type declarations lack.
    const clientOptions: postgres.Options<{}> & { socket: ReturnType<typeof watchedSockets> } = {
      max: options.maxConnections ?? 10,
      onnotice: () => {},
      // No array types to learn (no query takes or returns a PostgreSQL array), and postgres.js
      // drops the promise of that first query of each connection: one cut off by the answer
      // deadline, or by a database going down at that moment, was an unhandled rejection, which
      // ends the process.
      fetch_types: false,
      socket: watchedSockets(deadline),
    };
    const client = postgres(options.url, clientOptions);
    const db = drizzlePostgres(client);
    try {
      await migratePostgres(db, { migrationsFolder: MIGRATIONS_FOLDER });
    } catch (err) {
      await client.end({ timeout: 1 });
      throw err;
    }
    deadline.ms = options.answerTimeoutMs ?? DB_ANSWER_TIMEOUT_MS;
    handles.set(db, { driver: 'postgres', client });
    return { db: db as unknown as Db, driver: 'postgres', close: () => client.end({ timeout: 5 }) };
  }
  if (options.pgliteDir) await mkdir(options.pgliteDir, { recursive: true });
  const client = options.pgliteDir ? await openDurablePglite(options.pgliteDir) : new PGlite();
  const db = drizzlePglite(preparedQueries(client));
  await migratePglite(db, { migrationsFolder: MIGRATIONS_FOLDER });
  handles.set(db, { driver: 'pglite', client });
  return { db: db as unknown as Db, driver: 'pglite', close: () => client.close() };
}

/** What openDatabase made each handle with (for the few queries each driver answers best in its own way). */
const handles = new WeakMap<object, { driver: 'pglite'; client: PGlite } | { driver: 'postgres'; client: postgres.Sql }>();

/** The driver behind a handle from openDatabase. */
export function driverOf(db: Db): Database['driver'] {
  const handle = handles.get(db);
  if (!handle) throw new Error('not a handle from openDatabase');
  return handle.driver;
}

const dialect = new PgDialect();

/**
 * Runs raw SQL outside any transaction and returns each row's columns as the bytes the database
 * wrote them (text format), never decoded into strings: for a result that goes out as it came in.
 */
export async function queryRawRows(db: Db, query: SQL): Promise<(Buffer | null)[][]> {
  const handle = handles.get(db);
  if (!handle) throw new Error('queryRawRows needs a handle from openDatabase');
  const { sql: text, params } = dialect.sqlToQuery(query);
  if (handle.driver === 'pglite') return rawRows(handle.client, text, params);
  // Prepared, as drizzle's queries are: each text is parsed and planned once per connection.
  return (await handle.client.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare: true }).raw()) as unknown as (Buffer | null)[][];
}

/** Runs raw SQL and returns its rows, whichever driver answers (PGlite: `{rows}`, postgres-js: an array). */
export async function queryRows<T>(ex: Executor, query: SQL): Promise<T[]> {
  const result = (await ex.execute(query)) as unknown;
  if (Array.isArray(result)) return result as T[];
  return ((result as { rows?: T[] }).rows ?? []) as T[];
}
