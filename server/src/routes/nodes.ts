// Files and folders (docs/api.md §Nodes): create, read, list, rename/move, trash, restore, purge.
import { and, asc, eq, gt, isNotNull } from 'drizzle-orm';
import { Hono } from 'hono';
import { requireSession, type AppContext, type AppEnv } from '../context.js';
import { accounts, nodes } from '../db/schema/core.js';
import { ApiError, invalid } from '../errors.js';
import { MAX_METADATA, MAX_WRAPPED_KEY } from '../limits.js';
import { writeForAccount } from '../services/changes.js';
import { isUniqueViolation } from '../services/errors-db.js';
import { childrenPage, findLiveFolder, findNode, isAncestorOrSelf, nodeJson, nodeJsonBytes } from '../services/nodes.js';
import { base64url, id16, id32, oneOf, onlyKeys, optional, parseJsonObject, queryInt, readJson } from '../validate.js';
import { refuseOtherMethods } from './method.js';
import { ancestry } from './links.js';
import { versionRoutes } from './versions.js';

const nameTaken = () => new ApiError(409, 'NAME_TAKEN', 'A live item in this folder has that name');

/** Runs a write and turns a violation of the live-name index into 409 NAME_TAKEN. */
async function guardName<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (isUniqueViolation(err)) throw nameTaken();
    throw err;
  }
}

/**
 * Most children one listing page may hold (docs/api.md): the web vault asks for growing pages, so a
 * 10,000-entry folder takes 5 requests (trash pages stay at 1,000).
 */
const MAX_CHILDREN_PAGE = 5000;

function page(after: string | undefined, limit: string | undefined, max = 1000) {
  if (after !== undefined && !/^[0-9a-f]{32}$/.test(after)) throw invalid('after must be a node id');
  return { after, limit: queryInt(limit, 'limit', 100, 1, max) };
}

function paged<T extends { id: string }>(rows: T[], limit: number) {
  const more = rows.length > limit;
  const items = more ? rows.slice(0, limit) : rows;
  return { items, next: more ? items[items.length - 1]!.id : null };
}

