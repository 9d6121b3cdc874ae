// Web vault benchmark, in real Chromium against a real server (embedded default store):
// upload and download MB/s of a large file, peak memory, unlock time (Argon2id 64 MiB),
// the time to open a folder of 10,000 entries, and an upload resumed after a reload.
// Run: `npm run bench -- web` (size: COFFER_WEB_BENCH_MIB, default 1024).
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type CDPSession, type Page } from 'playwright-core';
import { build } from 'vite';
import {
  decodeKdfParams, derivePassphraseKeys, fromBase64Url, nameHash, newNode, nodeKeys, openSlot, openVault,
  sealMetadata, toBase64Url, unwrapNodeSecret, wrapNodeSecret,
} from '@coffer/crypto-core';
import { CHROMIUM_ARGS } from '../../tests/support/env';
import { PipeBrowser, PipePage } from './cdp';
import { startServer } from '../../tests/support/server';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

const typeOf = new Map<number, string>(); // pid → Chromium process type (cmdline read once)

/** The processes of a tree (a pid and all its descendants alive now) with their /proc/<pid>/stat fields. */
async function processTree(rootPid: number): Promise<{ pid: number; fields: string[] }[]> {
  const children = new Map<number, number[]>();
  const stats = new Map<number, string[]>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const st = await readFile(`/proc/${name}/stat`, 'utf8');
      const fields = st.slice(st.lastIndexOf(')') + 2).split(' ');
      stats.set(Number(name), fields);
      children.set(Number(fields[1]), [...(children.get(Number(fields[1])) ?? []), Number(name)]);
    } catch { /* gone */ }
  }
  const out: { pid: number; fields: string[] }[] = [];
  for (const stack = [rootPid]; stack.length > 0; ) {
    const pid = stack.pop()!;
    const fields = stats.get(pid);
    if (fields) out.push({ pid, fields });
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** The Chromium process type of `pid` (browser, renderer, gpu-process, network, ...), read once. */
async function typeOfPid(pid: number): Promise<string> {
  let type = typeOf.get(pid);
  if (type === undefined) {
    type = 'browser';
    try {
      const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8');
      const m = /--type=([a-z-]+)/.exec(cmd);
      if (m) type = m[1] === 'utility' ? (/NetworkService/.test(cmd) ? 'network' : 'utility') : m[1]!;
      typeOf.set(pid, type);
    } catch { /* gone */ }
  }
  return type;
}

/** Resident memory of a process and all its descendants (Linux /proc), in bytes, by Chromium process type. */
async function treeRss(rootPid: number): Promise<Record<string, number>> {
  const out: Record<string, number> = { total: 0 };
  for (const { pid, fields } of await processTree(rootPid)) {
    const r = Number(fields[21]) * 4096;
    const type = await typeOfPid(pid);
    out[type] = (out[type] ?? 0) + r;
    out.total! += r;
  }
  return out;
}

/**
 * User + system CPU seconds (clock ticks: 100 Hz) and minor page faults of a process and all its
 * descendants alive now, with the CPU seconds by Chromium process type. Faults matter on VMs where
 * a fresh page costs ~13 µs (docs/benchmarks.md).
 */
async function treeCounters(rootPid: number): Promise<{ cpu: number; faults: number; byType: Record<string, number> }> {
  let ticks = 0;
  let faults = 0;
  const byType: Record<string, number> = {};
  for (const { pid, fields } of await processTree(rootPid)) {
    const t = Number(fields[11]) + Number(fields[12]);
    ticks += t;
    faults += Number(fields[7]);
    const type = await typeOfPid(pid);
    byType[type] = (byType[type] ?? 0) + t / 100;
  }
  return { cpu: ticks / 100, faults, byType };
}

/** "renderer 9.1, browser 3.2, ...": CPU seconds per GiB by process type between two readings. */
function cpuByType(a: Record<string, number>, b: Record<string, number>, gib: number): string {
  return Object.entries(b)
    .map(([type, v]) => [type, (v - (a[type] ?? 0)) / gib] as const)
    .filter(([, v]) => v >= 0.05)
    .sort((x, y) => y[1] - x[1])
    .map(([type, v]) => `${type} ${v.toFixed(1)}`)
    .join(', ');
}

async function findPid(marker: string): Promise<number | null> {
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if ((await readFile(`/proc/${name}/cmdline`, 'utf8')).includes(marker)) return Number(name);
    } catch { /* gone */ }
  }
  return null;
}

