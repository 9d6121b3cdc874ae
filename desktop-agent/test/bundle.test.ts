// The `coffer` command runs from an esbuild bundle of its sources (bin/bundle.mjs). The bundle must
// never be older than the sources: an input changed after the last build makes the next start
// build again.
import { spawnSync } from 'node:child_process';
import { readFile, utimes } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: plain JavaScript without declarations (the command's launcher)
import { bundle } from '../bin/bundle.mjs';

const DIST = resolve(import.meta.dirname, '../dist');
const inputs = async () => JSON.parse(await readFile(join(DIST, 'inputs.json'), 'utf8')) as { startedAt: number; files: string[] };

describe('the coffer bundle', () => {
  it('is built from the sources, kept while they are unchanged, and built again after a change', async () => {
    const url = (await bundle()) as string;
    expect(fileURLToPath(url)).toBe(join(DIST, 'coffer.mjs'));
    const first = await inputs();
    // Every workspace source the command runs is an input, crypto-core's too.
    expect(first.files.some((f) => f.endsWith(join('desktop-agent', 'src', 'transfer.ts')))).toBe(true);
    expect(first.files.some((f) => f.endsWith(join('crypto-core', 'src', 'stream.ts')))).toBe(true);

    expect(await bundle()).toBe(url);
    expect((await inputs()).startedAt).toBe(first.startedAt); // nothing changed: no new build

    // A source touched after that build (as by an edit or a pull): the next start builds again.
    const source = first.files.find((f) => f.endsWith(join('desktop-agent', 'src', 'errors.ts')))!;
    const touched = new Date(Math.max(Date.now(), first.startedAt + 1));
    await utimes(source, touched, touched);
    await bundle();
    expect((await inputs()).startedAt).toBeGreaterThan(touched.getTime() - 1);

    // The bundle runs on its own: plain Node, no TypeScript loader.
    const run = spawnSync(process.execPath, [join(DIST, 'coffer.mjs'), '--help'], { encoding: 'utf8' });
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('coffer');
  });
});
