// After a real client (crypto-core) signs up and uploads a file with a known name and contents,
// neither a dump of every database table nor the blob folder holds the name, the contents, the
// passphrase, the login key, the recovery code or the account key: in plain bytes, nor hidden
// under base64url or hex.
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  decryptStream, derivePassphraseKeys, encodeKdfParams, encryptStream, nameHash, newAccount, newKdfParams, newNode,
  newRecoveryCode, nodeKeys, openManifest, openVault, recoveryKeys, sealManifest, sealMetadata, sealSlot, toBase64Url,
  wrapNodeSecret, type ManifestEntry,
} from '@coffer/crypto-core';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../src/db/client.js';
import { Client, digestHeader, startTestServer, type TestServer } from './helpers.js';

const NAME = 'Quarterly-MARKER-NAME-4f1c9e.txt';
const CONTENT_MARKER = 'MARKER-CONTENT-b83d07';
const PASSPHRASE = 'MARKER-PASSPHRASE correct horse battery staple';

async function* source(bytes: Uint8Array) {
  for (let i = 0; i < bytes.length; i += 64 * 1024) yield bytes.subarray(i, i + 64 * 1024);
}

/** Every byte the server keeps: all rows of all tables, plus every file in the blob folder. */
async function serverBytes(s: TestServer): Promise<Buffer[]> {
  const out: Buffer[] = [];
  const tables = await queryRows<{ table_name: string }>(s.ctx.db, sql`
    select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`);
  for (const { table_name } of tables) {
    const rows = await queryRows<Record<string, unknown>>(s.ctx.db, sql`select * from ${sql.identifier(table_name)}`);
    const text = JSON.stringify(rows);
    out.push(Buffer.from(text));
    // Decode anything that looks like base64url or hex, so an encoded plaintext cannot hide.
    for (const token of text.match(/[A-Za-z0-9_-]{16,}/g) ?? []) {
      out.push(Buffer.from(token, 'base64url'));
      if (/^[0-9a-f]+$/.test(token) && token.length % 2 === 0) out.push(Buffer.from(token, 'hex'));
    }
  }
  for (const entry of await readdir(s.blobDir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) out.push(await readFile(join(entry.parentPath, entry.name)));
  }
  return out;
}

const contains = (haystack: Buffer[], needle: Uint8Array | string) => haystack.some((b) => b.includes(Buffer.from(needle)));

describe('the server learns nothing it could decrypt', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  it('stores only ciphertext of names, contents and keys, and the client reads its file back', async () => {
    const email = 'zk-owner@example.test';
    const kdf = newKdfParams();
    const { loginKey, passKek } = await derivePassphraseKeys(PASSPHRASE, kdf);
    const { accountId, accountKey } = newAccount();
    const vault = await openVault(accountId, accountKey);
    const code = newRecoveryCode();
    const recovery = await recoveryKeys(code);
    const root = newNode();
    const rootKeys = await nodeKeys(root.nodeId, root.secret);
    const signupRes = await s.app.request('/api/auth/signup', {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        email, accountId, kdf: encodeKdfParams(kdf), loginKey: toBase64Url(loginKey), recoveryLoginKey: toBase64Url(recovery.loginKey),
        accountPublicKey: toBase64Url(vault.accountPublicKey),
        slots: { passphrase: toBase64Url(await sealSlot(vault, 'passphrase', passKek)), recovery: toBase64Url(await sealSlot(vault, 'recovery', recovery.kek)) },
        root: {
          nodeId: root.nodeId, wrappedKey: toBase64Url(await wrapNodeSecret(root.secret, root.nodeId, null, vault)),
          metadata: toBase64Url(await sealMetadata(rootKeys, { name: 'Vault', mime: '', size: 0, mtime: 0 })),
        },
        client: 'cli',
      }),
    });
    expect(signupRes.status).toBe(201);
    const { token } = await signupRes.json();
    const c = new Client(s.app, token, accountId, root.nodeId, toBase64Url(loginKey), email);

    // The file: 3 MiB of random bytes with the marker every KiB, so it spans several chunks.
    const marker = new TextEncoder().encode(CONTENT_MARKER);
    const plaintext = new Uint8Array(randomBytes(3 * 2 ** 20));
    for (let at = 0; at + marker.length < plaintext.length; at += 1024) plaintext.set(marker, at);
    const file = newNode();
    const fileKeys = await nodeKeys(file.nodeId, file.secret);
    await c.json('POST', '/api/nodes', {
      id: file.nodeId, parentId: root.nodeId, kind: 'file', nameHash: await nameHash(rootKeys, NAME),
      wrappedKey: toBase64Url(await wrapNodeSecret(file.secret, file.nodeId, rootKeys, vault)),
      metadata: toBase64Url(await sealMetadata(fileKeys, { name: NAME, mime: 'text/plain', size: 0, mtime: 1 })),
    }, 201);
    const { uploadId } = await c.json('POST', '/api/uploads', { nodeId: file.nodeId }, 201);
    const entries: ManifestEntry[] = [];
    for await (const chunk of encryptStream(vault, source(plaintext))) {
      entries.push(chunk.entry);
      const res = await c.request('PUT', `/api/chunks/${chunk.entry.chunkId}?upload=${uploadId}`, chunk.record,
        { 'content-digest': digestHeader(chunk.record) });
      expect([200, 201]).toContain(res.status);
    }
    expect(entries.length).toBeGreaterThan(1);
    const manifest = await sealManifest(fileKeys, 1, { size: plaintext.length, chunks: entries });
    await c.json('POST', `/api/nodes/${file.nodeId}/versions`, {
      uploadId, baseVersion: 0, manifest: toBase64Url(manifest), chunkIds: entries.map((e) => e.chunkId),
      metadata: toBase64Url(await sealMetadata(fileKeys, { name: NAME, mime: 'text/plain', size: plaintext.length, mtime: 2 })),
    }, 201);

    // The client reads it back through the API.
    const v1 = await c.json('GET', `/api/nodes/${file.nodeId}/versions/1`);
    const opened = await openManifest(fileKeys, 1, Buffer.from(v1.manifest, 'base64url'));
    const parts: Uint8Array[] = [];
    for await (const part of decryptStream(opened, async (id) => new Uint8Array(await (await c.request('GET', `/api/chunks/${id}`)).arrayBuffer()))) {
      parts.push(part);
    }
    expect(Buffer.concat(parts).equals(Buffer.from(plaintext))).toBe(true);

    const dump = await serverBytes(s);
    // Positive controls: the dump is real (it holds the account id and the e-mail the server must know).
    expect(contains(dump, accountId)).toBe(true);
    expect(contains(dump, email)).toBe(true);
    for (const [what, secret] of Object.entries({
      name: NAME, content: CONTENT_MARKER, passphrase: 'MARKER-PASSPHRASE', recoveryCode: code,
      loginKey, loginKeyText: toBase64Url(loginKey), recoveryLoginKey: recovery.loginKey, accountKey, accountKeyText: toBase64Url(accountKey),
      fileSecret: file.secret, rootSecret: root.secret,
    })) {
      expect(contains(dump, secret), what).toBe(false);
    }
  });
});
