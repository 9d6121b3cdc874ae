// Core tables. The server stores ciphertext (base64url text), ids, sizes and times; nothing here
// decrypts anything. Everything an account owns is keyed by (account_id, id) so that ids chosen by
// one client can never collide with, or reveal, another account's rows.
import { sql } from 'drizzle-orm';
import {
  bigint, foreignKey, index, integer, pgTable, primaryKey, text, timestamp, uniqueIndex,
} from 'drizzle-orm/pg-core';

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });
const bytes = (name: string) => bigint(name, { mode: 'number' });

export const accounts = pgTable('accounts', {
  id: text('id').primaryKey(),
  email: text('email').notNull().unique(),
  kdf: text('kdf').notNull(),
  loginVerifier: text('login_verifier').notNull(),
  recoveryVerifier: text('recovery_verifier').notNull(),
  accountPublicKey: text('account_public_key').notNull(),
  passphraseSlot: text('passphrase_slot').notNull(),
  recoverySlot: text('recovery_slot').notNull(),
  rootNodeId: text('root_node_id').notNull(),
  usedBytes: bytes('used_bytes').notNull().default(0),
  cursor: bytes('cursor').notNull().default(0),
  /** Changes up to this cursor may have been pruned (services/changes.ts); a feed request from before it is refused. */
  prunedCursor: bytes('pruned_cursor').notNull().default(0),
  createdAt: ts('created_at').notNull().defaultNow(),
});

export const sessions = pgTable('sessions', {
  id: text('id').primaryKey(),
  accountId: text('account_id').notNull().references(() => accounts.id, { onDelete: 'cascade' }),
  tokenHash: text('token_hash').notNull().unique(),
  client: text('client').notNull(),
  createdAt: ts('created_at').notNull().defaultNow(),
  lastSeenAt: ts('last_seen_at').notNull().defaultNow(),
  /**
   * The account's device this session is (set by registering it or by saying so), or null. Removing
   * the device ends the session. No foreign key: a device is keyed by (account_id, id), and its
   * removal deletes these sessions itself. The account index serves that: an account has few.
   */
  deviceId: text('device_id'),
}, (t) => [index('sessions_account_idx').on(t.accountId)]);

export const devices = pgTable('devices', {
  accountId: text('account_id').notNull().references(() => accounts.id, { onDelete: 'cascade' }),
  id: text('id').notNull(),
  publicKey: text('public_key').notNull(),
  name: text('name').notNull(),
  slot: text('slot'),
  createdAt: ts('created_at').notNull().defaultNow(),
  lastSeenAt: ts('last_seen_at'),
}, (t) => [primaryKey({ columns: [t.accountId, t.id] })]);

export const webauthnCredentials = pgTable('webauthn_credentials', {
  accountId: text('account_id').notNull().references(() => accounts.id, { onDelete: 'cascade' }),
  id: text('id').notNull(),
  publicKey: text('public_key').notNull(),
  counter: bytes('counter').notNull().default(0),
  transports: text('transports'),
  prfSlot: text('prf_slot'),
  createdAt: ts('created_at').notNull().defaultNow(),
}, (t) => [primaryKey({ columns: [t.accountId, t.id] })]);

export const nodes = pgTable('nodes', {
  accountId: text('account_id').notNull().references(() => accounts.id, { onDelete: 'cascade' }),
  id: text('id').notNull(),
  parentId: text('parent_id'),
  kind: text('kind', { enum: ['file', 'folder'] }).notNull(),
  nameHash: text('name_hash'),
  wrappedKey: text('wrapped_key').notNull(),
  metadata: text('metadata').notNull(),
  version: integer('version').notNull().default(0),
  size: bytes('size').notNull().default(0),
  createdAt: ts('created_at').notNull().defaultNow(),
  updatedAt: ts('updated_at').notNull().defaultNow(),
  trashedAt: ts('trashed_at'),
}, (t) => [
  primaryKey({ columns: [t.accountId, t.id] }),
  foreignKey({ columns: [t.accountId, t.parentId], foreignColumns: [t.accountId, t.id], name: 'nodes_parent_fk' })
    .onDelete('cascade'),
  // Paged listing of one folder's children, in id order.
  index('nodes_children_idx').on(t.accountId, t.parentId, t.id),
  // A name is unique among the live children of one folder (format §5.3).
  uniqueIndex('nodes_live_name_idx').on(t.accountId, t.parentId, t.nameHash).where(sql`${t.trashedAt} is null`),
  index('nodes_trash_idx').on(t.accountId, t.id).where(sql`${t.trashedAt} is not null`),
]);

