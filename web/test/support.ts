// Helpers for the browser tests: a real server, real Chromium (Debian's, never downloaded).
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, open, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { CHROMIUM_ARGS, chromiumPath } from '../../tests/support/env';
import { REPO_ROOT, startServer, type RunningServer } from '../../tests/support/server';

export const ARTIFACTS = resolve(REPO_ROOT, 'test-artifacts/web');

export async function startWebServer(env: Record<string, string> = {}): Promise<RunningServer> {
  const dist = process.env.COFFER_WEB_DIST;
  return startServer({ ...(dist ? { COFFER_WEB_DIST: dist } : {}), COFFER_RATE_LIMIT_ACCOUNT: '1000', COFFER_RATE_LIMIT_ADDRESS: '10000', ...env });
}

export async function launch(): Promise<Browser> {
  await mkdir(ARTIFACTS, { recursive: true });
  return chromium.launch({ executablePath: chromiumPath!, args: CHROMIUM_ARGS });
}

/** A context whose downloads go through the service worker (no native save dialog in headless runs). */
export async function newContext(browser: Browser, opts: { width?: number; dark?: boolean } = {}): Promise<BrowserContext> {
  const ctx = await browser.newContext({
    acceptDownloads: true,
    viewport: { width: opts.width ?? 1280, height: 800 },
    colorScheme: opts.dark ? 'dark' : 'light',
  });
  await ctx.addInitScript(() => {
    try { localStorage.setItem('coffer.download', 'sw'); } catch { /* opaque origins */ }
  });
  return ctx;
}

/** Collects console output so tests can assert that no secret was ever logged. */
export function watchConsole(page: Page, sink: string[]): void {
  page.on('console', (m) => sink.push(m.text()));
  page.on('pageerror', (e) => sink.push(`pageerror: ${e.message}`));
}

/** Deterministic pseudo-random bytes (seeded), so failures reproduce. */
export function seededBytes(seed: string, length: number): Buffer {
  const out = Buffer.alloc(length);
  let counter = 0;
  for (let off = 0; off < length; off += 32) {
    const block = createHash('sha256').update(`${seed}:${counter++}`).digest();
    block.copy(out, off, 0, Math.min(32, length - off));
  }
  return out;
}

export async function signup(page: Page, url: string, email: string, pass: string, shots?: string): Promise<string> {
  await page.goto(url + '/');
  await page.getByRole('button', { name: 'Create an account' }).click();
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Passphrase', { exact: true }).fill(pass);
  await page.getByLabel('Repeat passphrase').fill(pass);
  if (shots) await page.screenshot({ path: `${ARTIFACTS}/${shots}-signup.png` });
  await page.getByRole('button', { name: 'Create account' }).click();
  const code = (await page.getByTestId('recovery-code').textContent({ timeout: 60_000 }))!.trim();
  if (shots) await page.screenshot({ path: `${ARTIFACTS}/${shots}-recovery-code.png` });
  await page.getByLabel('I have saved my recovery code').check();
  await page.getByRole('button', { name: 'Continue to my vault' }).click();
  await page.getByTestId('vault').waitFor();
  return code;
}

export async function login(page: Page, url: string, email: string, pass: string): Promise<void> {
  await page.goto(url + '/');
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Passphrase').fill(pass);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByTestId('vault').waitFor({ timeout: 60_000 });
}

export interface BrowserSession {
  /** A temp folder for the files a test uploads or downloads. */
  dir: string;
  server: RunningServer;
  browser: Browser;
  ctx: BrowserContext;
  page: Page;
  /** The page's console output and errors (see watchConsole). */
  logs: string[];
}

/**
 * The set-up most browser test files share, as hooks of the calling describe block. Before all: a
 * temp folder, a server (`env` added to its environment), Chromium, a context and a page in it
 * whose console goes to `logs`; `before` then runs on the page (to route its requests, say), and
 * the page signs up if `signup` is given. After all, whatever was opened is closed, also when the
 * set-up failed half-way. The fields are filled in by the beforeAll hook, so a file reads them in
 * its own beforeAll, registered after this call (before-hooks run in the order they were defined).
 */
export function browserSession(opts: {
  tmpPrefix: string;
  env?: Record<string, string>;
  before?: (page: Page) => Promise<void>;
  signup?: { email: string; pass: string };
}): BrowserSession {
  const s: Partial<BrowserSession> & { logs: string[] } = { logs: [] };
  beforeAll(async () => {
    s.dir = await mkdtemp(join(tmpdir(), opts.tmpPrefix));
    s.server = await startWebServer(opts.env);
    s.browser = await launch();
    s.ctx = await newContext(s.browser);
    s.page = await s.ctx.newPage();
    watchConsole(s.page, s.logs);
    await opts.before?.(s.page);
    if (opts.signup) await signup(s.page, s.server.url, opts.signup.email, opts.signup.pass);
  });
  afterAll(async () => {
    await s.browser?.close();
    await s.server?.stop();
    if (s.dir) await rm(s.dir, { recursive: true, force: true });
  });
  return s as BrowserSession;
}

export function row(page: Page, name: string) {
  return page.locator(`.row[data-name="${name}"]`);
}

export async function rowAction(page: Page, name: string, action: string): Promise<void> {
  await page.getByRole('button', { name: `Actions for ${name}`, exact: true }).click();
  await page.getByRole('menuitem', { name: action, exact: true }).click();
}

/**
 * Flips one byte in the middle of every chunk blob of a server's folder store (under its data
 * dir), so that every download of them must fail its integrity check. Returns how many it changed.
 */
export async function tamperEveryBlob(dataDir: string): Promise<number> {
  const walk = async (d: string): Promise<string[]> => {
    const out: string[] = [];
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.isDirectory()) out.push(...(await walk(join(d, e.name))));
      else if (/^[0-9a-f]{64}$/.test(e.name)) out.push(join(d, e.name));
    }
    return out;
  };
  const blobs = await walk(dataDir);
  for (const f of blobs) {
    const fh = await open(f, 'r+');
    try {
      const { size } = await fh.stat();
      const buf = Buffer.alloc(1);
      await fh.read(buf, 0, 1, Math.floor(size / 2));
      buf[0]! ^= 0x01;
      await fh.write(buf, 0, 1, Math.floor(size / 2));
    } finally {
      await fh.close();
    }
  }
  return blobs.length;
}

/**
 * The element that has the keyboard, as a person would name it: its aria-label, else its text,
 * else `#id`; "<body>" when focus was lost to the page.
 */
export function focused(page: Page): Promise<string> {
  return page.evaluate(() => {
    const a = document.activeElement as HTMLElement | null;
    if (!a || a === document.body || !a.isConnected) return '<body>';
    return a.getAttribute('aria-label') ?? (a.textContent?.trim() || `#${a.id}`);
  });
}

/** Resolves after the page has drawn two more frames (what it does on the next frame has been done). */
export function frames(page: Page): Promise<void> {
  return page.evaluate(() => new Promise<void>((r) => requestAnimationFrame(() => requestAnimationFrame(() => r()))));
}
