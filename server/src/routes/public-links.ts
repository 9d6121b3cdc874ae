// Share links, recipient side (docs/api.md "Share links", format §8). No session: a recipient
// holds only the URL. The path carries the link id; the fragment (link secret) stays in the
// browser. A password link is opened by answering a fresh single-use challenge with
// HMAC(authKey, "coffer/v1/link-challenge" || linkId || challenge), so the password never travels.
//
// Opening counts one download with a single conditional UPDATE (exact under concurrency) and hands
// out an access token (only its SHA-256 is stored). Reads with that token reach only the shared
// node and its descendants, and only their current versions.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { and, asc, eq, gt, isNull, lt, or, sql } from 'drizzle-orm';
import { Hono, type Context } from 'hono';
import type { AppContext } from '../context.js';
import { queryRows } from '../db/client.js';
import { nodes } from '../db/schema/core.js';
import { linkAccess, linkChallenges, links } from '../db/schema/links.js';
import { ApiError } from '../errors.js';
import { blobResponse } from '../blob/send.js';
import { blobKey } from '../blob/store.js';
import { clientAddress } from '../proxy.js';
import { consume, limitKey } from '../services/rate-limit.js';
import { hashToken, isTokenForm, newToken } from '../sessions.js';
import { base64urlExact, object, onlyKeys, queryInt, type JsonObject } from '../validate.js';
import { refuseOtherMethods } from './method.js';
import { nodeJson, type NodeRow } from '../services/nodes.js';
import { ancestry, type LinkRow } from './links.js';

/** How long a challenge may be answered. */
export const CHALLENGE_TTL_SECONDS = 300;
/** How long an access token reads the share (capped by the link's own expiry). */
export const ACCESS_TTL_SECONDS = 6 * 3600;
/** Challenges one address may fetch per allowed guess. */
const CHALLENGES_PER_GUESS = 10;
const CHALLENGE_LABEL = Buffer.from('coffer/v1/link-challenge'); // format §8

interface LinkEnv {
  Variables: { link: LinkRow };
}

const ID16 = /^[0-9a-f]{32}$/;
const ID32 = /^[0-9a-f]{64}$/;

const linkNotFound = () => new ApiError(404, 'LINK_NOT_FOUND', 'No such link');
const nodeNotFound = () => new ApiError(404, 'NOT_FOUND', 'No such node in this share');

/** 410 for a link that can no longer be opened, in the order revoked, expired, exhausted. */
function unusable(l: LinkRow, now: Date): ApiError | null {
  if (l.revokedAt) return new ApiError(410, 'LINK_REVOKED', 'This link was revoked');
  if (l.expiresAt && l.expiresAt <= now) return new ApiError(410, 'LINK_EXPIRED', 'This link has expired');
  if (l.maxDownloads !== null && l.downloads >= l.maxDownloads) {
    return new ApiError(410, 'LINK_EXHAUSTED', 'This link was downloaded as often as its owner allowed');
  }
  return null;
}

/** The expected answer to a challenge (format §8). */
export function challengeResponse(authKey: Uint8Array, linkId: string, challenge: Uint8Array): Buffer {
  return createHmac('sha256', authKey).update(CHALLENGE_LABEL).update(Buffer.from(linkId, 'hex')).update(challenge).digest();
}

const sha256Hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Gives back one attempt counted by `consume` (a correct answer is not a guess). */
async function refund(ctx: AppContext, key: string): Promise<void> {
  await ctx.db.execute(sql`update rate_limits set count = greatest(count - 1, 0) where key = ${key}`);
}

async function readOptionalJson(c: Context): Promise<JsonObject> {
  const text = await c.req.text();
  if (text.trim() === '') return {};
  try {
    return object(JSON.parse(text), 'body');
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw new ApiError(400, 'MALFORMED_JSON', 'The request body is not valid JSON');
  }
}

