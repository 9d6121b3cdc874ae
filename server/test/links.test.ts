// Share links through the real app (`app.request()`, no port) on a real PGlite and, when reachable,
// a real PostgreSQL. Accounts, folders, files and chunks are made through the HTTP API.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linkChallengeResponse } from '@coffer/crypto-core';
import { createTestDatabase, NO_POSTGRES, postgresUrl } from '../../tests/support/env.js';
import { createApp } from '../src/app.js';
import { FolderBlobStore } from '../src/blob/folder.js';
import { defaultConfig } from '../src/config.js';
import type { AppContext } from '../src/context.js';
import { openDatabase, type Database } from '../src/db/client.js';
import { Events } from '../src/events.js';
import { createLogger } from '../src/logger.js';

/** kdfParams of format §4.1: argon2id, m = 65536, t = 3, p = 1, random salt. */
function encodeKdfParams(m = 65536, t = 3, p = 1): string {
  const b = Buffer.alloc(26);
  b[0] = 1;
  b.writeUInt32BE(m, 1);
  b.writeUInt32BE(t, 5);
  b[9] = p;
  randomBytes(16).copy(b, 10);
  return b.toString('base64url');
}

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64url');
const hexId = () => randomBytes(16).toString('hex');
/** A well-formed link payload: header 0x01 0x06, then 76 opaque bytes (the server cannot check more). */
const fakePayload = () => b64(Buffer.concat([Buffer.from([1, 6]), randomBytes(76)]));

interface Harness {
  ctx: AppContext;
  database: Database;
  logs: string[];
  call(method: string, path: string, init?: { token?: string; body?: unknown; headers?: Record<string, string> }):
    Promise<{ status: number; json: any; headers: Headers; bytes: Buffer }>;
  close(): Promise<void>;
}