async function writeRandomFile(path: string, bytes: number): Promise<string> {
  const hash = createHash('sha256');
  const out = createWriteStream(path);
  const block = 4 * 1024 * 1024;
  for (let off = 0; off < bytes; off += block) {
    const b = randomBytes(Math.min(block, bytes - off));
    hash.update(b);
    if (!out.write(b)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((r, j) => out.end((e?: Error | null) => (e ? j(e) : r())));
  return hash.digest('hex');
}

async function sha256File(path: string): Promise<string> {
  const { createReadStream } = await import('node:fs');
  const h = createHash('sha256');
  for await (const c of createReadStream(path)) h.update(c as Buffer);
  return h.digest('hex');
}

/** Creates `count` folders under the root with crypto-core in Node (a CLI session), for the list test. */
async function seedFolder(url: string, email: string, pass: string, name: string, count: number): Promise<void> {
  const post = async <T>(path: string, body: unknown, token?: string): Promise<T> => {
    const res = await fetch(url + path, {
      method: 'POST', body: JSON.stringify(body),
      headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    });
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
  const pre = await post<{ kdf: string }>('/api/auth/prelogin', { email });
  const { loginKey, passKek } = await derivePassphraseKeys(pass, decodeKdfParams(pre.kdf));
  const { token } = await post<{ token: string }>('/api/auth/login', { email, loginKey: toBase64Url(loginKey), client: 'cli' });
  const acct = (await (await fetch(url + '/api/account', { headers: { Authorization: `Bearer ${token}` } })).json()) as {
    accountId: string; rootNodeId: string; slots: { passphrase: string };
  };
  const vault = await openVault(acct.accountId, await openSlot(acct.accountId, 'passphrase', passKek, fromBase64Url(acct.slots.passphrase)));
  const rootNode = (await (await fetch(`${url}/api/nodes/${acct.rootNodeId}`, { headers: { Authorization: `Bearer ${token}` } })).json()) as { wrappedKey: string };
  const root = await nodeKeys(acct.rootNodeId, await unwrapNodeSecret(fromBase64Url(rootNode.wrappedKey), acct.rootNodeId, null, vault));
  const makeNode = async (parent: typeof root, n: string, kind: 'folder' | 'file') => {
    const nn = newNode();
    const keys = await nodeKeys(nn.nodeId, nn.secret);
    await post('/api/nodes', {
      id: nn.nodeId, parentId: parent.nodeId, kind, nameHash: await nameHash(parent, n),
      wrappedKey: toBase64Url(await wrapNodeSecret(nn.secret, nn.nodeId, parent, vault)),
      metadata: toBase64Url(await sealMetadata(keys, { name: n, mime: kind === 'file' ? 'text/plain' : '', size: 0, mtime: Date.now() })),
    }, token);
    return keys;
  };
  const big = await makeNode(root, name, 'folder');
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      await makeNode(big, `entry-${String(i).padStart(5, '0')}.txt`, 'file');
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

/** Upload then download of `file` in the Playwright page (network inspection on). */
async function playwrightTransfers(page: Page, cdp: CDPSession, browserPid: number | null, file: string, digest: string,
  sizeMiB: number, figures: Record<string, number | string>): Promise<void> {
    // Peak memory sampler: page JS heap (CDP), worker JS heap (performance.memory if exposed), browser RSS.
    let peakPageHeap = 0;
    let peakWorkerHeap = 0;
    let peakRss: Record<string, number> = {};
    let phase = 'upload';
    const peaks: Record<string, Record<string, number>> = {};
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        try {
          const h = (await cdp.send('Runtime.getHeapUsage')) as { usedSize: number };
          peakPageHeap = Math.max(peakPageHeap, h.usedSize);
          for (const w of page.workers()) {
            const used = await w.evaluate(() => (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize ?? 0).catch(() => 0);
            peakWorkerHeap = Math.max(peakWorkerHeap, used);
          }
          if (browserPid) {
            const now = await treeRss(browserPid);
            const pk = (peaks[phase] ??= {});
            for (const [k, v] of Object.entries(now)) pk[k] = Math.max(pk[k] ?? 0, v);
            peakRss = pk;
          }
        } catch { /* page busy or closing */ }
        await new Promise((r) => setTimeout(r, 250));
      }
    })();

    // Upload.
    let t0 = performance.now();
    await page.locator('#upload-files').setInputFiles(file);
    await page.locator('[data-upload="large.bin"][data-phase="done"]').waitFor({ timeout: 3_600_000 });
    const upS = (performance.now() - t0) / 1000;
    figures['upload MB/s (chunk + encrypt + check + send)'] = (sizeMiB * 2 ** 20) / 1e6 / upS;
    figures['upload seconds'] = upS;

    // Download (service worker stream to disk).
    phase = 'download';
    t0 = performance.now();
    const [dl] = await Promise.all([
      page.waitForEvent('download', { timeout: 3_600_000 }),
      (async () => {
        await page.getByRole('button', { name: 'Actions for large.bin', exact: true }).click();
        await page.getByRole('menuitem', { name: 'Download', exact: true }).click();
      })(),
    ]);
    const saved = await dl.path();
    const downS = (performance.now() - t0) / 1000;
    figures['download MB/s (fetch + decrypt + stream to disk)'] = (sizeMiB * 2 ** 20) / 1e6 / downS;
    figures['download seconds'] = downS;
    figures['download bytes match'] = (await stat(saved)).size === sizeMiB * 2 ** 20 && (await sha256File(saved)) === digest ? 'yes' : 'NO';
    sampling = false;
    await sampler;
    figures['peak page JS heap MiB (CDP Runtime.getHeapUsage)'] = peakPageHeap / 2 ** 20;
    figures['peak worker JS heap MiB (performance.memory)'] = peakWorkerHeap ? peakWorkerHeap / 2 ** 20 : 'n/a';
    void peakRss;
    for (const [ph, pk] of Object.entries(peaks)) {
      for (const [type, v] of Object.entries(pk)) figures[`peak Chromium RSS MiB during ${ph}: ${type}`] = v / 2 ** 20;
    }
    await dl.delete();

}

/** Opens the vault's login page and logs in; resolves when `ready` (a page expression) is truthy. */
async function pipeLogIn(page: PipePage, url: string, email: string, pass: string, ready: string): Promise<void> {
  await page.goto(url + '/');
  await page.until(`document.querySelector('#login-email')`, 30_000);
  await page.fill('#login-email', email);
  await page.fill('#login-pass', pass);
  await page.click(`document.querySelector('form[aria-labelledby="login-title"] button[type=submit]')`);
  await page.until(ready, 60_000);
}

/**
 * Upload then download of `file` in a second Chromium driven over a CDP pipe without the Network
 * domain. `serverCpu` reads the server's CPU seconds, to report its share per GiB.
 */
async function pipeTransfers(chromiumPath: string, url: string, email: string, pass: string, work: string, file: string,
  digest: string, sizeMiB: number, figures: Record<string, number | string>, serverCpu: () => number | null): Promise<void> {
  const profile = await mkdtemp(join(work, 'profile-'));
  const downloads = await mkdtemp(join(work, 'downloads-'));
  const b = new PipeBrowser(chromiumPath, [...CHROMIUM_ARGS, `--user-data-dir=${profile}`, '--window-size=1280,900']);
  try {
    const page = await PipePage.open(b, `localStorage.setItem('coffer.download', 'sw')`);
    await b.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads, eventsEnabled: true });
    await pipeLogIn(page, url, email, pass, `document.querySelector('[data-testid="vault"]')`);

    let phase = 'upload';
    let peakPage = 0;
    let peakWorker = 0;
    const peaks: Record<string, Record<string, number>> = {};
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        try {
          const h = await page.heapUsed();
          peakPage = Math.max(peakPage, h.page);
          peakWorker = Math.max(peakWorker, h.worker);
          if (b.proc.pid) {
            const now = await treeRss(b.proc.pid);
            const pk = (peaks[phase] ??= {});
            for (const [k, v] of Object.entries(now)) pk[k] = Math.max(pk[k] ?? 0, v);
          }
        } catch { /* busy or closing */ }
        // Once a second: the sampler (CDP heap queries, /proc reads) costs CPU the transfer shares.
        await new Promise((r) => setTimeout(r, 1000));
      }
    })();

    // COFFER_WEB_BENCH_PROFILE=<dir>: CPU profiles of the page and the workers during the upload and the download.
    const profileDir = process.env.COFFER_WEB_BENCH_PROFILE;
    const profiled = profileDir ? [page.sessionId, ...page.workerSessions] : [];
    for (const s of profiled) {
      await b.send('Profiler.enable', {}, s);
      await b.send('Profiler.start', {}, s);
    }
    const gib = (sizeMiB * 2 ** 20) / 2 ** 30;
    const chromiumCpu = async () => (b.proc.pid ? treeCounters(b.proc.pid) : null);
    let cpu0 = serverCpu();
    let chr0 = await chromiumCpu();
    let t0 = performance.now();
    await page.setInputFiles('#upload-files', [file]);
    await page.until(`document.querySelector('[data-upload="large.bin"][data-phase="done"]')`, 3_600_000, 20);
    const upS = (performance.now() - t0) / 1000;
    for (const [i, s] of profiled.entries()) {
      const { profile } = await b.send<{ profile: unknown }>('Profiler.stop', {}, s);
      await writeFile(join(profileDir!, `upload-${i === 0 ? 'page' : `worker${i}`}.cpuprofile`), JSON.stringify(profile));
    }
    figures['upload MB/s (chunk + encrypt + check + send)'] = (sizeMiB * 2 ** 20) / 1e6 / upS;
    figures['upload seconds'] = upS;
    let cpu1 = serverCpu();
    let chr1 = await chromiumCpu();
    if (cpu0 !== null && cpu1 !== null) figures['upload: server CPU-s per GiB'] = (cpu1 - cpu0) / gib;
    if (chr0 !== null && chr1 !== null) {
      figures['upload: Chromium CPU-s per GiB (all processes)'] = (chr1.cpu - chr0.cpu) / gib;
      figures['upload: Chromium minor page faults per GiB (thousands)'] = (chr1.faults - chr0.faults) / gib / 1000;
      figures['upload: Chromium CPU-s per GiB by process'] = cpuByType(chr0.byType, chr1.byType, gib);
    }

    phase = 'download';
    await page.until(`document.querySelector('[aria-label="Actions for large.bin"]')`, 30_000);
    const done = b.waitFor((m) => m.method === 'Browser.downloadProgress' && ['completed', 'canceled'].includes((m.params as { state: string }).state), 3_600_000);
    for (const s of profiled) await b.send('Profiler.start', {}, s);
    t0 = performance.now();
    cpu0 = serverCpu();
    chr0 = await chromiumCpu();
    await page.click(`document.querySelector('[aria-label="Actions for large.bin"]')`);
    await page.until(`[...document.querySelectorAll('[role=menuitem]')].find((e) => e.textContent.trim() === 'Download')`, 30_000);
    await page.click(`[...document.querySelectorAll('[role=menuitem]')].find((e) => e.textContent.trim() === 'Download')`);
    const end = await done;
    const downS = (performance.now() - t0) / 1000;
    cpu1 = serverCpu();
    chr1 = await chromiumCpu();
    if (cpu0 !== null && cpu1 !== null) figures['download: server CPU-s per GiB'] = (cpu1 - cpu0) / gib;
    for (const [i, s] of profiled.entries()) {
      const { profile } = await b.send<{ profile: unknown }>('Profiler.stop', {}, s);
      await writeFile(join(profileDir!, `download-${i === 0 ? 'page' : `worker${i}`}.cpuprofile`), JSON.stringify(profile));
    }
    if (chr0 !== null && chr1 !== null) {
      figures['download: Chromium CPU-s per GiB (all processes)'] = (chr1.cpu - chr0.cpu) / gib;
      figures['download: Chromium minor page faults per GiB (thousands)'] = (chr1.faults - chr0.faults) / gib / 1000;
      figures['download: Chromium CPU-s per GiB by process'] = cpuByType(chr0.byType, chr1.byType, gib);
    }
    figures['download MB/s (fetch + decrypt + stream to disk)'] = (sizeMiB * 2 ** 20) / 1e6 / downS;
    figures['download seconds'] = downS;
    const names = (await readdir(downloads)).filter((n) => !n.endsWith('.crdownload'));
    const saved = names.length === 1 ? join(downloads, names[0]!) : null;
    figures['download bytes match'] = (end.params as { state: string }).state === 'completed' && saved
      && (await stat(saved)).size === sizeMiB * 2 ** 20 && (await sha256File(saved)) === digest ? 'yes' : 'NO';
    sampling = false;
    await sampler;
    figures['peak page JS heap MiB (CDP Runtime.getHeapUsage)'] = peakPage / 2 ** 20;
    figures['peak worker JS heap MiB (CDP Runtime.getHeapUsage)'] = peakWorker / 2 ** 20;
    for (const [ph, pk] of Object.entries(peaks)) {
      for (const [type, v] of Object.entries(pk)) figures[`peak Chromium RSS MiB during ${ph}: ${type}`] = v / 2 ** 20;
    }
  } finally {
    await b.close();
  }
}

