// Node rows as JSON, and lookups that always filter by account: another account's node is
// indistinguishable from a missing one (404).
import { and, eq, sql } from 'drizzle-orm';
import { driverOf, queryRawRows, queryRows, type Db, type Executor } from '../db/client.js';
import { nodes } from '../db/schema/core.js';
import { ApiError, notFound } from '../errors.js';

export type NodeRow = typeof nodes.$inferSelect;

export function nodeJson(n: NodeRow) {
  return {
    id: n.id, parentId: n.parentId, kind: n.kind, nameHash: n.nameHash, wrappedKey: n.wrappedKey,
    metadata: n.metadata, version: n.version, size: n.size, createdAt: n.createdAt.toISOString(),
    updatedAt: n.updatedAt.toISOString(), trashedAt: n.trashedAt?.toISOString() ?? null,
  };
}

/** A timestamp as Date.prototype.toISOString writes it (milliseconds, cut off as Date does). */
const isoTime = (column: typeof nodes.createdAt | typeof nodes.trashedAt) =>
  sql`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** nodeJson's fields, in its order and its formats, as columns of `nodes`: for `row_to_json`. */
const jsonColumns = sql`id, parent_id as "parentId", kind, name_hash as "nameHash", wrapped_key as "wrappedKey", metadata,
  version, size, ${isoTime(nodes.createdAt)} as "createdAt", ${isoTime(nodes.updatedAt)} as "updatedAt",
  ${isoTime(nodes.trashedAt)} as "trashedAt"`;

/**
 * One page of a folder's live children, in id order, as the bytes of the answer
 * `{"items":[...nodeJson objects],"next":id-or-null}`: `next` is the id of its last child when
 * more follow. The database writes each child's JSON. Reading twelve columns of a thousand rows
 * into objects and writing them out again cost the server about twice the CPU (docs/benchmarks.md).
 * PGlite also joins the rows into one text; PostgreSQL sends one text per row, as joining them
 * there took it 3-5 times as long as the rows themselves. Either way the bytes go out as they
 * arrived, never decoded into strings and encoded again.
 * server/test/db-contract.test.ts checks that each item equals nodeJson's, on both.
 */
export async function childrenPage(db: Db, accountId: string, parentId: string, after: string | undefined, limit: number): Promise<Buffer<ArrayBuffer>> {
  const rows = sql`
    select row_to_json(n)::text as json, n.id from (
      select ${jsonColumns}
      from ${nodes}
      where account_id = ${accountId} and parent_id = ${parentId} and trashed_at is null
        ${after === undefined ? sql`` : sql`and id > ${after}`}
      order by id
      limit ${limit + 1}
    ) n`;
  if (driverOf(db) === 'postgres') {
    const found = await queryRawRows(db, rows);
    const page = found.slice(0, limit);
    return pageBytes(page.map((row) => row[0]!), found.length > limit ? page[page.length - 1]![1]!.toString() : null);
  }
  // The rows come sorted by id, so numbering them in that order needs no second sort.
  const [row] = await queryRawRows(db, sql`
    with fetched as (select json, id, row_number() over (order by id) as i from (${rows}) r)
    select string_agg(json, ',' order by i) filter (where i <= ${limit}) as items,
           max(id) filter (where i <= ${limit}) as last,
           count(*) > ${limit} as more
    from fetched`);
  const [items, last, more] = row!;
  return pageBytes(items ? [items] : [], more?.toString() === 't' ? last!.toString() : null);
}

/** `{"items":[items joined by commas],"next":next}` in a new ArrayBuffer, never a shared one. */
function pageBytes(items: Buffer[], next: string | null): Buffer<ArrayBuffer> {
  const parts: Buffer[] = [OPEN];
  for (let i = 0; i < items.length; i++) {
    if (i > 0) parts.push(COMMA);
    parts.push(items[i]!);
  }
  parts.push(Buffer.from(`],"next":${JSON.stringify(next)}}`));
  return Buffer.concat(parts) as Buffer<ArrayBuffer>;
}

const OPEN = Buffer.from('{"items":[');
const COMMA = Buffer.from(',');

const ID = /^[0-9a-f]{32}$/;

const byId = (ex: Executor) => ex.select().from(nodes)
  .where(and(eq(nodes.accountId, sql.placeholder('accountId')), eq(nodes.id, sql.placeholder('id')))).limit(1);

/** The plain lookup, built once per executor: the most frequent query of the server. */
const prepared = new WeakMap<Executor, ReturnType<ReturnType<typeof byId>['prepare']>>();

/**
 * The node as the bytes of nodeJson's answer, written by the database as childrenPage's items are,
 * or 404 NOT_FOUND as findNode: `GET /api/nodes/:id`, the server's most frequent request, without
 * reading twelve columns into an object and writing them out again.
 */
export async function nodeJsonBytes(db: Db, accountId: string, id: string): Promise<Uint8Array<ArrayBuffer>> {
  if (!ID.test(id)) throw notFound('No such node');
  const [row] = await queryRawRows(db, sql`
    select row_to_json(n)::text from (select ${jsonColumns} from ${nodes} where account_id = ${accountId} and id = ${id}) n`);
  if (!row?.[0]) throw notFound('No such node');
  return new Uint8Array(row[0]); // its own copy: the row is a view of the driver's buffer
}

/** The node, or 404 NOT_FOUND (also for malformed ids and other accounts' nodes). */
export async function findNode(ex: Executor, accountId: string, id: string, lock = false): Promise<NodeRow> {
  if (!ID.test(id)) throw notFound('No such node');
  let row: NodeRow | undefined;
  if (lock) {
    // NO KEY UPDATE: does not block foreign-key checks of other transactions on this row (a move
    // into this folder), which FOR UPDATE would, and deadlock against a concurrent move.
    [row] = await byId(ex).for('no key update').execute({ accountId, id });
  } else {
    let query = prepared.get(ex);
    if (!query) {
      query = byId(ex).prepare('find_node');
      prepared.set(ex, query);
    }
    [row] = await query.execute({ accountId, id });
  }
  if (!row) throw notFound('No such node');
  return row;
}

/** A live folder to put children in, or 404 PARENT_NOT_FOUND. */
export async function findLiveFolder(ex: Executor, accountId: string, id: string): Promise<NodeRow> {
  const [row] = await ex.select().from(nodes).where(and(eq(nodes.accountId, accountId), eq(nodes.id, id))).limit(1);
  if (!row || row.kind !== 'folder' || row.trashedAt !== null) {
    throw new ApiError(404, 'PARENT_NOT_FOUND', 'The parent folder does not exist');
  }
  return row;
}

/** True when `ancestorId` is `nodeId` itself or one of its ancestors. */
export async function isAncestorOrSelf(ex: Executor, accountId: string, ancestorId: string, nodeId: string): Promise<boolean> {
  const rows = await queryRows<{ hit: number }>(ex, sql`
    with recursive up(id, parent_id) as (
      select id, parent_id from nodes where account_id = ${accountId} and id = ${nodeId}
      union all
      select n.id, n.parent_id from nodes n join up on n.id = up.parent_id where n.account_id = ${accountId}
    )
    select 1 as hit from up where id = ${ancestorId} limit 1`);
  return rows.length > 0;
}
