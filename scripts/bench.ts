// `npm run bench`: runs every benchmark module and prints its figures, with the machine they came
// from. Figures go into docs/benchmarks.md by hand, with the date of the run.
// Pick parts with `npm run bench -- crypto server` (default: all).
import { cpus, loadavg, totalmem } from 'node:os';

type Figures = Record<string, number | string>;
const parts: Record<string, () => Promise<Figures>> = {
  crypto: async () => (await import('../crypto-core/bench/crypto.ts')).runCryptoBench({ sizeMiB: 1024 }),
  server: async () => (await import('../server/bench/server.ts')).runServerBench(),
  realtime: async () => (await import('../server/bench/realtime.ts')).runRealtimeBench(),
  cli: async () => (await import('../desktop-agent/bench/cli.ts')).runCliBench(),
  web: async () => (await import('../web/bench/web.ts')).runWebBench(),
};

const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !(w in parts));
if (unknown.length > 0) {
  console.error(`unknown benchmark part(s): ${unknown.join(', ')}; choose from ${Object.keys(parts).join(', ')}`);
  process.exit(2);
}

console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${new Date().toISOString()}`);
// How fast this machine hands out memory: the first write to a fresh page costs a page fault, which
// on some virtual machines (the Firecracker VMs of docs/benchmarks.md: ~13 µs a page) is slower than
// any of the work measured, and every new buffer or page-cache page pays it.
{
  const MiB = 2 ** 20;
  const pieces: Buffer[] = [];
  let t = performance.now();
  for (let i = 0; i < 256; i++) pieces.push(Buffer.allocUnsafeSlow(MiB).fill(1));
  const fresh = (256 * MiB) / 1e6 / ((performance.now() - t) / 1000);
  t = performance.now();
  for (const p of pieces) p.fill(2);
  const again = (256 * MiB) / 1e6 / ((performance.now() - t) / 1000);
  console.log(`memory: first write to fresh pages ${fresh.toFixed(0)} MB/s, second write ${again.toFixed(0)} MB/s; load average ${loadavg()[0]!.toFixed(2)}`);
}
let failed = false;
for (const name of wanted.length > 0 ? wanted : Object.keys(parts)) {
  console.log(`\n## ${name}`);
  try {
    const figures = await parts[name]!();
    for (const [k, v] of Object.entries(figures)) console.log(`${k.padEnd(48)} ${typeof v === 'number' ? v.toFixed(2) : v}`);
  } catch (err) {
    failed = true;
    console.log(`FAILED: ${(err as Error).stack ?? err}`);
  }
}
process.exit(failed ? 1 : 0);