/**
 * Clicks `click` (a selector) in the page and resolves with the ms until `until` (a selector, or
 * `{ selector, text }` for an element whose text includes `text`) is in the DOM and one frame has
 * been drawn, timed in the page with a MutationObserver. Playwright's waitFor polls at growing
 * intervals (up to 500 ms apart), which rounded the old figures up by as much as half a second.
 */
async function timeClick(page: Page, click: string, until: string | { selector: string; text: string }, timeoutMs = 120_000): Promise<number> {
  const sel = typeof until === 'string' ? until : until.selector;
  const text = typeof until === 'string' ? null : until.text;
  // A string, not a function: tsx would wrap named inner functions in a __name() the page lacks.
  return page.evaluate(`new Promise((resolve, reject) => {
    const sel = ${JSON.stringify(sel)}, text = ${JSON.stringify(text)};
    const found = () => [...document.querySelectorAll(sel)].some((e) => text === null || (e.textContent || '').includes(text));
    const t0 = performance.now();
    let mo, timer;
    const done = () => { mo.disconnect(); clearTimeout(timer); requestAnimationFrame(() => resolve(performance.now() - t0)); };
    mo = new MutationObserver(() => { if (found()) done(); });
    timer = setTimeout(() => { mo.disconnect(); reject(new Error('timed out waiting for ' + sel)); }, ${timeoutMs});
    mo.observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
    document.querySelector(${JSON.stringify(click)}).click();
    if (found()) done();
  })`);
}

