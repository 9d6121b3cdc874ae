// Share links, owner side (docs/api.md "Share links", format §8): create a link to a node the
// caller owns, list them with their counters, revoke one. The server stores the sealed payload and,
// for a password link, the KDF parameters and the password check value `authKey`. It never sees
// the link secret (it is in the URL fragment) nor the password.
import { and, desc, eq, sql } from 'drizzle-orm';
import { Hono } from 'hono';
import { requireSession, type AppContext, type AppEnv } from '../context.js';
import { queryRows, type Executor } from '../db/client.js';
import { linkAccess, linkChallenges, links } from '../db/schema/links.js';
import { ApiError, invalid } from '../errors.js';
import { kdfParams } from '../services/accounts.js';
import { isForeignKeyViolation, isUniqueViolation } from '../services/errors-db.js';
import {
  base64urlExact, id16, integer, onlyKeys, readJson, type JsonObject,
} from '../validate.js';
import { refuseOtherMethods } from './method.js';

/** A link payload is record 0x06 of `nodeId[16] || NS[32]`: 2 + 12 + 48 + 16 bytes (format §2, §8). */
export const LINK_PAYLOAD_BYTES = 2 + 12 + 48 + 16;
const MAX_DOWNLOADS = 1_000_000;
const MAX_LIFETIME_MS = 10 * 365 * 24 * 3600 * 1000;
const MAX_LINKS_LISTED = 1000;

export type LinkRow = typeof links.$inferSelect;

/** The link as its owner sees it (docs/api.md). */
export function linkJson(l: LinkRow) {
  return {
    linkId: l.id,
    nodeId: l.nodeId,
    createdAt: l.createdAt.toISOString(),
    expiresAt: l.expiresAt?.toISOString() ?? null,
    maxDownloads: l.maxDownloads,
    downloads: l.downloads,
    revokedAt: l.revokedAt?.toISOString() ?? null,
    hasPassword: l.authKey !== null,
  };
}

/**
 * Checks kdfParams (format §4.1): algorithm 0x01, and the floor m ≥ 65536, t ≥ 3, p = 1, which a
 * server must not let a sharer lower. Ceilings keep a hostile sharer from making recipients'
 * browsers allocate absurd memory.
 */
/** A time limit as an ISO 8601 string or milliseconds since the epoch; null means none. */
function readExpiry(v: unknown, field: string): Date | null {
  if (v === undefined || v === null) return null;
  let ms: number;
  if (typeof v === 'number') ms = integer(v, field, 0, Number.MAX_SAFE_INTEGER);
  else if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(v)) ms = Date.parse(v);
  else throw invalid(`${field} must be an ISO 8601 time or milliseconds since the epoch`);
  if (!Number.isFinite(ms)) throw invalid(`${field} is not a valid time`);
  const now = Date.now();
  if (ms <= now) throw invalid(`${field} must be in the future`);
  if (ms > now + MAX_LIFETIME_MS) throw invalid(`${field} must be within 10 years`);
  return new Date(ms);
}

interface NewLink {
  linkId: string;
  nodeId: string;
  payload: string;
  kdf: string | null;
  authKey: string | null;
  expiresAt: Date | null;
  maxDownloads: number | null;
}

export function readNewLink(body: JsonObject): NewLink {
  onlyKeys(body, ['linkId', 'nodeId', 'payload', 'kdf', 'authKey', 'expiresAt', 'maxDownloads']);
  const linkId = id16(body.linkId, 'linkId');
  const nodeId = id16(body.nodeId, 'nodeId');
  const payload = base64urlExact(body.payload, 'payload', LINK_PAYLOAD_BYTES);
  const header = Buffer.from(payload, 'base64url').subarray(0, 2);
  if (header[0] !== 0x01 || header[1] !== 0x06) throw invalid('payload must be a sealed link record (version 0x01, type 0x06)');
  const hasKdf = body.kdf !== undefined && body.kdf !== null;
  const hasAuthKey = body.authKey !== undefined && body.authKey !== null;
  if (hasKdf !== hasAuthKey) throw invalid('kdf and authKey go together: both for a password link, neither without');
  let kdf: string | null = null;
  let authKey: string | null = null;
  if (hasKdf) {
    kdf = kdfParams(body.kdf, 'kdf');
    authKey = base64urlExact(body.authKey, 'authKey', 32);
  }
  const expiresAt = readExpiry(body.expiresAt, 'expiresAt');
  const maxDownloads = body.maxDownloads === undefined || body.maxDownloads === null
    ? null : integer(body.maxDownloads, 'maxDownloads', 1, MAX_DOWNLOADS);
  return { linkId, nodeId, payload, kdf, authKey, expiresAt, maxDownloads };
}

