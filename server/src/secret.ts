// The server secret keys HMACs (fake KDF salts for unknown e-mails, CSRF tokens). It comes from
// COFFER_SERVER_SECRET or from `<data dir>/server-secret`, made once with mode 0600.
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeSecret } from './config.js';

export async function loadServerSecret(dataDir: string, fromEnv?: string): Promise<Uint8Array> {
  if (fromEnv) {
    const secret = decodeSecret(fromEnv);
    if (!secret) throw new Error('COFFER_SERVER_SECRET must be at least 32 bytes as hex or base64url');
    return secret;
  }
  const path = join(dataDir, 'server-secret');
  try {
    await writeFile(path, `${randomBytes(32).toString('hex')}\n`, { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const secret = decodeSecret(await readFile(path, 'utf8'));
  if (!secret) throw new Error(`${path} does not hold a valid secret; delete it to make a new one`);
  return secret;
}