/**
 * Opens the seeded 10,000-entry folder `runs` times, each from a fresh worker (lock, unlock: no
 * name held in memory), in a Chromium driven over the CDP pipe (no Network domain on page or
 * worker, as a user's browser). `cache`: 'cold' deletes the sealed listing cache before each open,
 * so every child is opened; 'warm' keeps it (the first open fills it). Timed in the page as in
 * runWebBench. With COFFER_WEB_BENCH_PROFILE=<dir>, CPU profiles of the page and the workers
 * during the last open.
 */
async function pipeFolderOpens(chromiumPath: string, url: string, email: string, pass: string, work: string, entries: number,
  runs: number, serverCpu: () => number | null, cache: 'cold' | 'warm'): Promise<{ first: number; all: number; chromiumCpu: number; serverCpu: number }[]> {
  const profile = await mkdtemp(join(work, 'profile-'));
  const b = new PipeBrowser(chromiumPath, [...CHROMIUM_ARGS, `--user-data-dir=${profile}`, '--window-size=1280,900']);
  const out: { first: number; all: number; chromiumCpu: number; serverCpu: number }[] = [];
  try {
    const page = await PipePage.open(b, '');
    await pipeLogIn(page, url, email, pass, `document.querySelector('.row[data-name="many"]')`);
    // 'warm': one open first, not counted, fills this browser profile's cache.
    const start = cache === 'warm' ? -1 : 0;
    for (let r = start; r < runs; r++) {
      if (r > start) {
        await page.click(`[...document.querySelectorAll('header button')].find((e) => e.textContent.trim() === 'Lock')`);
        await page.until(`document.querySelector('#unlock-pass')`, 30_000);
        await page.fill('#unlock-pass', pass);
        await page.click(`document.querySelector('form[aria-labelledby="unlock-title"] button[type=submit]')`);
        await page.until(`document.querySelector('.row[data-name="many"]')`, 60_000);
      }
      if (cache === 'cold') {
        await page.eval(`new Promise((resolve) => { const q = indexedDB.deleteDatabase('coffer-cache'); q.onsuccess = q.onerror = () => resolve(0); })`);
      }
      await new Promise((res) => setTimeout(res, 500)); // let unlock's work settle
      const profileDir = process.env.COFFER_WEB_BENCH_PROFILE;
      const profiled = profileDir && r === runs - 1 ? [page.sessionId, ...page.workerSessions] : [];
      for (const s of profiled) {
        await b.send('Profiler.enable', {}, s);
        await b.send('Profiler.start', {}, s);
      }
      const cpu0 = [(await treeCounters(b.proc.pid!)).cpu, serverCpu() ?? 0];
      const times = await page.eval<{ first: number; all: number }>(openFolderScript(entries));
      if (r >= 0) out.push({ ...times, chromiumCpu: (await treeCounters(b.proc.pid!)).cpu - cpu0[0]!, serverCpu: (serverCpu() ?? 0) - cpu0[1]! });
      // The cache is written after the listing; locking at once would end the worker before that.
      if (cache === 'warm') await new Promise((res) => setTimeout(res, 1000));
      for (const [i, s] of profiled.entries()) {
        const { profile: p } = await b.send<{ profile: unknown }>('Profiler.stop', {}, s);
        await writeFile(join(profileDir!, `list-${cache}-${i === 0 ? 'page' : `worker${i}`}.cpuprofile`), JSON.stringify(p));
      }
    }
  } finally {
    await b.close();
  }
  return out;
}