/**
 * The chain from `nodeId` up to the account's root: ids and whether each is in the trash.
 * Empty when the node does not exist. The walk is bounded in case a cycle ever slipped in.
 */
export async function ancestry(ex: Executor, accountId: string, nodeId: string): Promise<Array<{ id: string; trashed: boolean }>> {
  return queryRows<{ id: string; trashed: boolean }>(ex, sql`
    with recursive up(id, parent_id, trashed, depth) as (
      select n.id, n.parent_id, n.trashed_at is not null, 0
        from nodes n where n.account_id = ${accountId} and n.id = ${nodeId}
      union all
      select p.id, p.parent_id, p.trashed_at is not null, up.depth + 1
        from up join nodes p on p.account_id = ${accountId} and p.id = up.parent_id
       where up.depth < 4096
    )
    select id, trashed from up order by depth`);
}

/** True when the node exists and neither it nor any ancestor is in the trash. */
export async function isLive(ex: Executor, accountId: string, nodeId: string): Promise<boolean> {
  const chain = await ancestry(ex, accountId, nodeId);
  return chain.length > 0 && chain.every((n) => !n.trashed);
}

export function linkRoutes(ctx: AppContext): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use('*', requireSession(ctx));

  app.post('/', async (c) => {
    const { accountId } = c.get('session');
    const input = readNewLink(await readJson(c));
    if (!(await isLive(ctx.db, accountId, input.nodeId))) throw new ApiError(404, 'NOT_FOUND', 'No such node');
    let row: LinkRow | undefined;
    try {
      [row] = await ctx.db.insert(links).values({ ...input, id: input.linkId, accountId }).returning();
    } catch (err) {
      if (isUniqueViolation(err)) throw new ApiError(409, 'LINK_EXISTS', 'A link with this id exists; make a new link id');
      if (isForeignKeyViolation(err)) throw new ApiError(404, 'NOT_FOUND', 'No such node');
      throw err;
    }
    return c.json(linkJson(row!), 201);
  });

  app.get('/', async (c) => {
    const { accountId } = c.get('session');
    const rows = await ctx.db.select().from(links).where(eq(links.accountId, accountId))
      .orderBy(desc(links.createdAt), links.id).limit(MAX_LINKS_LISTED);
    // A link to something in the trash (itself or a folder above it) opens nothing until it is
    // restored: its owner should see that, as its recipients do.
    const trashed = new Set((await queryRows<{ link_id: string }>(ctx.db, sql`
      with recursive up(link_id, parent_id, trashed, depth) as (
        select l.id, n.parent_id, n.trashed_at is not null, 0
          from links l join nodes n on n.account_id = l.account_id and n.id = l.node_id
         where l.account_id = ${accountId}
        union all
        select up.link_id, p.parent_id, p.trashed_at is not null, up.depth + 1
          from up join nodes p on p.account_id = ${accountId} and p.id = up.parent_id
         where up.depth < 4096
      )
      select link_id from up group by link_id having bool_or(trashed)`)).map((r) => r.link_id));
    return c.json({ links: rows.map((row) => ({ ...linkJson(row), nodeTrashed: trashed.has(row.id) })) });
  });

  app.delete('/:linkId', async (c) => {
    const { accountId } = c.get('session');
    const linkId = c.req.param('linkId');
    if (!/^[0-9a-f]{32}$/.test(linkId)) throw new ApiError(404, 'LINK_NOT_FOUND', 'No such link');
    await ctx.db.transaction(async (tx) => {
      const [row] = await tx.update(links).set({ revokedAt: sql`coalesce(${links.revokedAt}, now())` })
        .where(and(eq(links.id, linkId), eq(links.accountId, accountId))).returning({ id: links.id });
      if (!row) throw new ApiError(404, 'LINK_NOT_FOUND', 'No such link');
      // Access already handed out ends now, not when its token expires.
      await tx.delete(linkAccess).where(eq(linkAccess.linkId, linkId));
      await tx.delete(linkChallenges).where(eq(linkChallenges.linkId, linkId));
    });
    return c.body(null, 204);
  });

  refuseOtherMethods(app, ['/', '/:linkId']);
  return app;
}
