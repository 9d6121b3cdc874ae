// Where `get` and `fetch` write, decided before anything is downloaded: an existing folder (or a
// LOCAL ending in "/") receives NAME inside it, for a folder as for a file; a folder where a file
// must go is a usage error; an existing file is replaced. And what a damaged link is told.
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../tests/support/server.ts';
import { coffer, newAccount, tempDir } from './helpers.ts';

describe('coffer get and fetch destinations', () => {
  let server: RunningServer;
  let dir: string;
  let env: Record<string, string>;
  const fresh = async (name: string) => {
    const d = join(dir, name);
    await mkdir(d, { recursive: true });
    return d;
  };
  const fetchEnv = () => ({ COFFER_HOME: join(dir, 'fetcher-home') });

  beforeAll(async () => {
    server = await startServer();
    dir = await tempDir('dest');
    env = await newAccount(server.url, dir);
    const src = await fresh('src');
    await writeFile(join(src, 'x.txt'), 'the file x');
    await mkdir(join(src, 'F'));
    await writeFile(join(src, 'F', 'inner.txt'), 'inside F');
    for (const r of [await coffer(['put', '--quiet', join(src, 'x.txt'), '/x.txt'], env), await coffer(['put', '--quiet', join(src, 'F'), '/'], env)]) {
      expect(r.code, r.stderr).toBe(0);
    }
  });
  afterAll(async () => {
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('refuses, before downloading, to put a file where a folder is', async () => {
    const cwd = await fresh('cwd-folder');
    await mkdir(join(cwd, 'x.txt'));
    const r = await coffer(['get', '/x.txt'], env, { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('x.txt is a folder: the file cannot be written there');
    expect(await readdir(join(cwd))).toEqual(['x.txt']);
    expect(await readdir(join(cwd, 'x.txt'))).toEqual([]);
  });

  it('makes a missing LOCAL that ends in "/" and puts the file inside it', async () => {
    const cwd = await fresh('cwd-slash');
    const r = await coffer(['get', '--quiet', '/x.txt', 'newdir/'], env, { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(await readFile(join(cwd, 'newdir', 'x.txt'), 'utf8')).toBe('the file x');
  });

  it('puts a folder inside an existing folder, for get and fetch; FOLDER/ puts its contents', async () => {
    const into = await fresh('into');
    expect((await coffer(['get', '--quiet', '/F', into], env)).code).toBe(0);
    expect(await readFile(join(into, 'F', 'inner.txt'), 'utf8')).toBe('inside F');
    expect(existsSync(join(into, 'inner.txt'))).toBe(false);

    const contents = await fresh('contents');
    expect((await coffer(['get', '--quiet', '/F/', contents], env)).code).toBe(0);
    expect(await readdir(contents)).toEqual(['inner.txt']);

    const share = JSON.parse((await coffer(['share', '--json', '/F'], env)).stdout) as { url: string };
    const fetched = await fresh('fetched');
    expect((await coffer(['fetch', '--quiet', '-o', fetched], { ...fetchEnv(), COFFER_LINK: share.url })).code).toBe(0);
    expect(await readFile(join(fetched, 'F', 'inner.txt'), 'utf8')).toBe('inside F');
  });

  it('replaces an existing local file, as --help says', async () => {
    const cwd = await fresh('cwd-replace');
    await writeFile(join(cwd, 'x.txt'), 'an older local x that is longer');
    expect((await coffer(['get', '--quiet', '/x.txt'], env, { cwd })).code).toBe(0);
    expect(await readFile(join(cwd, 'x.txt'), 'utf8')).toBe('the file x');
    for (const cmd of ['get', 'fetch']) expect((await coffer([cmd, '--help'], {})).stdout).toMatch(/replaced\s+without asking/);
  });

  it('says a link whose secret is mistyped does not open (4), and one cut short is incomplete (2)', async () => {
    const share = JSON.parse((await coffer(['share', '--json', '/x.txt'], env)).stdout) as { url: string };
    const [base, secret] = share.url.split('#') as [string, string];
    expect(secret).toHaveLength(43);
    const typo = `${base}#${secret[0] === 'A' ? 'B' : 'A'}${secret.slice(1)}`;
    const out = join(await fresh('links'), 'x.txt');
    const wrong = await coffer(['fetch', '--json', '-o', out], { ...fetchEnv(), COFFER_LINK: typo });
    expect(wrong.code).toBe(4);
    expect(JSON.parse(wrong.stdout)).toMatchObject({ code: 'LINK_SECRET_WRONG' });
    expect(wrong.stderr).toContain("the link's secret (the part after #) does not open it: the link was probably copied incompletely or wrongly");
    const cut = await coffer(['fetch', '-o', out], { ...fetchEnv(), COFFER_LINK: share.url.slice(0, -1) });
    expect(cut.code).toBe(2);
    expect(cut.stderr).toContain('the link is incomplete: the part after # must be 43 characters');
    expect(existsSync(out)).toBe(false);
  });
});