async function harness(url: string | undefined, limits?: { account: number; address: number }): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'coffer-links-'));
  const database = await openDatabase(url ? { url } : {});
  const logs: string[] = [];
  const config = defaultConfig({
    dataDir: dir,
    logLevel: 'debug',
    ...(limits ? {
      rateLimits: { account: { limit: limits.account, windowSeconds: 60 }, address: { limit: limits.address, windowSeconds: 60 } },
    } : { rateLimits: { account: { limit: 1000, windowSeconds: 60 }, address: { limit: 1000, windowSeconds: 60 } } }),
  });
  const ctx: AppContext = {
    config, db: database.db, blobs: new FolderBlobStore(join(dir, 'blobs')),
    logger: createLogger('debug', (l) => logs.push(l)), events: new Events(), secret: randomBytes(32),
  };
  const { app, closers } = createApp(ctx);
  return {
    ctx, database, logs,
    async call(method, path, init = {}) {
      const headers: Record<string, string> = { ...init.headers };
      if (init.token) headers.authorization = `Bearer ${init.token}`;
      let body: string | ArrayBuffer | undefined;
      if (init.body instanceof Uint8Array) body = new Uint8Array(init.body).buffer;
      else if (init.body !== undefined) {
        body = JSON.stringify(init.body);
        headers['content-type'] = 'application/json';
      }
      const res = await app.request(path, { method, headers, body });
      const bytes = Buffer.from(await res.arrayBuffer());
      let json: unknown = null;
      if (res.headers.get('content-type')?.includes('json')) json = JSON.parse(bytes.toString());
      return { status: res.status, json, headers: res.headers, bytes };
    },
    async close() {
      for (const close of closers) await close();
      await database.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function signup(h: Harness) {
  const accountId = hexId();
  const rootId = hexId();
  const res = await h.call('POST', '/api/auth/signup', {
    body: {
      email: `${accountId}@example.test`, accountId, kdf: encodeKdfParams(),
      loginKey: b64(randomBytes(32)), recoveryLoginKey: b64(randomBytes(32)), accountPublicKey: b64(randomBytes(32)),
      slots: { passphrase: b64(randomBytes(80)), recovery: b64(randomBytes(80)) },
      root: { nodeId: rootId, wrappedKey: b64(randomBytes(98)), metadata: b64(randomBytes(286)) },
      client: 'cli',
    },
  });
  expect(res.status, JSON.stringify(res.json)).toBe(201);
  return { token: res.json.token as string, accountId, rootId };
}

async function mknode(h: Harness, token: string, parentId: string, kind: 'file' | 'folder') {
  const id = hexId();
  const res = await h.call('POST', '/api/nodes', {
    token,
    body: { id, parentId, kind, nameHash: randomBytes(32).toString('hex'), wrappedKey: b64(randomBytes(98)), metadata: b64(randomBytes(286)) },
  });
  expect(res.status, JSON.stringify(res.json)).toBe(201);
  return id;
}

/** Commits a new version of one fresh chunk (opaque bytes; the server never decrypts). */
async function commitVersion(h: Harness, token: string, id: string, baseVersion: number, chunk: Buffer = randomBytes(300)) {
  const up = await h.call('POST', '/api/uploads', { token, body: { nodeId: id } });
  expect(up.status, JSON.stringify(up.json)).toBe(201);
  const chunkId = createHash('sha256').update(chunk).digest('hex'); // any 32 bytes will do as an id here
  const put = await h.call('PUT', `/api/chunks/${chunkId}?upload=${up.json.uploadId}`, {
    token, body: chunk,
    headers: {
      'content-type': 'application/octet-stream',
      'content-digest': `sha-256=:${createHash('sha256').update(chunk).digest('base64')}:`,
    },
  });
  expect([200, 201], JSON.stringify(put.json)).toContain(put.status);
  const commit = await h.call('POST', `/api/nodes/${id}/versions`, {
    token,
    body: { uploadId: up.json.uploadId, baseVersion, manifest: b64(randomBytes(120)), chunkIds: [chunkId], metadata: b64(randomBytes(286)) },
  });
  expect(commit.status, JSON.stringify(commit.json)).toBe(201);
  return { chunkId, chunk };
}

/** A file with one version of one chunk. */
async function mkfile(h: Harness, token: string, parentId: string, chunk?: Buffer) {
  const id = await mknode(h, token, parentId, 'file');
  return { id, ...(await commitVersion(h, token, id, 0, chunk)) };
}

async function makeLink(h: Harness, token: string, nodeId: string, extra: Record<string, unknown> = {}) {
  const linkId = hexId();
  const res = await h.call('POST', '/api/links', { token, body: { linkId, nodeId, payload: fakePayload(), ...extra } });
  expect(res.status, JSON.stringify(res.json)).toBe(201);
  return linkId;
}

async function open(h: Harness, linkId: string, body?: unknown) {
  return h.call('POST', `/api/public/links/${linkId}/open`, body === undefined ? {} : { body });
}

const backends = [
  { name: 'PGlite', pg: false, skip: false },
  { name: `PostgreSQL${postgresUrl ? '' : ` (${NO_POSTGRES})`}`, pg: true, skip: !postgresUrl },
];

for (const backend of backends) {
  describe.skipIf(backend.skip)(`share links on ${backend.name}`, () => {
    let h: Harness;
    let drop: (() => Promise<void>) | undefined;

    beforeAll(async () => {
      let url: string | undefined;
      if (backend.pg) ({ url, drop } = await createTestDatabase());
      h = await harness(url);
    });
    afterAll(async () => {
      await h?.close();
      await drop?.();
    });

    it('creates, lists with counts and revokes a link; revoking ends opening and reading', async () => {
      const { token, rootId } = await signup(h);
      const folder = await mknode(h, token, rootId, 'folder');
      const expiresAt = new Date(Date.now() + 3600_000).toISOString();
      const linkId = hexId();
      const created = await h.call('POST', '/api/links', {
        token, body: { linkId, nodeId: folder, payload: fakePayload(), expiresAt, maxDownloads: 3 },
      });
      expect(created.status).toBe(201);
      expect(created.json).toMatchObject({ linkId, nodeId: folder, expiresAt, maxDownloads: 3, downloads: 0, revokedAt: null, hasPassword: false });

      expect((await h.call('GET', `/api/public/links/${linkId}`)).json).toEqual({ hasPassword: false });
      const opened = await open(h, linkId);
      expect(opened.status).toBe(200);
      expect(opened.json.node.id).toBe(folder);
      expect(opened.json.node.parentId).toBeNull(); // the parent is outside the share
      expect(typeof opened.json.accessToken).toBe('string');
      expect(Date.parse(opened.json.expiresAt)).toBeLessThanOrEqual(Date.parse(expiresAt));

      const listed = await h.call('GET', '/api/links', { token });
      expect(listed.json.links).toEqual([expect.objectContaining({ linkId, downloads: 1, maxDownloads: 3, hasPassword: false })]);

      const access = { 'x-link-access': opened.json.accessToken };
      expect((await h.call('GET', `/api/public/links/${linkId}/nodes/${folder}`, { headers: access })).status).toBe(200);
      expect((await h.call('DELETE', `/api/links/${linkId}`, { token })).status).toBe(204);
      expect((await h.call('GET', `/api/public/links/${linkId}`)).json.code).toBe('LINK_REVOKED');
      expect((await open(h, linkId)).json.code).toBe('LINK_REVOKED');
      const after = await h.call('GET', `/api/public/links/${linkId}/nodes/${folder}`, { headers: access });
      expect(after.status).toBe(401);
      const relisted = await h.call('GET', '/api/links', { token });
      expect(relisted.json.links[0].revokedAt).not.toBeNull();
    });

    it('answers 404 LINK_NOT_FOUND, 410 LINK_EXPIRED and LINK_EXHAUSTED', async () => {
      const { token, rootId } = await signup(h);
      expect((await h.call('GET', `/api/public/links/${hexId()}`)).json.code).toBe('LINK_NOT_FOUND');
      expect((await h.call('GET', '/api/public/links/NOT-AN-ID')).status).toBe(404);
      const once = await makeLink(h, token, rootId, { maxDownloads: 1 });
      expect((await open(h, once)).status).toBe(200);
      const exhausted = await open(h, once);
      expect([exhausted.status, exhausted.json.code]).toEqual([410, 'LINK_EXHAUSTED']);
      // a link to something in the trash is not found, until the owner restores it
      const folder = await mknode(h, token, rootId, 'folder');
      const inTrash = await makeLink(h, token, folder);
      const below = await makeLink(h, token, await mknode(h, token, folder, 'file'));
      const trashedOnes = async () => ((await h.call('GET', '/api/links', { token })).json.links as Array<{ linkId: string; nodeTrashed: boolean }>)
        .filter((l) => l.nodeTrashed).map((l) => l.linkId).sort();
      expect(await trashedOnes()).toEqual([]);
      expect((await h.call('POST', `/api/nodes/${folder}/trash`, { token })).status).toBe(200);
      expect(await trashedOnes()).toEqual([inTrash, below].sort()); // the owner sees what recipients get
      expect((await h.call('GET', `/api/public/links/${inTrash}`)).json.code).toBe('LINK_NOT_FOUND');
      expect((await open(h, inTrash)).json.code).toBe('LINK_NOT_FOUND');
      expect((await h.call('POST', `/api/nodes/${folder}/restore`, { token, body: {} })).status).toBe(200);
      expect((await h.call('GET', `/api/public/links/${inTrash}`)).status).toBe(200);
      expect(await trashedOnes()).toEqual([]);
      const soon = await makeLink(h, token, rootId, { expiresAt: Date.now() + 3600_000 });
      await h.ctx.db.execute(sql`update links set expires_at = now() - interval '1 second' where id = ${soon}`);
      const expired = await h.call('GET', `/api/public/links/${soon}`);
      expect([expired.status, expired.json.code]).toEqual([410, 'LINK_EXPIRED']);
    });

    it('refuses malformed links, nodes of other accounts and reused link ids', async () => {
      const alice = await signup(h);
      const bob = await signup(h);
      const post = (token: string, body: Record<string, unknown>) => h.call('POST', '/api/links', { token, body });
      const base = { linkId: hexId(), nodeId: alice.rootId, payload: fakePayload() };
      const wrongType = b64(Buffer.concat([Buffer.from([1, 3]), randomBytes(76)]));
      expect((await post(alice.token, { ...base, payload: wrongType })).status).toBe(400);
      expect((await post(alice.token, { ...base, payload: fakePayload().slice(0, 20) })).status).toBe(400);
      for (const weak of [encodeKdfParams(1024), encodeKdfParams(65536, 2), encodeKdfParams(65536, 3, 2)]) {
        // below the floor of format §4.1
        expect((await post(alice.token, { ...base, kdf: weak, authKey: b64(randomBytes(32)) })).status).toBe(400);
      }
      expect((await post(alice.token, { ...base, kdf: encodeKdfParams() })).status).toBe(400);
      expect((await post(alice.token, { ...base, expiresAt: Date.now() - 1000 })).status).toBe(400);
      expect((await post(alice.token, { ...base, maxDownloads: 0 })).status).toBe(400);
      expect((await post(alice.token, { ...base, secret: 'x' })).status).toBe(400);
      expect((await post(bob.token, base)).status).toBe(404); // not Bob's node
      expect((await post(alice.token, base)).status).toBe(201);
      expect((await post(alice.token, base)).json.code).toBe('LINK_EXISTS');
      expect((await h.call('DELETE', `/api/links/${base.linkId}`, { token: bob.token })).status).toBe(404);
      expect((await h.call('POST', '/api/links', { body: base })).status).toBe(401);
    });

    it('opens a password link with a single-use challenge answered by HMAC(authKey, …); the password never travels', async () => {
      const { token, rootId } = await signup(h);
      const authKey = randomBytes(32);
      const kdf = encodeKdfParams();
      const linkId = await makeLink(h, token, rootId, { kdf, authKey: b64(authKey) });
      const info = await h.call('GET', `/api/public/links/${linkId}`);
      expect(info.json).toMatchObject({ hasPassword: true, kdf });
      const challenge = Buffer.from(info.json.challenge, 'base64url');
      expect(challenge.length).toBe(32);

      expect((await open(h, linkId)).json.code).toBe('PASSWORD_REQUIRED');
      // crypto-core computes the answer, so the server and the format agree (format §8)
      const response = b64(await linkChallengeResponse(authKey, linkId, challenge));
      const wrong = b64(await linkChallengeResponse(randomBytes(32), linkId, challenge));
      const bad = await open(h, linkId, { challenge: info.json.challenge, response: wrong });
      expect([bad.status, bad.json.code]).toEqual([401, 'PASSWORD_WRONG']);
      // the challenge was used up by the wrong answer
      const replay = await open(h, linkId, { challenge: info.json.challenge, response });
      expect([replay.status, replay.json.code]).toEqual([401, 'CHALLENGE_INVALID']);

      const fresh = (await h.call('GET', `/api/public/links/${linkId}`)).json.challenge as string;
      const good = await open(h, linkId, { challenge: fresh, response: b64(await linkChallengeResponse(authKey, linkId, Buffer.from(fresh, 'base64url'))) });
      expect(good.status).toBe(200);
      expect(good.json.node.id).toBe(rootId);
      // an answer for one link is worthless for another
      const other = await makeLink(h, token, rootId, { kdf, authKey: b64(authKey) });
      const otherChallenge = (await h.call('GET', `/api/public/links/${other}`)).json.challenge as string;
      const crossed = await open(h, other, { challenge: otherChallenge, response: b64(await linkChallengeResponse(authKey, linkId, Buffer.from(otherChallenge, 'base64url'))) });
      expect(crossed.json.code).toBe('PASSWORD_WRONG');
      // a challenge expires
      const late = (await h.call('GET', `/api/public/links/${linkId}`)).json.challenge as string;
      await h.ctx.db.execute(sql`update link_challenges set expires_at = now() - interval '1 second' where link_id = ${linkId}`);
      const expired = await open(h, linkId, { challenge: late, response: b64(await linkChallengeResponse(authKey, linkId, Buffer.from(late, 'base64url'))) });
      expect(expired.json.code).toBe('CHALLENGE_INVALID');
    });

    it('counts downloads exactly: 100 parallel opens of a link limited to 5 succeed 5 times', async () => {
      const { token, rootId } = await signup(h);
      const linkId = await makeLink(h, token, rootId, { maxDownloads: 5 });
      const results = await Promise.all(Array.from({ length: 100 }, () => open(h, linkId)));
      const ok = results.filter((r) => r.status === 200);
      expect(ok).toHaveLength(5);
      expect(new Set(ok.map((r) => r.json.accessToken)).size).toBe(5);
      expect(results.filter((r) => r.status === 410 && r.json.code === 'LINK_EXHAUSTED')).toHaveLength(95);
      const listed = await h.call('GET', '/api/links', { token });
      expect(listed.json.links.find((l: { linkId: string }) => l.linkId === linkId).downloads).toBe(5);
    });

    it('reads only inside the shared subtree: a link to one folder cannot reach a sibling or the parent', async () => {
      const { token, rootId } = await signup(h);
      const shared = await mknode(h, token, rootId, 'folder');
      const sibling = await mknode(h, token, rootId, 'folder');
      const inner = await mknode(h, token, shared, 'folder');
      const inFile = await mkfile(h, token, inner);
      const outFile = await mkfile(h, token, sibling);
      const linkId = await makeLink(h, token, shared);
      const otherLink = await makeLink(h, token, sibling);
      const { accessToken } = (await open(h, linkId)).json;
      const read = (path: string, t: string = accessToken) =>
        h.call('GET', `/api/public/links/${linkId}${path}`, { headers: { 'x-link-access': t } });

      // inside
      expect((await read(`/nodes/${shared}`)).status).toBe(200);
      const children = await read(`/nodes/${shared}/children`);
      expect(children.json.items.map((n: { id: string }) => n.id)).toEqual([inner]);
      expect((await read(`/nodes/${inner}/children`)).json.items[0].id).toBe(inFile.id);
      const file = await read(`/nodes/${inFile.id}`);
      expect(file.json.parentId).toBe(inner);
      const version = await read(`/nodes/${inFile.id}/versions/1`);
      expect(version.json.chunkIds).toEqual([inFile.chunkId]);
      const chunk = await read(`/chunks/${inFile.chunkId}`);
      expect(chunk.status).toBe(200);
      expect(chunk.bytes.equals(inFile.chunk)).toBe(true);

      // outside: the parent, the sibling and everything in it
      for (const path of [
        `/nodes/${rootId}`, `/nodes/${rootId}/children`, `/nodes/${sibling}`, `/nodes/${sibling}/children`,
        `/nodes/${outFile.id}`, `/nodes/${outFile.id}/versions/1`, `/chunks/${outFile.chunkId}`, `/nodes/${hexId()}`,
      ]) {
        const res = await read(path);
        expect(res.status, path).toBe(404);
        expect(res.bytes.includes(outFile.chunk)).toBe(false);
      }
      // the token of one link does not open another, and no token opens nothing
      const crossed = await h.call('GET', `/api/public/links/${otherLink}/nodes/${sibling}`, { headers: { 'x-link-access': accessToken } });
      expect(crossed.status).toBe(401);
      expect((await h.call('GET', `/api/public/links/${linkId}/nodes/${shared}`)).status).toBe(401);
      expect((await read(`/nodes/${shared}`, b64(randomBytes(32)))).status).toBe(401);

      // only current versions: after a new version, the old one and its chunk are out of reach
      const v2 = await commitVersion(h, token, inFile.id, 1);
      expect((await read(`/nodes/${inFile.id}/versions/1`)).status).toBe(404);
      expect((await read(`/chunks/${inFile.chunkId}`)).status).toBe(404);
      expect((await read(`/nodes/${inFile.id}/versions/2`)).json.chunkIds).toEqual([v2.chunkId]);
      expect((await read(`/chunks/${v2.chunkId}`)).bytes.equals(v2.chunk)).toBe(true);
      // a chunk stored once but used inside and outside the share is readable (it is in the share)
      const twin = await mkfile(h, token, sibling, v2.chunk);
      expect(twin.chunkId).toBe(v2.chunkId);
      expect((await read(`/chunks/${v2.chunkId}`)).status).toBe(200);
      expect((await read(`/nodes/${twin.id}`)).status).toBe(404);

      // trashing part of the share hides it
      expect((await h.call('POST', `/api/nodes/${inner}/trash`, { token })).status).toBe(200);
      expect((await read(`/nodes/${inFile.id}`)).status).toBe(404);
      expect((await read(`/chunks/${v2.chunkId}`)).status).toBe(404);
      expect((await read(`/nodes/${shared}/children`)).json.items).toEqual([]);
    });
  });
}

describe('guess limits', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness(undefined, { account: 3, address: 8 });
  });
  afterAll(async () => h?.close());

  it('limits wrong answers per link and per address with 429 + Retry-After; right answers are not counted', async () => {
    const { token, rootId } = await signup(h);
    const authKey = randomBytes(32);
    const kdf = encodeKdfParams();
    const link1 = await makeLink(h, token, rootId, { kdf, authKey: b64(authKey) });
    const link2 = await makeLink(h, token, rootId, { kdf, authKey: b64(authKey) });
    const attempt = async (linkId: string, right: boolean) => {
      const challenge = (await h.call('GET', `/api/public/links/${linkId}`)).json.challenge as string;
      const key = right ? authKey : randomBytes(32);
      return open(h, linkId, { challenge, response: b64(await linkChallengeResponse(key, linkId, Buffer.from(challenge, 'base64url'))) });
    };
    for (let i = 0; i < 5; i++) expect((await attempt(link1, true)).status).toBe(200); // more than the limit of 3
    for (let i = 0; i < 3; i++) expect((await attempt(link1, false)).json.code).toBe('PASSWORD_WRONG');
    const limited = await attempt(link1, true); // even the right password is not checked now
    expect([limited.status, limited.json.code]).toEqual([429, 'RATE_LIMITED']);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    // per address (8): link1 took 3 + 1 attempts; two more links with 2 wrong answers each use up
    // the address, though neither link reached its own limit of 3
    const link3 = await makeLink(h, token, rootId, { kdf, authKey: b64(authKey) });
    for (let i = 0; i < 2; i++) expect((await attempt(link2, false)).json.code).toBe('PASSWORD_WRONG');
    for (let i = 0; i < 2; i++) expect((await attempt(link3, false)).json.code).toBe('PASSWORD_WRONG');
    const byAddress = await attempt(link3, true);
    expect([byAddress.status, byAddress.json.code]).toEqual([429, 'RATE_LIMITED']);
  });
});