/** In-page: clicks the "many" folder; first entry row in the DOM, then the status line with every name. */
function openFolderScript(entries: number): string {
  return `new Promise((resolve) => {
      const want = ${JSON.stringify(`${entries} items`)};
      const t0 = performance.now();
      let first = 0, mo;
      const check = () => {
        if (!first && document.querySelector('.row[data-name^="entry-"]')) first = performance.now() - t0;
        if (first && (document.querySelector('[data-testid="status"]')?.textContent || '').includes(want)) {
          mo.disconnect();
          requestAnimationFrame(() => resolve({ first, all: performance.now() - t0 }));
        }
      };
      mo = new MutationObserver(check);
      mo.observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
      document.querySelector('.row[data-name="many"] button.name').click();
    })`;
}

/**
 * Unlock (Argon2id m = 64 MiB, t = 3, p = 1 in the worker, open the slot, decrypt the root listing),
 * `runs` times submitted at once and `runs` times 1 s after the form appears, as typing a
 * passphrase takes at least that: what the worker prepares while the user types is ready then.
 */
async function unlockFigures(page: Page, pass: string, until: string, runs: number, figures: Record<string, number | string>): Promise<void> {
  for (const waitMs of [0, 1000]) {
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      await page.getByRole('button', { name: 'Lock' }).click();
      await page.getByLabel('Passphrase').fill(pass);
      await new Promise((r) => setTimeout(r, waitMs));
      times.push(await timeClick(page, 'form[aria-labelledby="unlock-title"] button[type=submit]', until));
      await new Promise((r) => setTimeout(r, 500)); // let the vault's first screen settle
    }
    figures[waitMs === 0 ? 'unlock ms (Argon2id 64 MiB + slot + root list), median (runs)' : 'unlock ms, submitted 1 s after the form appears, median (runs)'] = range(times);
  }
}

