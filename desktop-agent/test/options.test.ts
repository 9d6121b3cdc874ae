// Numbers and times given as options: plain decimal digits only, and --expires only in the forms
// --help names, refused as usage errors (2) before the session is even opened.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseExpiry } from '../src/commands.ts';
import { coffer } from './helpers.ts';

describe('parseExpiry', () => {
  const now = Date.UTC(2026, 11, 3, 12, 0, 0);
  it('reads durations and ISO dates', () => {
    expect(parseExpiry('90s', now).getTime()).toBe(now + 90_000);
    expect(parseExpiry('7d', now).getTime()).toBe(now + 7 * 86_400_000);
    expect(parseExpiry('2027-01-31T18:00Z', now).toISOString()).toBe('2027-01-31T18:00:00.000Z');
    expect(parseExpiry('2027-01-31', now).toISOString()).toBe('2027-01-31T00:00:00.000Z');
  });
  it('refuses other forms, the past, dates that do not exist and more than 10 years', () => {
    for (const s of ['3600', ' 7d', '7 d', '1e3s', '0x10m', '0d', '2020-01-01', '2027-02-30', 'tomorrow', '', '11000d', '9999-01-01']) {
      expect(() => parseExpiry(s, now), s).toThrow(expect.objectContaining({ exitCode: 2 }));
    }
  });
});

describe('coffer number options', () => {
  let home: string;
  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'coffer-cli-options-'));
  });
  afterAll(() => rm(home, { recursive: true, force: true }));

  it('accepts only plain digits for --version and --max-downloads, and known --expires forms', async () => {
    const env = { COFFER_HOME: home };
    for (const v of ['1e0', '0x1', ' 1', '1.0', '0']) {
      const r = await coffer(['restore', '/x', '--version', v], env);
      expect(r.code, `--version ${v}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain('--version N');
      const s = await coffer(['share', '/x', '--max-downloads', v], env);
      expect(s.code, `--max-downloads ${v}: ${s.stderr}`).toBe(2);
    }
    for (const e of ['3600', '0d', '2001-01-01']) {
      const r = await coffer(['share', '/x', '--expires', e], env);
      expect(r.code, `--expires ${e}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain('--expires');
    }
  });
});
