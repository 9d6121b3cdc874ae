// Share links (format §8, docs/api.md "Share links"). The server keeps the sealed link payload,
// the optional password check value (`authKey`) with its KDF parameters, and counters. It never
// sees the link secret (URL fragment) nor the password. Challenges and access tokens are stored
// only as SHA-256 hashes, so a copy of the database cannot be replayed against a live server.
import { foreignKey, index, integer, pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import { accounts, nodes } from './core.js';

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export const links = pgTable('links', {
  /** The link id (16 random bytes, hex, chosen by the sharer); public, it is in the URL path. */
  id: text('id').primaryKey(),
  accountId: text('account_id').notNull().references(() => accounts.id, { onDelete: 'cascade' }),
  nodeId: text('node_id').notNull(),
  /** Sealed record 0x06 (base64url): `nodeId || NS` under the link key. */
  payload: text('payload').notNull(),
  /** kdfParams (base64url, format §4.1) when the link has a password, else null. */
  kdf: text('kdf'),
  /** Password check value `authKey` (base64url, format §8) when the link has a password, else null. */
  authKey: text('auth_key'),
  createdAt: ts('created_at').notNull().defaultNow(),
  expiresAt: ts('expires_at'),
  maxDownloads: integer('max_downloads'),
  downloads: integer('downloads').notNull().default(0),
  revokedAt: ts('revoked_at'),
}, (t) => [
  // Purging the shared node removes its links.
  foreignKey({ columns: [t.accountId, t.nodeId], foreignColumns: [nodes.accountId, nodes.id], name: 'links_node_fk' })
    .onDelete('cascade'),
  index('links_account_idx').on(t.accountId, t.createdAt),
]);

/** Single-use challenges for password links; deleted when answered or expired. */
export const linkChallenges = pgTable('link_challenges', {
  /** SHA-256 (hex) of the 32-byte challenge. */
  hash: text('hash').primaryKey(),
  linkId: text('link_id').notNull().references(() => links.id, { onDelete: 'cascade' }),
  expiresAt: ts('expires_at').notNull(),
}, (t) => [index('link_challenges_link_idx').on(t.linkId, t.expiresAt)]);

/** Access tokens handed out by a successful open; only their SHA-256 (hex) is stored. */
export const linkAccess = pgTable('link_access', {
  tokenHash: text('token_hash').primaryKey(),
  linkId: text('link_id').notNull().references(() => links.id, { onDelete: 'cascade' }),
  createdAt: ts('created_at').notNull().defaultNow(),
  expiresAt: ts('expires_at').notNull(),
}, (t) => [index('link_access_link_idx').on(t.linkId), index('link_access_expires_idx').on(t.expiresAt)]);