/**
 * An upload of half the bench's size, paused once about half of it is through and cut off there by
 * a reload, then picked again: seconds from the pick to done, once with the chunks the first
 * attempt recorded (the worker's journal) and once with that journal deleted, as every resume was
 * before it. Each with its own file, so neither finds the other's chunks on the server. In the
 * pipe browser, as the transfers: Playwright's network inspection would slow the sending.
 */
async function resumeFigures(chromiumPath: string, url: string, email: string, pass: string, work: string, sizeMiB: number,
  figures: Record<string, number | string>): Promise<void> {
  const mib = Math.max(8, Math.round(sizeMiB / 2));
  const profile = await mkdtemp(join(work, 'profile-'));
  const b = new PipeBrowser(chromiumPath, [...CHROMIUM_ARGS, `--user-data-dir=${profile}`, '--window-size=1280,900']);
  try {
    const page = await PipePage.open(b, '');
    await pipeLogIn(page, url, email, pass, `document.querySelector('[data-testid="vault"]')`);
    for (const journal of [true, false]) {
      const name = journal ? 'resume-journal.bin' : 'resume-none.bin';
      const task = `document.querySelector('[data-upload="${name}"]')`;
      const file = join(work, name);
      await writeRandomFile(file, mib * 2 ** 20);
      await page.setInputFiles('#upload-files', [file]);
      await page.until(`Number(${task}?.querySelector('progress')?.value ?? 0) >= ${(mib * 2 ** 20) / 2}`, 600_000, 20);
      await page.click(`${task}.querySelector('button[aria-label^="Pause"]')`);
      await page.until(`${task}.dataset.phase === 'paused'`, 60_000);
      await new Promise((r) => setTimeout(r, 2000)); // the batches under way land and are recorded
      await page.goto(url + '/');
      await page.until(`document.querySelector('#unlock-pass')`, 30_000);
      await page.fill('#unlock-pass', pass);
      await page.click(`document.querySelector('form[aria-labelledby="unlock-title"] button[type=submit]')`);
      await page.until(`document.querySelector('[data-interrupted="${name}"]')`, 60_000);
      if (!journal) await page.eval(`new Promise((r) => { indexedDB.deleteDatabase('coffer-upload-chunks').onsuccess = r; })`);
      const t0 = performance.now();
      await page.setInputFiles('#upload-files', [file]);
      await page.until(`document.querySelector('[data-upload="${name}"][data-phase="done"]')`, 3_600_000, 20);
      const seconds = (performance.now() - t0) / 1000;
      let kept = NaN;
      for (const s of page.workerSessions) {
        const r = await b.send<{ result: { value?: unknown } }>('Runtime.evaluate', { expression: 'self.resumedBytes', returnByValue: true }, s).catch(() => null);
        if (typeof r?.result.value === 'number') kept = r.result.value;
      }
      const how = journal ? 'with its journal' : 'journal deleted';
      figures[`${mib} MiB upload resumed after a reload, ${how}: seconds to done`] = seconds;
      figures[`${mib} MiB upload resumed after a reload, ${how}: share taken from the journal`] = `${((kept / (mib * 2 ** 20)) * 100).toFixed(1)} %`;
      await rm(file, { force: true });
    }
  } finally {
    await b.close();
  }
}

