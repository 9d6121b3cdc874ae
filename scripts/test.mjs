#!/usr/bin/env node
// `npm test`: type-check every workspace, then run every test project once.
// It ends with one plain line, "tests: N passed, N failed, N skipped", and names what was
// skipped on this machine (PostgreSQL or Chromium missing). Under CI nothing may be skipped:
// the global test setup fails the run instead.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const workDir = join(root, '.tmp');
mkdirSync(workDir, { recursive: true });
const report = join(workDir, 'vitest-report.json');
const environment = join(workDir, 'test-environment.json');
rmSync(report, { force: true });
rmSync(environment, { force: true });

function run(title, command, args) {
  console.log(`\n== ${title}: ${[command, ...args].join(' ')}`);
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  return result.status ?? 1;
}

// Every tsconfig: each workspace's sources, and the ones covering tests, benchmarks and scripts.
const tsconfigs = ['crypto-core', 'crypto-core/test', 'server', 'desktop-agent', 'web', 'web/tsconfig.node.json', 'tests'];
const failedTypecheck = [];
for (const p of tsconfigs) {
  if (run(`type-check ${p}`, 'npx', ['tsc', '-p', p, '--noEmit']) !== 0) failedTypecheck.push(p);
}
if (process.argv[2] === '--typecheck-only') process.exit(failedTypecheck.length > 0 ? 1 : 0);

const extra = process.argv.slice(2);
const vitestStatus = run('tests', 'npx', [
  'vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...extra,
]);

let counts = { passed: 0, failed: 0, skipped: 0 };
if (existsSync(report)) {
  const r = JSON.parse(readFileSync(report, 'utf8'));
  counts = {
    passed: r.numPassedTests ?? 0,
    failed: r.numFailedTests ?? 0,
    skipped: (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0),
  };
}

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
process.exit(failedTypecheck.length > 0 || vitestStatus !== 0 ? 1 : 0);