export function publicLinkRoutes(ctx: AppContext): Hono<LinkEnv> {
  const app = new Hono<LinkEnv>();

  /** The link named in the path, or 404. */
  const loadLink = async (linkId: string): Promise<LinkRow> => {
    if (!ID16.test(linkId)) throw linkNotFound();
    const [row] = await ctx.db.select().from(links).where(eq(links.id, linkId)).limit(1);
    if (!row) throw linkNotFound();
    return row;
  };

  /** The shared node when it and its ancestors are out of the trash; else the link is unavailable. */
  const sharedRoot = async (l: LinkRow): Promise<NodeRow> => {
    const chain = await ancestry(ctx.db, l.accountId, l.nodeId);
    if (chain.length === 0 || chain.some((n) => n.trashed)) throw linkNotFound();
    const [node] = await ctx.db.select().from(nodes)
      .where(and(eq(nodes.accountId, l.accountId), eq(nodes.id, l.nodeId))).limit(1);
    if (!node) throw linkNotFound();
    return node;
  };

  /** Node JSON for a recipient: the shared root does not reveal its parent, which is outside the share. */
  const publicNode = (l: LinkRow, n: NodeRow) => ({ ...nodeJson(n), parentId: n.id === l.nodeId ? null : n.parentId });

  app.get('/:linkId', async (c) => {
    const l = await loadLink(c.req.param('linkId'));
    const problem = unusable(l, new Date());
    if (problem) throw problem;
    await sharedRoot(l);
    if (l.authKey === null) return c.json({ hasPassword: false });

    // Each challenge is a row; limit how fast one address can make them (looser than guesses:
    // a challenge is also fetched by every page load of a recipient).
    const { limit, windowSeconds } = ctx.config.rateLimits.address;
    await consume(ctx.db, limitKey('link-challenge-address', clientAddress(c, ctx.config.trustedProxies)), { limit: limit * CHALLENGES_PER_GUESS, windowSeconds });
    const challenge = randomBytes(32);
    await ctx.db.transaction(async (tx) => {
      await tx.delete(linkChallenges).where(and(eq(linkChallenges.linkId, l.id), lt(linkChallenges.expiresAt, sql`now()`)));
      await tx.insert(linkChallenges).values({
        hash: sha256Hex(challenge),
        linkId: l.id,
        expiresAt: sql`now() + ${sql.raw(`interval '${CHALLENGE_TTL_SECONDS} seconds'`)}`,
      });
    });
    return c.json({ hasPassword: true, kdf: l.kdf, challenge: challenge.toString('base64url') });
  });

  app.post('/:linkId/open', async (c) => {
    const l = await loadLink(c.req.param('linkId'));
    const body = await readOptionalJson(c);
    onlyKeys(body, ['challenge', 'response']);
    const problem = unusable(l, new Date());
    if (problem) throw problem;

    if (l.authKey !== null) {
      if (body.challenge === undefined || body.response === undefined) {
        throw new ApiError(401, 'PASSWORD_REQUIRED', 'This link has a password');
      }
      const challenge = Buffer.from(base64urlExact(body.challenge, 'challenge', 32), 'base64url');
      const response = Buffer.from(base64urlExact(body.response, 'response', 32), 'base64url');
      // Every answer counts against the link and the address before it is checked; a right one is
      // given back afterwards, so the limits bound wrong guesses, not recipients.
      const linkKey = limitKey('link-guess', l.id);
      const addressKey = limitKey('link-guess-address', clientAddress(c, ctx.config.trustedProxies));
      await consume(ctx.db, addressKey, ctx.config.rateLimits.address);
      await consume(ctx.db, linkKey, ctx.config.rateLimits.account);
      const [used] = await ctx.db.delete(linkChallenges)
        .where(and(eq(linkChallenges.hash, sha256Hex(challenge)), eq(linkChallenges.linkId, l.id)))
        .returning({ expiresAt: linkChallenges.expiresAt, live: sql<boolean>`${linkChallenges.expiresAt} > now()` });
      if (!used || !used.live) {
        throw new ApiError(401, 'CHALLENGE_INVALID', 'The challenge is unknown, used or expired; ask for a new one');
      }
      const expected = challengeResponse(Buffer.from(l.authKey, 'base64url'), l.id, challenge);
      if (!timingSafeEqual(expected, response)) throw new ApiError(401, 'PASSWORD_WRONG', 'Wrong password');
      await refund(ctx, linkKey);
      await refund(ctx, addressKey);
    }

    const node = await sharedRoot(l);
    const token = newToken();
    const granted = await ctx.db.transaction(async (tx) => {
      // The one statement that decides whether a download is left (exact under concurrency).
      const [counted] = await tx.update(links).set({ downloads: sql`${links.downloads} + 1` })
        .where(and(
          eq(links.id, l.id),
          or(isNull(links.maxDownloads), lt(links.downloads, links.maxDownloads)),
          isNull(links.revokedAt),
          or(isNull(links.expiresAt), gt(links.expiresAt, sql`now()`)),
        ))
        .returning({ downloads: links.downloads });
      if (!counted) return null;
      await tx.delete(linkAccess).where(and(eq(linkAccess.linkId, l.id), lt(linkAccess.expiresAt, sql`now()`)));
      const [access] = await tx.insert(linkAccess).values({
        tokenHash: hashToken(token),
        linkId: l.id,
        // least() ignores the NULL of a link without expiry.
        expiresAt: sql`least(now() + ${sql.raw(`interval '${ACCESS_TTL_SECONDS} seconds'`)},
                             (select l.expires_at from links l where l.id = ${l.id}))`,
      }).returning({ expiresAt: linkAccess.expiresAt });
      return access!;
    });
    if (!granted) {
      // Someone else took the last download, or the link changed since it was read.
      const now = await loadLink(l.id);
      throw unusable(now, new Date()) ?? new ApiError(410, 'LINK_EXHAUSTED', 'This link cannot be opened any more');
    }
    return c.json({ accessToken: token, payload: l.payload, node: publicNode(l, node), expiresAt: granted.expiresAt.toISOString() });
  });

  // Before the access check below, which `/:linkId` also matches.
  refuseOtherMethods(app, ['/:linkId', '/:linkId/open']);

  // Everything below reads the share with an access token.
  app.use('/:linkId/*', async (c, next) => {
    const linkId = c.req.param('linkId');
    if (!linkId || !ID16.test(linkId)) throw linkNotFound();
    const token = c.req.header('x-link-access') ?? '';
    if (!isTokenForm(token)) throw new ApiError(401, 'LINK_ACCESS_REQUIRED', 'Open the link first (X-Link-Access header)');
    const [row] = await ctx.db.select({ link: links }).from(linkAccess)
      .innerJoin(links, eq(links.id, linkAccess.linkId))
      .where(and(eq(linkAccess.tokenHash, hashToken(token)), eq(linkAccess.linkId, linkId), gt(linkAccess.expiresAt, sql`now()`)))
      .limit(1);
    if (!row) throw new ApiError(401, 'LINK_ACCESS_REQUIRED', 'The link access is unknown or expired; open the link again');
    if (row.link.revokedAt) throw new ApiError(410, 'LINK_REVOKED', 'This link was revoked');
    if (row.link.expiresAt && row.link.expiresAt <= new Date()) throw new ApiError(410, 'LINK_EXPIRED', 'This link has expired');
    c.set('link', row.link);
    await next();
  });

  /** The node if it is the shared node or below it, and nothing on the way up is in the trash. */
  const nodeInShare = async (l: LinkRow, nodeId: string): Promise<NodeRow> => {
    if (!ID16.test(nodeId)) throw nodeNotFound();
    const chain = await ancestry(ctx.db, l.accountId, nodeId);
    const rootAt = chain.findIndex((n) => n.id === l.nodeId);
    if (rootAt === -1 || chain.some((n) => n.trashed)) throw nodeNotFound();
    const [node] = await ctx.db.select().from(nodes).where(and(eq(nodes.accountId, l.accountId), eq(nodes.id, nodeId))).limit(1);
    if (!node) throw nodeNotFound();
    return node;
  };

  app.get('/:linkId/nodes/:id', async (c) => {
    const l = c.get('link');
    return c.json(publicNode(l, await nodeInShare(l, c.req.param('id'))));
  });

  app.get('/:linkId/nodes/:id/children', async (c) => {
    const l = c.get('link');
    const folder = await nodeInShare(l, c.req.param('id'));
    if (folder.kind !== 'folder') throw new ApiError(400, 'NOT_A_FOLDER', 'Only folders have children');
    const after = c.req.query('after');
    if (after !== undefined && !ID16.test(after)) throw new ApiError(400, 'INVALID_INPUT', 'after must be a node id');
    const limit = queryInt(c.req.query('limit'), 'limit', 1000, 1, 1000);
    const rows = await ctx.db.select().from(nodes).where(and(
      eq(nodes.accountId, l.accountId),
      eq(nodes.parentId, folder.id),
      isNull(nodes.trashedAt),
      after ? gt(nodes.id, after) : undefined,
    )).orderBy(asc(nodes.id)).limit(limit + 1);
    const items = rows.slice(0, limit);
    return c.json({ items: items.map((n) => publicNode(l, n)), next: rows.length > limit ? items.at(-1)!.id : null });
  });

  app.get('/:linkId/nodes/:id/versions/:v', async (c) => {
    const l = c.get('link');
    const node = await nodeInShare(l, c.req.param('id'));
    const v = c.req.param('v');
    // Only the current version: a recipient gets what the file is now, not what it used to be.
    if (node.kind !== 'file' || node.version === 0 || v !== String(node.version)) {
      throw new ApiError(404, 'NOT_FOUND', 'No such version in this share');
    }
    // json_agg, not array_agg: the pool reads no array types (db/client.ts).
    const [row] = await queryRows<{ manifest: string; created_at: Date | string; chunk_ids: string[] | null }>(ctx.db, sql`
      select v.manifest, v.created_at,
             (select json_agg(vc.chunk_id order by vc.position) from version_chunks vc
               where vc.account_id = v.account_id and vc.node_id = v.node_id and vc.version = v.version) as chunk_ids
        from versions v
       where v.account_id = ${l.accountId} and v.node_id = ${node.id} and v.version = ${node.version}`);
    if (!row) throw new ApiError(404, 'NOT_FOUND', 'No such version in this share');
    return c.json({
      version: node.version,
      manifest: row.manifest,
      chunkIds: row.chunk_ids ?? [],
      createdAt: new Date(row.created_at).toISOString(),
    });
  });

  app.get('/:linkId/chunks/:chunkId', async (c) => {
    const l = c.get('link');
    const chunkId = c.req.param('chunkId');
    if (!ID32.test(chunkId)) throw nodeNotFound();
    // Is there a live file inside the share whose current version uses this chunk? From every
    // such file walk up to the account root: the share's node must be on the way, nothing trashed.
    const [hit] = await queryRows<{ start: string }>(ctx.db, sql`
      with recursive holders as (
        select distinct vc.node_id as id from version_chunks vc
          join nodes n on n.account_id = vc.account_id and n.id = vc.node_id and n.version = vc.version
         where vc.account_id = ${l.accountId} and vc.chunk_id = ${chunkId}
      ),
      up(start, id, parent_id, trashed, depth) as (
        select h.id, n.id, n.parent_id, n.trashed_at is not null, 0
          from holders h join nodes n on n.account_id = ${l.accountId} and n.id = h.id
        union all
        select up.start, p.id, p.parent_id, p.trashed_at is not null, up.depth + 1
          from up join nodes p on p.account_id = ${l.accountId} and p.id = up.parent_id
         where up.depth < 4096
      )
      select start from up group by start
      having bool_or(id = ${l.nodeId}) and not bool_or(trashed)
      limit 1`);
    const inside = hit !== undefined;
    if (!inside) throw new ApiError(404, 'NOT_FOUND', 'No such chunk in this share');
    const blob = await ctx.blobs.get(blobKey(l.accountId, chunkId));
    if (!blob) throw new ApiError(404, 'NOT_FOUND', 'No such chunk in this share');
    return blobResponse(c, blob, { 'Content-Type': 'application/octet-stream' });
  });

  refuseOtherMethods(app, ['/:linkId/nodes/:id', '/:linkId/nodes/:id/children', '/:linkId/nodes/:id/versions/:v', '/:linkId/chunks/:chunkId']);
  return app;
}