const range = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return `${s[Math.floor((s.length - 1) / 2)]!.toFixed(0)} (${s.map((x) => x.toFixed(0)).join(', ')})`;
};

export async function runWebBench(opts: { sizeMiB?: number; entries?: number } = {}): Promise<Record<string, number | string>> {
  const sizeMiB = opts.sizeMiB ?? Number(process.env.COFFER_WEB_BENCH_MIB || 1024);
  const entries = opts.entries ?? 10_000;
  const chromiumPath = process.env.COFFER_TEST_CHROMIUM ?? CANDIDATES.find((p) => existsSync(p));
  if (!chromiumPath) throw new Error('no Chromium: apt-get install -y chromium or set COFFER_TEST_CHROMIUM');

  const work = await mkdtemp(join(tmpdir(), 'coffer-web-bench-'));
  const dist = join(work, 'dist');
  const webRoot = resolve(import.meta.dirname, '..');
  await build({ root: webRoot, configFile: join(webRoot, 'vite.config.ts'), logLevel: 'error', build: { outDir: dist, emptyOutDir: true, minify: !process.env.COFFER_WEB_BENCH_NO_MINIFY } });
  const server = await startServer({ COFFER_WEB_DIST: dist, COFFER_QUOTA_BYTES: String(64 * 2 ** 30), COFFER_RATE_LIMIT_ACCOUNT: '1000' });
  const marker = `--coffer-bench=${randomBytes(6).toString('hex')}`;
  const browser = await chromium.launch({ executablePath: chromiumPath, args: [...CHROMIUM_ARGS, marker] });
  const figures: Record<string, number | string> = { 'file size (MiB)': sizeMiB, 'chromium': chromiumPath };
  try {
    const ctx = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
    await ctx.addInitScript(() => localStorage.setItem('coffer.download', 'sw'));
    const page: Page = await ctx.newPage();
    const cdp = await ctx.newCDPSession(page);
    const browserPid = await findPid(marker);

    const email = 'bench@example.test';
    const pass = 'bench passphrase with several words 42';
    await page.goto(server.url + '/');
    await page.getByRole('button', { name: 'Create an account' }).click();
    await page.getByLabel('E-mail').fill(email);
    await page.getByLabel('Passphrase', { exact: true }).fill(pass);
    await page.getByLabel('Repeat passphrase').fill(pass);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByLabel('I have saved my recovery code').check({ timeout: 60_000 });
    await page.getByRole('button', { name: 'Continue to my vault' }).click();
    await page.getByTestId('vault').waitFor();

    if (process.env.COFFER_WEB_BENCH_UNLOCK_ONLY) {
      await seedFolder(server.url, email, pass, 'marker', 1); // a row of the root listing to wait for
      await unlockFigures(page, pass, '.row[data-name="marker"]', 5, figures);
      return figures;
    }

    if (process.env.COFFER_WEB_BENCH_RESUME_ONLY) {
      await resumeFigures(chromiumPath, server.url, email, pass, work, sizeMiB, figures);
      return figures;
    }

    if (process.env.COFFER_WEB_BENCH_LIST_ONLY) {
      // Only the 10,000-entry folder in the pipe browser: COFFER_WEB_BENCH_LIST_RUNS opens (default
      // 5) without the listing cache, then as many with it.
      await seedFolder(server.url, email, pass, 'many', entries);
      const n = Number(process.env.COFFER_WEB_BENCH_LIST_RUNS || 5);
      for (const cache of ['cold', 'warm'] as const) {
        const runs = await pipeFolderOpens(chromiumPath, server.url, email, pass, work, entries, n, server.cpuSeconds, cache);
        const how = cache === 'cold' ? 'no listing cache' : 'from the listing cache';
        figures[`${entries}-entry folder, ${how}: first rows ms, median (runs)`] = range(runs.map((r) => r.first));
        figures[`${entries}-entry folder, ${how}: all names ms, median (runs)`] = range(runs.map((r) => r.all));
        figures[`${entries}-entry folder, ${how}: Chromium CPU-ms per open, median (runs)`] = range(runs.map((r) => r.chromiumCpu * 1000));
        figures[`${entries}-entry folder, ${how}: server CPU-ms per open, median (runs)`] = range(runs.map((r) => r.serverCpu * 1000));
      }
      return figures;
    }

    const file = join(work, 'large.bin');
    const digest = await writeRandomFile(file, sizeMiB * 2 ** 20);
    if (process.env.COFFER_WEB_BENCH_PLAYWRIGHT) {
      // The old way, for comparison only: transfers under Playwright's network inspection (see cdp.ts).
      figures['transfers driven by'] = 'Playwright (network inspection on: measures the harness)';
      await playwrightTransfers(page, cdp, browserPid, file, digest, sizeMiB, figures);
    } else {
      figures['transfers driven by'] = 'CDP pipe, no Network domain (as a user\'s browser)';
      await pipeTransfers(chromiumPath, server.url, email, pass, work, file, digest, sizeMiB, figures, server.cpuSeconds);
    }
    await rm(file, { force: true });

    if (process.env.COFFER_WEB_BENCH_TRANSFER_ONLY) return figures;

    await unlockFigures(page, pass, '.row[data-name="large.bin"]', 3, figures);
    await resumeFigures(chromiumPath, server.url, email, pass, work, sizeMiB, figures);

    // A folder of 10,000 entries, made from Node with crypto-core.
    await seedFolder(server.url, email, pass, 'many', entries);
    await page.reload();
    await page.getByLabel('Passphrase').fill(pass);
    await page.getByRole('button', { name: 'Unlock' }).click();
    await page.locator('.row[data-name="many"]').waitFor({ timeout: 60_000 });
    // Both figures from one click: first rows, then the status line once every name is in.
    const opening = page.evaluate<{ first: number; all: number }>(openFolderScript(entries));
    const opened = await opening;
    figures[`${entries}-entry folder: first rows shown ms`] = opened.first;
    figures[`${entries}-entry folder: all names decrypted + rendered ms`] = opened.all;
    // re-sort descending: a full re-render
    figures[`${entries}-entry folder: re-sort + render ms`] = await timeClick(page, '.head [role=columnheader] button',
      `.row[data-name="entry-${String(entries - 1).padStart(5, '0')}.txt"]`);
    figures[`${entries}-entry folder: rows in DOM`] = await page.locator('.row').count();
    await page.getByRole('navigation', { name: 'Folder path' }).getByRole('button', { name: 'My files' }).click();
    await page.locator('.row[data-name="many"]').waitFor();
    figures[`${entries}-entry folder: re-open (names cached in the worker) ms`] = await timeClick(page, '.row[data-name="many"] button.name',
      { selector: '[data-testid="status"]', text: `${entries} items` });
    // Locked and unlocked: a new worker, the children from the sealed listing cache.
    await page.getByRole('button', { name: 'Lock' }).click();
    await page.getByLabel('Passphrase').fill(pass);
    await page.getByRole('button', { name: 'Unlock' }).click();
    await page.locator('.row[data-name="many"]').waitFor({ timeout: 60_000 });
    figures[`${entries}-entry folder: open after lock + unlock (sealed listing cache) ms`] = await timeClick(page, '.row[data-name="many"] button.name',
      { selector: '[data-testid="status"]', text: `${entries} items` });
  } finally {
    await browser.close();
    await server.stop();
    await rm(work, { recursive: true, force: true });
  }
  return figures;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const figures = await runWebBench();
  for (const [k, v] of Object.entries(figures)) console.log(`${k.padEnd(56)} ${typeof v === 'number' ? v.toFixed(2) : v}`);
}