export function nodeRoutes(ctx: AppContext): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.use('*', requireSession(ctx));

  r.get('/:id', async (c) => c.body(await nodeJsonBytes(ctx.db, c.get('session').accountId, c.req.param('id')), 200, { 'Content-Type': 'application/json' }));

  r.get('/:id/children', async (c) => {
    const { accountId } = c.get('session');
    const parent = await findNode(ctx.db, accountId, c.req.param('id'));
    const { after, limit } = page(c.req.query('after'), c.req.query('limit'), MAX_CHILDREN_PAGE);
    // Bytes: a string body would be measured, then encoded again as it is sent.
    return c.body(await childrenPage(ctx.db, accountId, parent.id, after, limit), 200, { 'Content-Type': 'application/json' });
  });

  r.post('/', async (c) => {
    const { accountId } = c.get('session');
    const body = await readJson(c);
    onlyKeys(body, ['id', 'parentId', 'kind', 'nameHash', 'wrappedKey', 'metadata']);
    const values = {
      accountId,
      id: id16(body.id, 'id'),
      parentId: id16(body.parentId, 'parentId'),
      kind: oneOf(body.kind, 'kind', ['file', 'folder'] as const),
      nameHash: id32(body.nameHash, 'nameHash'),
      wrappedKey: base64url(body.wrappedKey, 'wrappedKey', MAX_WRAPPED_KEY),
      metadata: base64url(body.metadata, 'metadata', MAX_METADATA),
    };
    const row = await writeForAccount(ctx, accountId, async (tx, record) => {
      await findLiveFolder(tx, accountId, values.parentId);
      const [existing] = await tx.select({ id: nodes.id }).from(nodes)
        .where(and(eq(nodes.accountId, accountId), eq(nodes.id, values.id)));
      if (existing) throw new ApiError(409, 'NODE_EXISTS', 'A node with this id exists');
      const [created] = await guardName(() => tx.insert(nodes).values(values).returning());
      await record(values.id, 'create');
      return created!;
    });
    return c.json(nodeJson(row), 201);
  });

  r.patch('/:id', async (c) => {
    const { accountId } = c.get('session');
    const body = await readJson(c);
    onlyKeys(body, ['parentId', 'nameHash', 'wrappedKey', 'metadata']);
    const parentId = optional(body.parentId, (v) => id16(v, 'parentId'));
    const nameHash = optional(body.nameHash, (v) => id32(v, 'nameHash'));
    const wrappedKey = optional(body.wrappedKey, (v) => base64url(v, 'wrappedKey', MAX_WRAPPED_KEY));
    const metadata = optional(body.metadata, (v) => base64url(v, 'metadata', MAX_METADATA));
    if ([parentId, nameHash, wrappedKey, metadata].every((v) => v === undefined)) throw invalid('nothing to change');

    const row = await writeForAccount(ctx, accountId, async (tx, record) => {
      // Lock order everywhere: node, then account. Moves of one account are serialised on the
      // account row, so two moves cannot build a cycle together; the cycle check below runs after
      // that lock, so it sees every move committed before.
      const node = await findNode(tx, accountId, c.req.param('id'), true);
      await tx.select({ id: accounts.id }).from(accounts).where(eq(accounts.id, accountId)).for('update');
      if (node.trashedAt !== null) throw new ApiError(409, 'NODE_TRASHED', 'Restore the node before changing it');
      const moving = parentId !== undefined && parentId !== node.parentId;
      if (node.parentId === null && (parentId !== undefined || nameHash !== undefined)) {
        throw new ApiError(400, 'ROOT_IMMUTABLE', 'The root folder cannot be moved or renamed');
      }
      if (moving) {
        if (nameHash === undefined || wrappedKey === undefined) {
          throw invalid('a move needs parentId, nameHash and wrappedKey (format §5.1)');
        }
        await findLiveFolder(tx, accountId, parentId);
        if (await isAncestorOrSelf(tx, accountId, node.id, parentId)) {
          throw new ApiError(409, 'MOVE_CYCLE', 'A folder cannot move into itself or its descendants');
        }
      }
      const [updated] = await guardName(() => tx.update(nodes).set({
        ...(parentId !== undefined ? { parentId } : {}),
        ...(nameHash !== undefined ? { nameHash } : {}),
        ...(wrappedKey !== undefined ? { wrappedKey } : {}),
        ...(metadata !== undefined ? { metadata } : {}),
        updatedAt: new Date(),
      }).where(and(eq(nodes.accountId, accountId), eq(nodes.id, node.id))).returning());
      await record(node.id, moving ? 'move' : 'update');
      return updated!;
    });
    return c.json(nodeJson(row));
  });

  r.post('/:id/trash', async (c) => {
    const { accountId } = c.get('session');
    const row = await writeForAccount(ctx, accountId, async (tx, record) => {
      const node = await findNode(tx, accountId, c.req.param('id'), true);
      if (node.parentId === null) throw new ApiError(400, 'ROOT_IMMUTABLE', 'The root folder cannot be trashed');
      if (node.trashedAt !== null) return node;
      const [updated] = await tx.update(nodes).set({ trashedAt: new Date(), updatedAt: new Date() })
        .where(and(eq(nodes.accountId, accountId), eq(nodes.id, node.id))).returning();
      await record(node.id, 'trash');
      return updated!;
    });
    return c.json(nodeJson(row));
  });

  r.post('/:id/restore', async (c) => {
    const { accountId } = c.get('session');
    const body = parseJsonObject(await c.req.text(), true);
    onlyKeys(body, ['nameHash']);
    const nameHash = optional(body.nameHash, (v) => id32(v, 'nameHash'));
    const row = await writeForAccount(ctx, accountId, async (tx, record) => {
      const node = await findNode(tx, accountId, c.req.param('id'), true);
      if (node.trashedAt === null) return node;
      // Restored under a folder that is itself in the trash, it would be out of the trash and still
      // out of sight: the folder comes first.
      const above = node.parentId === null ? [] : await ancestry(tx, accountId, node.parentId);
      const trashed = above.findLast((n) => n.trashed);
      if (trashed) {
        throw new ApiError(409, 'PARENT_TRASHED', 'A folder above it is in the trash: restore that folder first', { folderId: trashed.id });
      }
      const [updated] = await guardName(() => tx.update(nodes)
        .set({ trashedAt: null, updatedAt: new Date(), ...(nameHash ? { nameHash } : {}) })
        .where(and(eq(nodes.accountId, accountId), eq(nodes.id, node.id))).returning());
      await record(node.id, 'restore');
      return updated!;
    });
    return c.json(nodeJson(row));
  });

  /** Purges a trashed node with its subtree and versions; their chunks go to the collector. */
  r.delete('/:id', async (c) => {
    const { accountId } = c.get('session');
    await writeForAccount(ctx, accountId, async (tx, record) => {
      const node = await findNode(tx, accountId, c.req.param('id'), true);
      if (node.trashedAt === null) throw new ApiError(409, 'NOT_IN_TRASH', 'Only trashed nodes can be purged');
      await tx.delete(nodes).where(and(eq(nodes.accountId, accountId), eq(nodes.id, node.id)));
      await record(node.id, 'purge');
    });
    return c.body(null, 204);
  });

  r.route('/', versionRoutes(ctx));
  refuseOtherMethods(r, ['/', '/:id', '/:id/children', '/:id/trash', '/:id/restore']);
  return r;
}

export function trashRoutes(ctx: AppContext): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.use('*', requireSession(ctx));
  r.get('/', async (c) => {
    const { accountId } = c.get('session');
    const { after, limit } = page(c.req.query('after'), c.req.query('limit'));
    const rows = await ctx.db.select().from(nodes).where(and(
      eq(nodes.accountId, accountId), isNotNull(nodes.trashedAt), after ? gt(nodes.id, after) : undefined,
    )).orderBy(asc(nodes.id)).limit(limit + 1);
    const { items, next } = paged(rows, limit);
    return c.json({ items: items.map(nodeJson), next });
  });
  refuseOtherMethods(r, ['/']);
  return r;
}