export const versions = pgTable('versions', {
  accountId: text('account_id').notNull(),
  nodeId: text('node_id').notNull(),
  version: integer('version').notNull(),
  manifest: text('manifest').notNull(),
  storedSize: bytes('stored_size').notNull(),
  deviceId: text('device_id'),
  /** The upload this version committed, so that a repeated commit (a lost answer) is answered again. */
  uploadId: text('upload_id'),
  createdAt: ts('created_at').notNull().defaultNow(),
}, (t) => [
  primaryKey({ columns: [t.accountId, t.nodeId, t.version] }),
  foreignKey({ columns: [t.accountId, t.nodeId], foreignColumns: [nodes.accountId, nodes.id], name: 'versions_node_fk' })
    .onDelete('cascade'),
]);

/** The chunks of one version, in file order (a chunk may appear more than once). */
export const versionChunks = pgTable('version_chunks', {
  accountId: text('account_id').notNull(),
  nodeId: text('node_id').notNull(),
  version: integer('version').notNull(),
  position: integer('position').notNull(),
  chunkId: text('chunk_id').notNull(),
}, (t) => [
  primaryKey({ columns: [t.accountId, t.nodeId, t.version, t.position] }),
  foreignKey({
    columns: [t.accountId, t.nodeId, t.version],
    foreignColumns: [versions.accountId, versions.nodeId, versions.version],
    name: 'version_chunks_version_fk',
  }).onDelete('cascade'),
  index('version_chunks_chunk_idx').on(t.accountId, t.chunkId),
]);

/**
 * A stored chunk blob. The row is written in the same transaction that confirms the blob exists;
 * `touched_at` moves whenever something starts to rely on the chunk, which is what protects it
 * from a concurrent collection (see gc.ts).
 */
export const chunks = pgTable('chunks', {
  accountId: text('account_id').notNull().references(() => accounts.id, { onDelete: 'cascade' }),
  id: text('id').notNull(),
  size: integer('size').notNull(),
  createdAt: ts('created_at').notNull().defaultNow(),
  touchedAt: ts('touched_at').notNull().defaultNow(),
}, (t) => [
  primaryKey({ columns: [t.accountId, t.id] }),
  index('chunks_touched_idx').on(t.touchedAt),
]);

export const uploads = pgTable('uploads', {
  id: text('id').primaryKey(),
  accountId: text('account_id').notNull().references(() => accounts.id, { onDelete: 'cascade' }),
  nodeId: text('node_id').notNull(),
  createdAt: ts('created_at').notNull().defaultNow(),
  expiresAt: ts('expires_at').notNull(),
}, (t) => [
  index('uploads_account_idx').on(t.accountId),
  index('uploads_expires_idx').on(t.expiresAt),
]);

export const uploadChunks = pgTable('upload_chunks', {
  uploadId: text('upload_id').notNull().references(() => uploads.id, { onDelete: 'cascade' }),
  accountId: text('account_id').notNull(),
  chunkId: text('chunk_id').notNull(),
}, (t) => [
  primaryKey({ columns: [t.uploadId, t.chunkId] }),
  index('upload_chunks_chunk_idx').on(t.accountId, t.chunkId),
]);

/**
 * One row per change; `cursor` comes from `accounts.cursor`, bumped in the same transaction. Rows
 * older than the retention period are pruned, oldest first (`accounts.pruned_cursor` records how far).
 */
export const changes = pgTable('changes', {
  accountId: text('account_id').notNull().references(() => accounts.id, { onDelete: 'cascade' }),
  cursor: bytes('cursor').notNull(),
  nodeId: text('node_id').notNull(),
  op: text('op').notNull(),
  createdAt: ts('created_at').notNull().defaultNow(),
}, (t) => [
  primaryKey({ columns: [t.accountId, t.cursor] }),
  // Finds the changes past retention without reading the recent ones.
  index('changes_created_idx').on(t.createdAt),
]);

/** Fixed-window counters for rate limits, shared by every server process using the database. */
export const rateLimits = pgTable('rate_limits', {
  key: text('key').primaryKey(),
  windowStart: ts('window_start').notNull(),
  count: integer('count').notNull(),
});

