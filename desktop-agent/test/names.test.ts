// Names the vault cannot hold (format §5.3) are refused before any request, as usage errors (2)
// naming the name and the rule, not as failed integrity checks; `put .` uses the folder's own name.
import { execFileSync } from 'node:child_process';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../tests/support/server.ts';
import { coffer, newAccount, tempDir } from './helpers.ts';

describe('coffer and names the vault cannot hold', () => {
  let server: RunningServer;
  let dir: string;
  let env: Record<string, string>;
  const long = 'a'.repeat(300);

  beforeAll(async () => {
    server = await startServer();
    dir = await tempDir('names');
    env = await newAccount(server.url, dir);
  });
  afterAll(async () => {
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const ls = async (path: string) => (JSON.parse((await coffer(['ls', '--json', path], env)).stdout) as { items: Array<{ name: string }> }).items.map((i) => i.name);

  it('refuses a name of 300 bytes in mkdir, mv and put with exit 2, and creates nothing', async () => {
    const made = await coffer(['mkdir', '--json', `/${long}`], env);
    expect(made.code).toBe(2);
    expect(JSON.parse(made.stdout)).toMatchObject({ code: 'USAGE' });
    expect(made.stderr).toContain('is not a valid name: a name is 1 to 255 bytes of UTF-8');
    expect(made.stderr).toContain('(300 bytes)');
    expect(made.stderr).not.toContain('integrity');

    const f = join(dir, 'f.txt');
    await writeFile(f, 'a small file');
    expect((await coffer(['put', '--quiet', f, '/f.txt'], env)).code).toBe(0);
    const moved = await coffer(['mv', '/f.txt', `/${long}`], env);
    expect(moved.code).toBe(2);
    expect(moved.stderr).toContain('is not a valid name');

    const put = await coffer(['put', f, `/new-folder/${long}`], env);
    expect(put.code).toBe(2);
    expect(put.stderr).toContain('is not a valid name');
    expect(await ls('/')).toEqual(['f.txt']);
  });

  it('puts "." under the name of the current folder', async () => {
    const here = join(dir, 'somedir');
    await mkdir(here);
    await writeFile(join(here, 'inside.txt'), 'inside');
    const r = await coffer(['put', '--quiet', '.', '/dot/'], env, { cwd: here });
    expect(r.code, r.stderr).toBe(0);
    expect(await ls('/dot')).toEqual(['somedir']);
    expect(await ls('/dot/somedir')).toEqual(['inside.txt']);
  });

  it('skips symbolic links and special files in a folder put, saying which and why', async () => {
    const here = join(dir, 'specials');
    await mkdir(join(here, 'sub'), { recursive: true });
    await writeFile(join(here, 'real.txt'), 'real');
    await symlink('real.txt', join(here, 'link.txt'));
    await symlink('sub', join(here, 'sub-link'));
    execFileSync('mkfifo', [join(here, 'fifo')]);
    const r = await coffer(['put', here, '/specials'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`skipping ${join(here, 'link.txt')} (a symbolic link: links are not followed`);
    expect(r.stderr).toContain(`skipping ${join(here, 'sub-link')} (a symbolic link`);
    expect(r.stderr).toContain(`skipping ${join(here, 'fifo')} (not a regular file or folder)`);
    expect((await ls('/specials')).sort()).toEqual(['real.txt', 'sub']);
  });
});
