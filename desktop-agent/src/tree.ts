// The remote tree as the CLI sees it: nodes fetched from the server, their keys unwrapped down
// from an anchor (the vault root for an account, the shared node for a link), paths resolved by
// name hash so no other child's metadata has to be decrypted.
import * as cc from '@coffer/crypto-core';
import type { Metadata, NodeKeys, Vault } from '@coffer/crypto-core';
import { CliError, IntegrityError, isIntegrityFailure, UsageError } from './errors.ts';
import type { Api } from './http.ts';

export interface RemoteNode {
  id: string;
  parentId: string | null;
  kind: 'file' | 'folder';
  nameHash: string;
  wrappedKey: string;
  metadata: string;
  version: number;
  size: number;
  createdAt?: string;
  updatedAt?: string;
  trashedAt?: string | null;
}

export interface VersionInfo {
  version: number;
  manifest: string;
  chunkIds: string[];
  createdAt?: string;
}

/** Where a tree's nodes and chunks come from: the account API or a share link's public API. */
export interface NodeSource {
  node(id: string): string;
  children(id: string, after: string | null): string;
  version(id: string, v: number): string;
  chunk(chunkId: string): string;
}

export const ACCOUNT_SOURCE: NodeSource = {
  node: (id) => `/api/nodes/${id}`,
  children: (id, after) => `/api/nodes/${id}/children?limit=1000${after ? `&after=${after}` : ''}`,
  version: (id, v) => `/api/nodes/${id}/versions/${v}`,
  chunk: (cid) => `/api/chunks/${cid}`,
};

export function linkSource(linkId: string): NodeSource {
  const base = `/api/public/links/${linkId}`;
  return {
    node: (id) => `${base}/nodes/${id}`,
    children: (id, after) => `${base}/nodes/${id}/children?limit=1000${after ? `&after=${after}` : ''}`,
    version: (id, v) => `${base}/nodes/${id}/versions/${v}`,
    chunk: (cid) => `${base}/chunks/${cid}`,
  };
}

export const b64 = cc.toBase64Url;
export const unb64 = cc.fromBase64Url;

/**
 * `name` as it is stored (NFC), or a usage error naming it and the rule (format §5.3), so that a
 * name the vault cannot hold is refused before any request, not reported as a failed check.
 */
export function checkName(name: string): string {
  try {
    return cc.validateName(name);
  } catch (err) {
    if ((err as { code?: string }).code !== 'METADATA_INVALID') throw err;
    const bytes = Buffer.byteLength(name.normalize('NFC'));
    const shown = name.length > 40 ? `${JSON.stringify(name.slice(0, 40)).slice(0, -1)}…" (${bytes} bytes)` : JSON.stringify(name);
    throw new UsageError(`${shown} is not a valid name: a name is 1 to 255 bytes of UTF-8, holds no "/" or NUL, and is not "." or ".."`);
  }
}

/** Splits a remote path into NFC-normalised names, each checked; "" and "/" are the anchor itself. */
export function splitPath(path: string): string[] {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) throw new CliError(`".." is not allowed in remote paths: ${path}`, 2);
  return parts.map(checkName);
}

export class Tree {
  private nodes = new Map<string, RemoteNode>();
  private keys = new Map<string, Promise<NodeKeys>>();
  private kids = new Map<string, RemoteNode[]>();

  constructor(
    readonly api: Api,
    readonly source: NodeSource,
    readonly vault: Vault | null,
    readonly anchorId: string,
    anchorKeys?: NodeKeys,
  ) {
    if (anchorKeys) this.keys.set(anchorId, Promise.resolve(anchorKeys));
  }

  async node(id: string, fresh = false): Promise<RemoteNode> {
    const cached = this.nodes.get(id);
    if (cached && !fresh) return cached;
    const n = await this.api.json<RemoteNode>('GET', this.source.node(id));
    this.nodes.set(id, n);
    return n;
  }

