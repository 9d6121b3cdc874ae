#!/usr/bin/env node
// `npm test`: type-check every workspace and run every test project once.
// It ends with one plain line, "tests: N passed, N failed, N skipped", and names what was
// skipped on this machine (PostgreSQL or Chromium missing). Under CI nothing may be skipped:
// the global test setup fails the run instead.
//
// The work runs in two lanes side by side, so that both cores stay busy: the type-checks followed
// by the browser tests (the `web` project, one file at a time, each with its own Chromium and
// server) in one, every other project (one file at a time) in the other; the two took about as
// long as each other in CI. Vitest alone cannot schedule it that way: a project limited to one
// worker is run after all the others.
// Given arguments (`npm test -- --project server`), it runs that one vitest command instead.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const workDir = join(root, '.tmp');
mkdirSync(workDir, { recursive: true });
const environment = join(workDir, 'test-environment.json');
rmSync(environment, { force: true });

// Every tsconfig: each workspace's sources, and the ones covering tests, benchmarks and scripts.
const tsconfigs = ['crypto-core', 'crypto-core/test', 'server', 'desktop-agent', 'web', 'web/tsconfig.node.json', 'tests'];
const browserProjects = ['web'];
const otherProjects = ['crypto-core', 'server', 'desktop-agent', 'tests'];

/** Runs a command; its output goes out a whole line at a time, after `prefix`. Resolves to its exit status. */
function run(prefix, title, command, args) {
  const out = (text) => process.stdout.write(prefix ? text.replace(/^(?=.)/gm, prefix) : text);
  out(`\n== ${title}: ${[command, ...args].join(' ')}\n`);
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    for (const stream of [child.stdout, child.stderr]) {
      let pending = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => {
        const lines = (pending + chunk).split('\n');
        pending = lines.pop();
        if (lines.length > 0) out(lines.join('\n') + '\n');
      });
      stream.on('end', () => { if (pending) out(pending + '\n'); });
    }
    child.on('error', (err) => { out(`${command}: ${err.message}\n`); resolve(1); });
    child.on('close', (code) => resolve(code ?? 1));
  });
}

async function typecheck(prefix) {
  const failed = [];
  for (const p of tsconfigs) {
    if ((await run(prefix, `type-check ${p}`, 'npx', ['tsc', '-p', p, '--noEmit'])) !== 0) failed.push(p);
  }
  return failed;
}

/** One vitest run writing a JSON report; resolves to its status and counts. */
async function vitest(prefix, name, args) {
  const report = join(workDir, `vitest-report-${name}.json`);
  rmSync(report, { force: true });
  const status = await run(prefix, `tests (${name})`, 'npx', [
    'vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...args,
  ]);
  const counts = { passed: 0, failed: 0, skipped: 0 };
  if (existsSync(report)) {
    const r = JSON.parse(readFileSync(report, 'utf8'));
    counts.passed = r.numPassedTests ?? 0;
    counts.failed = r.numFailedTests ?? 0;
    counts.skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  }
  return { status, counts };
}

if (process.argv[2] === '--typecheck-only') {
  process.exit((await typecheck('')).length > 0 ? 1 : 0);
}

const extra = process.argv.slice(2);
let failedTypecheck = [];
let runs;
if (extra.length > 0) {
  failedTypecheck = await typecheck('');
  runs = [await vitest('', 'all', extra)];
} else {
  const project = (names) => names.flatMap((n) => ['--project', n]);
  runs = await Promise.all([
    (async () => {
      failedTypecheck = await typecheck('types   │ ');
      return vitest('browser │ ', 'browser', project(browserProjects));
    })(),
    vitest('other   │ ', 'other', project(otherProjects)),
  ]);
}

const counts = { passed: 0, failed: 0, skipped: 0 };
for (const r of runs) for (const k of Object.keys(counts)) counts[k] += r.counts[k];

console.log('');
if (existsSync(environment)) {
  const env = JSON.parse(readFileSync(environment, 'utf8'));
  if (env.skipped.length > 0) {
    console.log('Skipped on this machine (install these to run everything):');
    for (const s of env.skipped) console.log(`  - ${s}`);
  } else {
    console.log('Nothing skipped: PostgreSQL and Chromium were both available.');
  }
}
if (failedTypecheck.length > 0) console.log(`Type errors in: ${failedTypecheck.join(', ')}`);
console.log(`tests: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
process.exit(failedTypecheck.length > 0 || runs.some((r) => r.status !== 0) ? 1 : 0);
