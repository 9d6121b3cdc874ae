// Runs once before all test projects. It finds the optional parts of the test environment
// (a PostgreSQL server, a Chromium binary), tells the test processes through environment
// variables, and says plainly which parts will be skipped. Under CI nothing may be skipped.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import postgres from 'postgres';

const DEFAULT_PG = 'postgres://postgres@127.0.0.1:5432/test';
const CHROMIUM_CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

async function probePostgres(url: string): Promise<string | null> {
  const sql = postgres(url, { max: 1, connect_timeout: 3, onnotice: () => {} });
  try {
    await sql`select 1`;
    return null;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}

export default async function setup(): Promise<void> {
  // Projects may list this setup too; the first run decides for all of them, so a part found
  // missing is not found again through the defaults.
  if (process.env.COFFER_TEST_ENV_PROBED) return;
  process.env.COFFER_TEST_ENV_PROBED = '1';
  const strict = Boolean(process.env.CI);
  const missing: string[] = [];

  const pgUrl = process.env.COFFER_TEST_DATABASE_URL ?? DEFAULT_PG;
  const pgError = await probePostgres(pgUrl);
  if (pgError === null) process.env.COFFER_TEST_DATABASE_URL = pgUrl;
  else {
    delete process.env.COFFER_TEST_DATABASE_URL;
    missing.push(`PostgreSQL tests (no server at ${new URL(pgUrl).host}: ${pgError}; set COFFER_TEST_DATABASE_URL)`);
  }

  const chromium = process.env.COFFER_TEST_CHROMIUM ?? CHROMIUM_CANDIDATES.find((p) => existsSync(p));
  if (chromium && existsSync(chromium)) process.env.COFFER_TEST_CHROMIUM = chromium;
  else {
    delete process.env.COFFER_TEST_CHROMIUM;
    missing.push('browser tests (no Chromium found; install it with `apt-get install -y chromium` or set COFFER_TEST_CHROMIUM)');
  }

  const workDir = join(import.meta.dirname, '../../.tmp');
  mkdirSync(workDir, { recursive: true });
  writeFileSync(join(workDir, 'test-environment.json'), JSON.stringify({ skipped: missing }));

  if (missing.length === 0) return;
  if (strict) {
    throw new Error(`CI must run every test, but these cannot run here:\n  - ${missing.join('\n  - ')}`);
  }
  console.warn(`\nSKIPPED on this machine:\n  - ${missing.join('\n  - ')}\n`);
}
