// What the global setup found about the optional parts of the test environment.
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';

/** URL of a reachable PostgreSQL server, or undefined when the PostgreSQL tests are skipped. */
export const postgresUrl: string | undefined = process.env.COFFER_TEST_DATABASE_URL;

/** Path of a Chromium binary, or undefined when the browser tests are skipped. */
export const chromiumPath: string | undefined = process.env.COFFER_TEST_CHROMIUM;

/** Why a suite is skipped, for `describe.skipIf(...)` titles. */
export const NO_POSTGRES = 'skipped: no PostgreSQL reachable (see the test summary)';
export const NO_CHROMIUM = 'skipped: no Chromium installed (see the test summary)';

/**
 * Creates an empty database of its own for one test file, so files run in parallel without
 * sharing state, and returns its URL with a function that drops it.
 */
export async function createTestDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  if (!postgresUrl) throw new Error('createTestDatabase needs PostgreSQL');
  const name = `coffer_test_${randomBytes(6).toString('hex')}`;
  const admin = postgres(postgresUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  const url = new URL(postgresUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const sql = postgres(postgresUrl, { max: 1, onnotice: () => {} });
      await sql.unsafe(`drop database if exists ${name} with (force)`);
      await sql.end();
    },
  };
}

/** Chromium flags that work in this sandbox (no network beyond loopback, running as root). */
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