  /**
   * Records a node this client created or changed; a cached listing of its folder is updated in
   * place (not dropped: a folder put would otherwise list the folder again for every file).
   */
  remember(n: RemoteNode): void {
    this.nodes.set(n.id, n);
    const kids = n.parentId ? this.kids.get(n.parentId) : undefined;
    if (!kids) return;
    const i = kids.findIndex((k) => k.id === n.id);
    if (n.trashedAt) {
      if (i >= 0) kids.splice(i, 1);
    } else if (i >= 0) {
      kids[i] = n;
    } else {
      kids.push(n);
    }
  }

  forgetChildren(folderId: string): void {
    this.kids.delete(folderId);
  }

  keysOf(n: RemoteNode): Promise<NodeKeys> {
    let p = this.keys.get(n.id);
    if (!p) {
      p = (async () => {
        let parent: NodeKeys | null = null;
        if (n.id !== this.anchorId) {
          if (!n.parentId) throw new CliError(`node ${n.id} is outside the tree`);
          parent = await this.keysOf(await this.node(n.parentId));
        } else if (!this.vault) {
          throw new CliError('no key for the anchor node');
        }
        const secret = await guard(cc.unwrapNodeSecret(unb64(n.wrappedKey), n.id, parent, this.vault), `key of node ${n.id}`);
        return cc.nodeKeys(n.id, secret);
      })();
      this.keys.set(n.id, p);
      p.catch(() => this.keys.delete(n.id));
    }
    return p;
  }

  async meta(n: RemoteNode): Promise<Metadata> {
    return guard(cc.openMetadata(await this.keysOf(n), unb64(n.metadata)), `metadata of node ${n.id}`);
  }

  async children(folder: RemoteNode): Promise<RemoteNode[]> {
    const cached = this.kids.get(folder.id);
    if (cached) return cached;
    const all: RemoteNode[] = [];
    let after: string | null = null;
    do {
      const page: { items: RemoteNode[]; next: string | null } = await this.api.json('GET', this.source.children(folder.id, after));
      for (const item of page.items) {
        this.nodes.set(item.id, item);
        all.push(item);
      }
      after = page.next;
    } while (after);
    this.kids.set(folder.id, all);
    return all;
  }

  /** The live child of `folder` called `name`, or null. */
  async child(folder: RemoteNode, name: string): Promise<RemoteNode | null> {
    const hash = await cc.nameHash(await this.keysOf(folder), name);
    return (await this.children(folder)).find((c) => c.nameHash === hash) ?? null;
  }

  /** Resolves a path below the anchor; null when a component is missing. */
  async resolve(path: string | string[]): Promise<RemoteNode | null> {
    const names = typeof path === 'string' ? splitPath(path) : path;
    let cur = await this.node(this.anchorId);
    for (const name of names) {
      if (cur.kind !== 'folder') return null;
      const next = await this.child(cur, name);
      if (!next) return null;
      cur = next;
    }
    return cur;
  }

  async mustResolve(path: string): Promise<RemoteNode> {
    const n = await this.resolve(path);
    if (!n) throw new CliError(`no such file or folder: ${displayPath(path)}`, 1, 'NOT_FOUND');
    return n;
  }

  /** The path of a node from the anchor, "/"-joined, for display. */
  async pathOf(n: RemoteNode): Promise<string> {
    const names: string[] = [];
    let cur = n;
    while (cur.id !== this.anchorId) {
      names.unshift((await this.meta(cur)).name);
      if (!cur.parentId) break;
      cur = await this.node(cur.parentId);
    }
    return '/' + names.join('/');
  }

  async version(n: RemoteNode, v: number): Promise<VersionInfo> {
    return this.api.json<VersionInfo>('GET', this.source.version(n.id, v));
  }
}

export function displayPath(path: string): string {
  return '/' + splitPath(path).join('/');
}

/** Turns a crypto-core integrity failure into an IntegrityError naming what failed (exit 4). */
export async function guard<T>(p: Promise<T>, what: string): Promise<T> {
  try {
    return await p;
  } catch (err) {
    if (isIntegrityFailure(err)) throw new IntegrityError(`integrity check failed for ${what}: ${err.code}`);
    throw err;
  }
}
